/** Test data for datasets: temp folders of one-sample .npy files and PNGs whose values identify them. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { npyBytes } from '../calibrate/helpers.js';

export function tempDir(prefix = 'trt-int8-data-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Writes `sample-<k>.npy` holding [k, k + 0.5] (shape [2]) for each k; returns the paths. */
export function writeNpySamples(dir: string, ids: readonly number[], name = (k: number) => `sample-${k}.npy`): string[] {
  return ids.map((k) => {
    const file = path.join(dir, name(k));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, npyBytes(Float32Array.from([k, k + 0.5]), [2]));
    return file;
  });
}

/** A width x height RGB PNG whose pixel (x, y) is (value, (x * 16 + y) % 256, 255 - value). */
export function pngBytes(width: number, height: number, value: number): Buffer {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      png.data[i] = value;
      png.data[i + 1] = (x * 16 + y) % 256;
      png.data[i + 2] = 255 - value;
      png.data[i + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

/** The first element of every sample of every batch: the sample ids, in the order used. */
export function firstValues(batches: readonly { data: ArrayLike<number>; shape: readonly number[] }[]): number[] {
  return batches.flatMap((b) => {
    const per = b.data.length / b.shape[0]!;
    return Array.from({ length: b.shape[0]! }, (_, i) => b.data[i * per]!);
  });
}
