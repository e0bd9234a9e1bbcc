import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openNpyDataset, readLabels, resolveDataFiles } from '../../src/data/npy-dataset.js';
import type { Batch } from '../../src/core/batch.js';
import type { InputSpec } from '../../src/core/tensor.js';
import { TrtInt8Error } from '../../src/core/errors.js';
import { npyBytes, randomValues, tempDir } from './helpers.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const input: InputSpec = { name: 'x', shape: [-1, 2, 3], dtype: 'float32' };

async function collect(batches: AsyncIterable<Batch>): Promise<{ data: Float32Array; shape: readonly number[] }[]> {
  const out = [];
  for await (const batch of batches) out.push(batch.x as { data: Float32Array; shape: readonly number[] });
  return out;
}

async function rejection(promise: Promise<unknown>): Promise<TrtInt8Error> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(TrtInt8Error);
  return error as TrtInt8Error;
}

describe('openNpyDataset', () => {
  // Three files of 5, 7 and 4 samples (16 in all); sample k holds values derived from k only.
  const dir = tempDir();
  const all = randomValues(16 * 6, 11);
  const sizes = [5, 7, 4];
  let offset = 0;
  sizes.forEach((n, i) => {
    fs.writeFileSync(path.join(dir, `part${i + 1}.npy`), npyBytes(all.slice(offset * 6, (offset + n) * 6), [n, 2, 3]));
    offset += n;
  });
  // A file that is not array data in the same folder must be ignored.
  fs.writeFileSync(path.join(dir, 'README.txt'), 'not data');

  it('re-cuts a folder of chunks into batches across file boundaries, keeping order and values', async () => {
    const dataset = await openNpyDataset(dir, { inputs: [input], batchSize: 6 });
    expect(dataset.files.map((f) => path.basename(f))).toEqual(['part1.npy', 'part2.npy', 'part3.npy']);
    expect(dataset.batchCount).toBeUndefined();
    const batches = await collect(dataset);
    expect(batches.map((b) => b.shape)).toEqual([[6, 2, 3], [6, 2, 3], [4, 2, 3]]);
    const joined = new Float32Array(16 * 6);
    let at = 0;
    for (const b of batches) {
      expect(b.data).toBeInstanceOf(Float32Array);
      joined.set(b.data, at);
      at += b.data.length;
    }
    expect(Array.from(joined)).toEqual(Array.from(all));
    expect(dataset.droppedSamples).toBe(0);
  });

  it('applies --limit and drops the short last batch only for a fixed batch dimension', async () => {
    const limited = await collect(await openNpyDataset(dir, { inputs: [input], batchSize: 6, limit: 10 }));
    expect(limited.map((b) => b.shape[0])).toEqual([6, 4]);
    expect(Array.from(limited[1]!.data)).toEqual(Array.from(all.slice(36, 60)));

    const fixed = await openNpyDataset(dir, { inputs: [{ ...input, shape: [6, 2, 3] }], batchSize: 6 });
    expect((await collect(fixed)).map((b) => b.shape[0])).toEqual([6, 6]);
    expect(fixed.droppedSamples).toBe(4);
    const wrongBatch = await rejection(openNpyDataset(dir, { inputs: [{ ...input, shape: [8, 2, 3] }], batchSize: 6 }));
    expect(wrongBatch.code).toBe('ERR_BAD_OPTION');
    expect(wrongBatch.fixes.join(' ')).toContain('--batch 8');
  });

  it('reads list files (relative paths) and single-sample files, and knows the batch count of one file', async () => {
    const listDir = tempDir();
    for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(listDir, `s${i}.npy`), npyBytes(all.slice(i * 6, i * 6 + 6), [2, 3]));
    fs.writeFileSync(path.join(listDir, 'list.txt'), '# samples\ns2.npy\n\ns0.npy\n');
    const batches = await collect(await openNpyDataset(path.join(listDir, 'list.txt'), { inputs: [input], batchSize: 4 }));
    expect(batches.map((b) => b.shape)).toEqual([[2, 2, 3]]);
    expect(Array.from(batches[0]!.data)).toEqual([...all.slice(12, 18), ...all.slice(0, 6)]);

    const single = await openNpyDataset(path.join(dir, 'part2.npy'), { inputs: [input], batchSize: 3 });
    expect(single.batchCount).toBe(3);
    expect((await collect(single)).length).toBe(3);
  });

  it('feeds multi-input models from .npz by name and converts float64 to float32', async () => {
    const inputs: InputSpec[] = [
      { name: 'images', shape: [-1, 3, 4], dtype: 'float32' },
      { name: 'labels', shape: [-1], dtype: 'int64' },
    ];
    // fixtures/stored.npz: images = arange(24).reshape(2,3,4) * 0.5 - 3 (float32), labels = [0, 1] (int64).
    const dataset = await openNpyDataset(path.join(fixtures, 'stored.npz'), { inputs, batchSize: 1 });
    const batches: Batch[] = [];
    for await (const b of dataset) batches.push(b);
    expect(batches.length).toBe(2);
    const second = batches[1]!.labels as { data: BigInt64Array; shape: number[] };
    expect(Array.from(second.data)).toEqual([1n]);
    expect(second.shape).toEqual([1]);
    const images = batches[1]!.images as { data: Float32Array; shape: number[] };
    expect(Array.from(images.data)).toEqual(Array.from({ length: 12 }, (_, i) => (i + 12) * 0.5 - 3));

    const f8 = await openNpyDataset(path.join(fixtures, 'f8.npy'), { inputs: [{ name: 'x', shape: [-1, 3, 4], dtype: 'float32' }], batchSize: 2 });
    const [batch] = await collect(f8);
    expect(batch!.data).toBeInstanceOf(Float32Array);
    expect(Array.from(batch!.data)).toEqual(Array.from({ length: 24 }, (_, i) => i * 0.25 - 1));
  });

  it('names the file and input on bad data', async () => {
    const rank = await rejection(openNpyDataset(path.join(fixtures, 'f4.npy'), { inputs: [{ name: 'x', shape: [-1, 3, 4, 5, 6], dtype: 'float32' }], batchSize: 2 }));
    expect(rank.code).toBe('ERR_BAD_BATCH');
    expect(rank.input).toBe(`${path.join(fixtures, 'f4.npy')}:x`);
    const inputs: InputSpec[] = [{ name: 'images', shape: [-1, 3, 4], dtype: 'float32' }];
    const extra = await rejection(openNpyDataset(path.join(fixtures, 'stored.npz'), { inputs: [...inputs, { name: 'mask', shape: [-1, 3, 4], dtype: 'float32' }], batchSize: 1 }));
    expect(extra.code).toBe('ERR_BAD_BATCH');
    expect(extra.input).toBe(`${path.join(fixtures, 'stored.npz')}:labels`);
    const npyForTwoInputs = await rejection(openNpyDataset(path.join(fixtures, 'f4.npy'), { inputs: [...inputs, { name: 'b', shape: [-1], dtype: 'float32' }], batchSize: 1 }));
    expect(npyForTwoInputs.code).toBe('ERR_BAD_OPTION');
    const missing = await rejection(openNpyDataset(path.join(dir, 'nope'), { inputs: [input], batchSize: 1 }));
    expect(missing.code).toBe('ERR_IO');
    const empty = await rejection(resolveDataFiles(tempDir()));
    expect(empty.code).toBe('ERR_EMPTY_DATASET');
    const badBatch = await rejection(openNpyDataset(dir, { inputs: [input], batchSize: 0 }));
    expect(badBatch.input).toBe('batchSize');
  });
});

describe('readLabels', () => {
  it('reads integer vectors and rejects floats and matrices', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'l.npy'), npyBytes(BigInt64Array.from([3n, 1n, 4n]), [3]));
    fs.writeFileSync(path.join(dir, 'col.npy'), npyBytes(Int32Array.from([2, 7]), [2, 1]));
    fs.writeFileSync(path.join(dir, 'f.npy'), npyBytes(Float32Array.from([1, 2]), [2]));
    expect(Array.from(await readLabels(path.join(dir, 'l.npy')))).toEqual([3, 1, 4]);
    expect(Array.from(await readLabels(path.join(dir, 'col.npy')))).toEqual([2, 7]);
    expect((await rejection(readLabels(path.join(dir, 'f.npy')))).fixes.join(' ')).toMatch(/astype/);
    expect((await rejection(readLabels(path.join(fixtures, 'f4.npy')))).expected).toBe('shape [N] or [N, 1]');
  });
});
