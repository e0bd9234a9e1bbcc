import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { calibrate } from '../../src/calibrate/index.js';
import { calibratorFromBatches } from '../../src/calibrators/index.js';
import { type Batch } from '../../src/core/batch.js';
import { ImageCalibrator, createImageCalibrator, decodeImage } from '../../src/images/index.js';
import { TrtInt8Error } from '../../src/core/errors.js';
import { smallCnn } from '../calibrate/helpers.js';
import { pngBytes, tempDir } from '../data/helpers.js';

/** 10 PNGs of 8x8 (the small CNN's [N, 1, 8, 8] input) with distinct contents, plus one broken file. */
function imageFolder(): { dir: string; files: string[] } {
  const dir = tempDir('trt-int8-images-');
  const files = Array.from({ length: 10 }, (_, k) => {
    const file = path.join(dir, `img-${k}.png`);
    fs.writeFileSync(file, pngBytes(8, 8, 20 * k + 5));
    return file;
  });
  fs.writeFileSync(path.join(dir, 'img-99.png'), 'broken');
  return { dir, files };
}

/** The small CNN's input computed here by hand: gray = 0.299 R + 0.587 G + 0.114 B, then (p / 255 - 0.5) / 0.25. */
function handBatches(files: readonly string[], batchSize: number): Batch[] {
  const samples = files.map((f) => {
    const { rgba } = decodeImage(fs.readFileSync(f));
    return Float32Array.from({ length: 64 }, (_, i) => ((0.299 * rgba[i * 4]! + 0.587 * rgba[i * 4 + 1]! + 0.114 * rgba[i * 4 + 2]!) / 255 - 0.5) / 0.25);
  });
  const batches: Batch[] = [];
  for (let at = 0; at < samples.length; at += batchSize) {
    const chunk = samples.slice(at, at + batchSize);
    while (chunk.length < batchSize) chunk.push(chunk[chunk.length - 1]!); // pad-last
    const data = new Float32Array(batchSize * 64);
    chunk.forEach((s, i) => data.set(s, i * 64));
    batches.push({ input: { data, shape: [batchSize, 1, 8, 8] } });
  }
  return batches;
}

describe('ImageCalibrator', () => {
  const preprocess = { width: 8, height: 8, channels: 'gray', mean: 0.5, std: 0.25 } as const;

  it('calibrates through calibrate() exactly like hand-made batches of the same pixels', async () => {
    const { dir, files } = imageFolder();
    const calibrator = await ImageCalibrator.create({ data: dir, preprocess, batchSize: 4, remainder: 'pad-last', algorithm: 'minmax', cachePath: path.join(dir, 'model.cache') });
    expect(calibrator.batchCount).toBe(3); // 11 files found; the broken one is only known when read
    expect(calibrator.algorithm.kind).toBe('minmax');
    const result = await calibrate(smallCnn(), calibrator, { numBins: 256 });
    expect(calibrator.report).toMatchObject({ used: 10, padded: 2, dropped: 0 });
    expect(calibrator.report.skipped.map((s) => path.basename(s.path))).toEqual(['img-99.png']);
    expect(result.summary.batches).toBe(3);
    expect(fs.existsSync(path.join(dir, 'model.cache'))).toBe(true);

    const reference = await calibrate(smallCnn(), calibratorFromBatches(handBatches(files, 4), { algorithm: 'minmax' }), { numBins: 256 });
    expect(result.tensors.size).toBe(reference.tensors.size);
    for (const [name, tensor] of reference.tensors) {
      expect(result.tensors.get(name)?.amax, name).toBeCloseTo(tensor.amax, 5);
    }
  });

  it('takes a shuffled, limited list file and any algorithm; drop keeps full batches only', async () => {
    const { dir, files } = imageFolder();
    fs.writeFileSync(path.join(dir, 'list.txt'), files.map((f) => path.basename(f)).join('\n'));
    const calibrator = await createImageCalibrator({
      data: path.join(dir, 'list.txt'),
      preprocess,
      batchSize: 3,
      limit: 8,
      shuffle: { seed: 5 },
      algorithm: { kind: 'percentile', percentile: 99.9 },
    });
    expect(calibrator.batchCount).toBe(2);
    const result = await calibrate(smallCnn(), calibrator, { numBins: 128 });
    expect(result.algorithm).toEqual({ kind: 'percentile', percentile: 99.9 });
    expect(result.summary.samples).toBe(6);
    expect(calibrator.report).toMatchObject({ used: 6, dropped: 2, padded: 0 });
  });

  it('fails loudly on a preprocessor that does not fit the model, on an empty folder and on bad options', async () => {
    const { dir } = imageFolder();
    const wrongSize = await ImageCalibrator.create({ data: dir, preprocess: { ...preprocess, width: 9 }, batchSize: 2 });
    const error = await calibrate(smallCnn(), wrongSize).then(() => undefined, (e: unknown) => e as TrtInt8Error);
    expect(error?.code).toBe('ERR_BAD_BATCH');
    expect(error?.input).toBe('input');

    await expect(ImageCalibrator.create({ data: tempDir(), preprocess, batchSize: 2 })).rejects.toMatchObject({ code: 'ERR_EMPTY_DATASET' });
    await expect(ImageCalibrator.create({ data: dir, preprocess, batchSize: 20 })).rejects.toMatchObject({ code: 'ERR_EMPTY_DATASET' });
    await expect(ImageCalibrator.create({ data: dir, preprocess, batchSize: 0 })).rejects.toMatchObject({ code: 'ERR_BAD_OPTION', input: 'batchSize' });
    await expect(ImageCalibrator.create({ data: dir, preprocess: { ...preprocess, channels: 'cmyk' as never }, batchSize: 2 })).rejects.toMatchObject({ input: 'channels' });
  });
});
