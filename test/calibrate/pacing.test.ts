/** RunPacer: batches are cut into shorter onnxruntime runs only once runs prove slow (issue #12.5). */
import { describe, expect, it } from 'vitest';
import { RunPacer, canSlice, sliceBatch } from '../../src/calibrate/pacing.js';
import type { NormalizedBatch } from '../../src/core/tensor.js';

describe('RunPacer', () => {
  it('runs whole batches while a batch takes under twice the target, then slices of about the target', () => {
    const pacer = new RunPacer(500);
    expect(pacer.samplesPerRun(8192)).toBe(8192); // nothing measured yet
    pacer.record(32, 64); // 2 ms per sample: 32 samples take 64 ms
    expect(pacer.samplesPerRun(256)).toBe(256); // 512 ms <= 1,000 ms: whole
    expect(pacer.samplesPerRun(8192)).toBe(250); // 16 s: slices of 500 ms
    pacer.record(250, 100); // a faster run does not undo it: the slowest rate counts
    expect(pacer.samplesPerRun(8192)).toBe(250);
    pacer.record(1, 5_000); // one sample slower than the target: one sample per run
    expect(pacer.samplesPerRun(8192)).toBe(1);
  });

  it('slices views of every input along the sample dimension, only when every input has a dynamic batch dimension', () => {
    const image = Float32Array.from({ length: 5 * 4 }, (_, i) => i);
    const mask = Uint8Array.from({ length: 5 * 2 }, (_, i) => i);
    const batch: NormalizedBatch = new Map([
      ['image', { name: 'image', dtype: 'float32', shape: [5, 2, 2], data: image }],
      ['mask', { name: 'mask', dtype: 'uint8', shape: [5, 2], data: mask }],
    ]);
    const slice = sliceBatch(batch, 3, 2);
    expect(slice.get('image')!.shape).toEqual([2, 2, 2]);
    expect([...slice.get('image')!.data]).toEqual([12, 13, 14, 15, 16, 17, 18, 19]);
    expect([...slice.get('mask')!.data]).toEqual([6, 7, 8, 9]);
    const dynamic = [{ name: 'image', shape: [-1, 2, 2], dtype: 'float32' as const }, { name: 'mask', shape: [-1, 2], dtype: 'uint8' as const }];
    expect(canSlice(dynamic, batch, 5)).toBe(true);
    expect(canSlice([{ ...dynamic[0]!, shape: [5, 2, 2] }, dynamic[1]!], batch, 5)).toBe(false);
  });
});
