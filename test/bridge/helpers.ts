import { EntropyCalibrator2 } from '../../src/calibrators/calibrator.js';
import type { Batch, BatchContext } from '../../src/core/batch.js';
import type { InputSpec } from '../../src/core/tensor.js';

export const INPUTS: readonly InputSpec[] = [
  { name: 'images', shape: [2, 3, 8, 8], dtype: 'float32' },
  { name: 'mask', shape: [2, 5], dtype: 'int32' },
];

/** Deterministic pseudo-random batch number `index` (xorshift), different for every index and input. */
export function makeBatch(index: number, inputs: readonly InputSpec[] = INPUTS): Record<string, Float32Array | Int32Array> {
  let state = (index + 1) * 2654435761;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  const batch: Record<string, Float32Array | Int32Array> = {};
  for (const spec of inputs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.dtype === 'float32') batch[spec.name] = Float32Array.from({ length: count }, () => next() / 2 ** 32 - 0.5);
    else batch[spec.name] = Int32Array.from({ length: count }, () => next() | 0);
  }
  return batch;
}

type GetBatch = (ctx: BatchContext) => Batch | null | Promise<Batch | null>;

/** A real EntropyCalibrator2 subclass whose getBatch (and optionally cache) the test supplies. */
export class TestCalibrator extends EntropyCalibrator2 {
  written: Uint8Array[] = [];
  calls = 0;
  constructor(
    private readonly get: GetBatch,
    private readonly cache: Uint8Array | null = null,
  ) {
    super();
  }
  getBatch(ctx: BatchContext): Batch | null | Promise<Batch | null> {
    this.calls++;
    return this.get(ctx);
  }
  override async readCache(): Promise<Uint8Array | null> {
    return this.cache;
  }
  override async writeCache(bytes: Uint8Array): Promise<void> {
    this.written.push(bytes);
  }
}

export function driverInputs(inputs: readonly InputSpec[] = INPUTS): { name: string; byteLength: number }[] {
  return inputs.map((spec) => ({ name: spec.name, byteLength: spec.shape.reduce((a, b) => a * b, 1) * 4 }));
}
