import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { openDataset, seededShuffle, type Dataset, type DatasetItem, type SampleTensor } from '../../src/data/index.js';
import { createImagePreprocessor } from '../../src/images/index.js';
import { TrtInt8Error } from '../../src/core/errors.js';
import { shuffledIndices } from '../../examples/fashion-mnist/dataset.js';
import { npyBytes } from '../calibrate/helpers.js';
import { firstValues, pngBytes, tempDir, writeNpySamples } from './helpers.js';

type Tensor = { data: Float32Array; shape: readonly number[] };

async function batchesOf(dataset: Dataset, batchSize: number, remainder?: 'drop' | 'pad-last' | 'keep', signal?: AbortSignal): Promise<Tensor[]> {
  const out: Tensor[] = [];
  for await (const batch of dataset.batches({ batchSize, remainder, inputName: 'x', signal })) out.push(batch.x as Tensor);
  return out;
}

async function rejection(promise: Promise<unknown>): Promise<TrtInt8Error> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(TrtInt8Error);
  return error as TrtInt8Error;
}

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => i + from);

describe('openDataset sources', () => {
  it('reads a list file: relative paths, blank lines and # comments; a missing entry is skipped with a reason', async () => {
    const dir = tempDir();
    writeNpySamples(dir, [0, 1, 2], (k) => `sub/s${k}.npy`);
    fs.writeFileSync(path.join(dir, 'list.txt'), '# calibration set\nsub/s2.npy\n\n  sub/s0.npy  \nsub/gone.npy\n# end\nsub/s1.npy\n');
    const dataset = await openDataset(path.join(dir, 'list.txt'));
    expect(dataset.size).toBe(3);
    expect(dataset.report.skipped).toEqual([{ path: path.join(dir, 'sub/gone.npy'), reason: expect.stringContaining('ENOENT') }]);
    const batches = await batchesOf(dataset, 3);
    expect(batches.map((b) => b.shape)).toEqual([[3, 2]]);
    expect(Array.from(batches[0]!.data)).toEqual([2, 2.5, 0, 0.5, 1, 1.5]);
    expect(dataset.report).toMatchObject({ used: 3, padded: 0, dropped: 0 });

    const strict = await rejection(openDataset(path.join(dir, 'list.txt'), { strict: true }));
    expect(strict.code).toBe('ERR_IO');
    expect(strict.input).toBe(path.join(dir, 'sub/gone.npy'));
  });

  it('walks a folder recursively in numeric order, filtered by extension', async () => {
    const dir = tempDir();
    writeNpySamples(dir, [10, 2, 1], (k) => `img${k}.npy`);
    writeNpySamples(dir, [30], (k) => `nested/deeper/z${k}.npy`);
    fs.writeFileSync(path.join(dir, 'README.md'), 'not data');
    const dataset = await openDataset(dir);
    expect(dataset.size).toBe(4);
    expect(firstValues(await batchesOf(dataset, 1))).toEqual([1, 2, 10, 30]);
    expect(dataset.report.skipped).toEqual([]);
    const onlyPng = await rejection(openDataset(dir, { extensions: ['.png'] }));
    expect(onlyPng.code).toBe('ERR_EMPTY_DATASET');
    expect((await rejection(openDataset(tempDir()))).code).toBe('ERR_EMPTY_DATASET');
    expect((await rejection(openDataset(path.join(dir, 'nope')))).code).toBe('ERR_IO');
  });

  it('splits a .npy array along its first dimension and a .npz into named inputs', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'all.npy');
    fs.writeFileSync(file, npyBytes(Float32Array.from(range(12)), [4, 3]));
    const dataset = await openDataset(file);
    expect(dataset.size).toBe(4);
    const batches = await batchesOf(dataset, 2);
    expect(batches.map((b) => Array.from(b.data))).toEqual([range(6), range(6, 6)]);
    expect(batches[0]!.shape).toEqual([2, 3]);
  });

  it('takes arrays, generators and async generators of samples, or of file paths', async () => {
    const sample = (k: number): SampleTensor => ({ data: Float32Array.from([k, -k]), shape: [2] });
    expect(firstValues(await batchesOf(await openDataset(range(5).map(sample)), 2, 'keep'))).toEqual(range(5));
    function* gen() {
      for (const k of range(4)) yield sample(k);
    }
    const fromGenerator = await openDataset(gen());
    expect(fromGenerator.size).toBeUndefined();
    expect(firstValues(await batchesOf(fromGenerator, 2))).toEqual(range(4));
    const files = writeNpySamples(tempDir(), [7, 8, 9]);
    async function* paths() {
      for (const f of files) yield f;
    }
    expect(firstValues(await batchesOf(await openDataset(paths()), 3))).toEqual([7, 8, 9]);
    // Multi-input samples: one record per sample.
    const multi = await openDataset([0, 1].map((k) => ({ a: sample(k), b: { data: Int32Array.from([k]), shape: [1] } })));
    const [batch] = await (async () => {
      const out = [];
      for await (const b of multi.batches({ batchSize: 2 })) out.push(b);
      return out;
    })();
    expect(Array.from((batch!.b as SampleTensor).data as Int32Array)).toEqual([0, 1]);
    expect((batch!.a as SampleTensor).shape).toEqual([2, 2]);
  });

  it("reads files of several samples (samplesPerFile: 'many'), counting the limit in samples", async () => {
    const files = writeNpySamples(tempDir(), [0, 1, 2]);
    const decodeFile = async (file: string) => {
      const k = Number(/sample-(\d+)/.exec(file)![1]);
      return { rows: 3, row: (i: number) => ({ data: Float32Array.from([10 * k + i]), shape: [1] }) };
    };
    const dataset = await openDataset(files, { decodeFile, samplesPerFile: 'many', limit: 7 });
    expect(dataset.size).toBeUndefined();
    expect(firstValues(await batchesOf(dataset, 2, 'keep'))).toEqual([0, 1, 2, 10, 11, 12, 20]);
    const ids: string[] = [];
    for await (const s of (await openDataset(files.slice(0, 1), { decodeFile, samplesPerFile: 'many' })).samples()) ids.push(s.id);
    expect(ids).toEqual([0, 1, 2].map((i) => `${files[0]}#${i}`));
  });

  it('rejects items that are not samples, and a shuffle of a stream, naming them', async () => {
    const bad = await rejection(batchesOf(await openDataset([{ data: Float32Array.from([1]), shape: [1] }, { nope: 1 }] as unknown as DatasetItem[]), 1));
    expect(bad.code).toBe('ERR_BAD_BATCH');
    expect(bad.input).toBe('#1');
    function* gen() {
      yield { data: Float32Array.from([1]), shape: [1] };
    }
    const shuffleStream = await rejection(openDataset(gen(), { shuffle: { seed: 1 } }));
    expect(shuffleStream.code).toBe('ERR_BAD_OPTION');
    expect(shuffleStream.input).toBe('shuffle');
    expect((await rejection(openDataset([]))).code).toBe('ERR_EMPTY_DATASET');
    expect((await rejection(openDataset(42 as never))).input).toBe('source');
  });
});

