/** `trt-int8 calibrate` / `evaluate` with --image-size: image folders and list files from the command line. */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { runCalibrateCommand } from '../../src/cli/calibrate.js';
import { runEvaluateCommand } from '../../src/cli/evaluate.js';
import { parseCalibrationCache } from '../../src/cache/index.js';
import { calibrate } from '../../src/calibrate/index.js';
import { ImageCalibrator } from '../../src/images/index.js';
import { smallCnn } from '../calibrate/helpers.js';
import { pngBytes, tempDir } from '../data/helpers.js';

function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) }, out, err };
}
const notTty = { isTTY: false, write: () => true };

describe('trt-int8 calibrate --image-size', () => {
  const dir = tempDir('trt-int8-image-cli-');
  const modelPath = path.join(dir, 'model.onnx');
  fs.writeFileSync(modelPath, smallCnn());
  const images = path.join(dir, 'images');
  fs.mkdirSync(path.join(images, 'more'), { recursive: true });
  for (let k = 0; k < 9; k++) fs.writeFileSync(path.join(images, k < 5 ? '' : 'more', `${k}.png`), pngBytes(12, 10, 25 * k));
  fs.writeFileSync(path.join(images, 'broken.jpg'), 'not a jpeg');

  it('calibrates an image folder with the same ranges as the API, and reports the skipped file', async () => {
    const { io, out, err } = captureIo();
    const cache = path.join(dir, 'cli.cache');
    const args = [modelPath, '--data', images, '--image-size', '8x8', '--channels', 'gray', '--resize', 'center-crop', '--scale', '1/127.5', '--mean', '1', '--batch', '4', '--algorithm', 'minmax', '--seed', '3', '--cache', cache];
    expect(await runCalibrateCommand(args, io, notTty)).toBe(0);
    expect(out[0]).toMatch(/on 9 samples in 3 batches/);
    expect(err.join('\n')).toMatch(/data: 9 image\(s\) used, 1 skipped/);
    expect(err.join('\n')).toContain(`skipped ${path.join(images, 'broken.jpg')}: ERR_BAD_BATCH`);

    const calibrator = await ImageCalibrator.create({
      data: images,
      preprocess: { width: 8, height: 8, channels: 'gray', resize: 'center-crop', scale: 1 / 127.5, mean: 1 },
      batchSize: 4,
      remainder: 'keep',
      algorithm: 'minmax',
      shuffle: { seed: 3 },
    });
    const api = await calibrate(modelPath, calibrator);
    const parsed = parseCalibrationCache(fs.readFileSync(cache, 'utf8'));
    for (const [name, tensor] of api.tensors) {
      const scale = parsed.scales.get(name);
      expect(scale, name).toBeDefined();
      expect(scale! * 127).toBeCloseTo(tensor.amax, 5);
    }
  });

  it('evaluates on images, and rejects image flags without --image-size or a bad size', async () => {
    const { io, out } = captureIo();
    expect(await runEvaluateCommand([modelPath, modelPath, '--data', images, '--image-size', '8x8', '--channels', 'gray', '--batch', '4'], io, notTty)).toBe(0);
    expect(out.join('\n')).toMatch(/samples: 9/);
    expect(out.join('\n')).toMatch(/top-1 agreement: 100\.00%/);

    for (const extra of [['--mean', '0.5'], ['--image-size', '8by8'], ['--image-size', '8x8', '--scale', 'big'], ['--strict']]) {
      const usage = captureIo();
      expect(await runCalibrateCommand([modelPath, '--data', images, ...extra], usage.io, notTty), extra.join(' ')).toBe(2);
    }
    const strict = captureIo();
    expect(await runCalibrateCommand([modelPath, '--data', images, '--image-size', '8x8', '--channels', 'gray', '--strict', '--json', path.join(dir, 'strict.json')], strict.io, notTty)).toBe(1);
    expect(strict.err.join('\n')).toMatch(/ERR_BAD_BATCH.*broken\.jpg/);
    const wrongChannels = captureIo();
    expect(await runCalibrateCommand([modelPath, '--data', images, '--image-size', '8x8', '--channels', 'cmyk'], wrongChannels.io, notTty)).toBe(2); // a command-line mistake
    expect(wrongChannels.err.join('\n')).toMatch(/ERR_BAD_OPTION/);
  });
});