describe('order, limit and remainder', () => {
  const dir = tempDir();
  writeNpySamples(dir, range(10));

  it('shuffles deterministically with a seed: mulberry32 Fisher-Yates, the same order as the Fashion-MNIST example', async () => {
    const a = firstValues(await batchesOf(await openDataset(dir, { shuffle: { seed: 7 } }), 1));
    const again = firstValues(await batchesOf(await openDataset(dir, { shuffle: { seed: 7 } }), 1));
    const other = firstValues(await batchesOf(await openDataset(dir, { shuffle: { seed: 8 } }), 1));
    expect(again).toEqual(a);
    expect(other).not.toEqual(a);
    expect([...a].sort((x, y) => x - y)).toEqual(range(10));
    expect(a).not.toEqual(range(10));
    // Independent implementation, itself checked against fashion_mnist.py (numpy) by the example's tests.
    expect(a).toEqual(Array.from(shuffledIndices(10, 7)));
    expect(seededShuffle(range(1000), 0)).toEqual(Array.from(shuffledIndices(1000, 0)));
    expect(firstValues(await batchesOf(await openDataset(dir, { shuffle: true }), 1))).toEqual(Array.from(shuffledIndices(10, 0)));
  });

  it('limits the samples used (after the shuffle) and knows the batch count', async () => {
    const dataset = await openDataset(dir, { limit: 7, shuffle: { seed: 3 } });
    expect(dataset.size).toBe(7);
    expect(dataset.batchCount(3)).toBe(2);
    expect(dataset.batchCount(3, 'pad-last')).toBe(3);
    const used = firstValues(await batchesOf(dataset, 3, 'keep'));
    expect(used).toEqual(Array.from(shuffledIndices(10, 3)).slice(0, 7));
  });

  it('drops, pads with the last sample, or keeps the remainder, and counts it', async () => {
    const drop = await openDataset(dir);
    const dropped = await batchesOf(drop, 4);
    expect(dropped.map((b) => b.shape[0])).toEqual([4, 4]);
    expect(drop.report).toMatchObject({ used: 8, dropped: 2, padded: 0 });

    const pad = await openDataset(dir);
    const padded = await batchesOf(pad, 4, 'pad-last');
    expect(padded.map((b) => b.shape[0])).toEqual([4, 4, 4]);
    expect(firstValues(padded)).toEqual([...range(10), 9, 9]);
    expect(Array.from(padded[2]!.data)).toEqual([8, 8.5, 9, 9.5, 9, 9.5, 9, 9.5]);
    expect(pad.report).toMatchObject({ used: 10, dropped: 0, padded: 2 });

    const keep = await openDataset(dir);
    expect((await batchesOf(keep, 4, 'keep')).map((b) => b.shape)).toEqual([[4, 2], [4, 2], [2, 2]]);
    expect(keep.report).toMatchObject({ used: 10, dropped: 0, padded: 0 });

    const tooFew = await rejection(batchesOf(await openDataset(dir), 11));
    expect(tooFew.code).toBe('ERR_EMPTY_DATASET');
    expect(tooFew.fixes.join(' ')).toContain('pad-last');
    expect((await rejection(batchesOf(drop, 0))).input).toBe('batchSize');
    expect((await rejection(batchesOf(drop, 2, 'wrap' as never))).input).toBe('remainder');
  });

  it('stops at an aborted signal with its reason', async () => {
    const controller = new AbortController();
    const dataset = await openDataset(dir);
    const seen: number[] = [];
    const error = await (async () => {
      try {
        for await (const batch of dataset.batches({ batchSize: 2, inputName: 'x', signal: controller.signal })) {
          seen.push(...firstValues([batch.x as Tensor]));
          controller.abort(new Error('user stop'));
        }
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.message).toBe('user stop');
    expect(seen).toEqual([0, 1]);
  });

  it('streams: reads only the files the batches asked for need', async () => {
    const reads: string[] = [];
    const dataset = await openDataset(dir, {
      decodeFile: async (file) => {
        reads.push(path.basename(file));
        return { data: Float32Array.from([reads.length]), shape: [1] };
      },
      extensions: ['.npy'],
    });
    const iterator = dataset.batches({ batchSize: 3 });
    await iterator.next();
    expect(reads.length).toBe(3);
    await iterator.return(undefined);
    expect(reads.length).toBe(3);
  });
});

describe('bad files', () => {
  function folderWithBadFiles(): { dir: string; good: string[]; bad: { notImage: string; truncated: string; empty: string; dangling: string } } {
    const dir = tempDir();
    const good = ['a.png', 'b.png', 'c.jpg'].map((name, i) => {
      fs.writeFileSync(path.join(dir, name), pngBytes(4, 4, 40 * (i + 1))); // c.jpg: a PNG named .jpg decodes by signature
      return path.join(dir, name);
    });
    const bad = {
      notImage: path.join(dir, 'd-notes.png'),
      truncated: path.join(dir, 'e-cut.png'),
      empty: path.join(dir, 'f-empty.jpeg'),
      dangling: path.join(dir, 'g-link.png'),
    };
    fs.writeFileSync(bad.notImage, 'these are notes, not pixels');
    fs.writeFileSync(bad.truncated, pngBytes(4, 4, 1).subarray(0, 40));
    fs.writeFileSync(bad.empty, '');
    fs.symlinkSync(path.join(dir, 'missing-target.png'), bad.dangling);
    return { dir, good, bad };
  }
  const preprocess = createImagePreprocessor({ width: 2, height: 2, channels: 'gray', scale: 1 });

  it('skips non-images, truncated, empty and unreadable files with reasons', async () => {
    const { dir, bad } = folderWithBadFiles();
    const dataset = await openDataset(dir, { decodeFile: preprocess });
    expect(dataset.size).toBe(7);
    const batches = await batchesOf(dataset, 3);
    expect(batches.length).toBe(1);
    const reasons = Object.fromEntries(dataset.report.skipped.map((s) => [s.path, s.reason]));
    expect(Object.keys(reasons).sort()).toEqual(Object.values(bad).sort());
    expect(reasons[bad.notImage]).toMatch(/^ERR_BAD_BATCH: .*not a JPEG or PNG/);
    expect(reasons[bad.truncated]).toMatch(/^ERR_BAD_BATCH: .*cannot be decoded/);
    expect(reasons[bad.empty]).toMatch(/empty file|not a JPEG or PNG/);
    expect(reasons[bad.dangling]).toMatch(/^ERR_IO: .*ENOENT/);
    expect(dataset.report).toMatchObject({ used: 3, padded: 0, dropped: 0 });
  });

  it('fails on the first bad file under strict: true, naming it', async () => {
    const { dir, bad } = folderWithBadFiles();
    const error = await rejection(batchesOf(await openDataset(dir, { decodeFile: preprocess, strict: true }), 1));
    expect(error.code).toBe('ERR_BAD_BATCH');
    expect(error.input).toBe(bad.notImage);
    const onlyLink = tempDir();
    fs.symlinkSync(path.join(onlyLink, 'nowhere.png'), path.join(onlyLink, 'x.png'));
    const io = await rejection(batchesOf(await openDataset(onlyLink, { decodeFile: preprocess, strict: true }), 1));
    expect(io.code).toBe('ERR_IO');
    expect(io.input).toBe(path.join(onlyLink, 'x.png'));
  });

  it('is ERR_EMPTY_DATASET when nothing usable is left, listing why', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'a.png'), 'nope');
    fs.writeFileSync(path.join(dir, 'b.png'), 'nope either');
    const error = await rejection(batchesOf(await openDataset(dir, { decodeFile: preprocess }), 1, 'keep'));
    expect(error.code).toBe('ERR_EMPTY_DATASET');
    expect(String(error.actual)).toContain(path.join(dir, 'a.png'));
    expect((error.details.skipped as unknown[]).length).toBe(2);
  });

  it('skips a sample whose shape differs from the first (strict: fails naming it)', async () => {
    const dir = tempDir();
    writeNpySamples(dir, [0, 1, 3]);
    fs.writeFileSync(path.join(dir, 'sample-2.npy'), npyBytes(Float32Array.from([1, 2, 3]), [3]));
    const dataset = await openDataset(dir);
    expect(firstValues(await batchesOf(dataset, 3))).toEqual([0, 1, 3]);
    expect(dataset.report.skipped).toEqual([{ path: path.join(dir, 'sample-2.npy'), reason: expect.stringContaining('differs from the first sample') }]);
    const strict = await rejection(batchesOf(await openDataset(dir, { strict: true }), 3));
    expect(strict.input).toBe(path.join(dir, 'sample-2.npy'));
  });

  it('validates its options', async () => {
    const dir = tempDir();
    writeNpySamples(dir, [0]);
    for (const [options, input] of [
      [{ limit: 0 }, 'limit'],
      [{ shuffle: { seed: 1.5 } }, 'shuffle'],
      [{ extensions: ['png'] }, 'extensions'],
      [{ strict: 'yes' }, 'strict'],
      [{ decodeFile: 'sharp' }, 'decodeFile'],
    ] as const) {
      const error = await rejection(openDataset(dir, options as never));
      expect(error.code).toBe('ERR_BAD_OPTION');
      expect(error.input).toBe(input);
    }
  });
});
