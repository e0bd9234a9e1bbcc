import { describe, expect, it } from 'vitest';
import { calibratorFromBatches, nextValidatedBatch } from '../../src/calibrators/index.js';
import { type Batch, type BatchContext } from '../../src/core/batch.js';
import { type InputSpec } from '../../src/core/tensor.js';
import { isTrtInt8Error } from '../../src/core/errors.js';

const INPUTS: readonly InputSpec[] = [{ name: 'x', shape: [1, 2], dtype: 'float32' }];
const ctx = (batchIndex: number, signal = new AbortController().signal): BatchContext => ({ inputs: INPUTS, batchIndex, signal });

async function drain(calibrator: ReturnType<typeof calibratorFromBatches>, signal?: AbortSignal): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; ; i++) {
    const batch = await nextValidatedBatch(calibrator, ctx(i, signal));
    if (!batch) return out;
    out.push(Array.from(batch.get('x')!.data as Float32Array));
  }
}

describe('calibratorFromBatches', () => {
  it('iterates an array, with its length as batchCount', async () => {
    const c = calibratorFromBatches([{ x: new Float32Array([1, 2]) }, { x: new Float32Array([3, 4]) }]);
    expect(c.algorithm).toEqual({ kind: 'auto' }); // the default algorithm
    expect(c.batchCount).toBe(2);
    expect(await drain(c)).toEqual([[1, 2], [3, 4]]);
    expect(await c.getBatch(ctx(5))).toBeNull(); // stays at the end
  });

  it('pulls from a generator lazily, one batch per call', async () => {
    const pulled: number[] = [];
    function* gen(): Generator<Batch> {
      for (let i = 0; i < 3; i++) {
        pulled.push(i);
        yield { x: new Float32Array([i, i]) };
      }
    }
    const c = calibratorFromBatches(gen(), { algorithm: 'minmax' });
    expect(pulled).toEqual([]);
    await c.getBatch(ctx(0));
    expect(pulled).toEqual([0]);
    expect(await drain(c)).toEqual([[1, 1], [2, 2]]);
    expect(c.algorithm).toEqual({ kind: 'minmax' });
  });

  it('reads an async iterable and fills algorithm parameters', async () => {
    async function* gen(): AsyncGenerator<Batch> {
      yield { x: new Float32Array([5, 6]) };
    }
    const c = calibratorFromBatches(gen(), { algorithm: 'percentile', percentile: 99.9, batchCount: 1 });
    expect(c.algorithm).toEqual({ kind: 'percentile', percentile: 99.9 });
    expect(c.batchCount).toBe(1);
    expect(await drain(c)).toEqual([[5, 6]]);
    const legacy = calibratorFromBatches([], { algorithm: { kind: 'legacy', quantile: 0.9 } });
    expect(legacy.algorithm).toEqual({ kind: 'legacy', quantile: 0.9, regressionCutoff: 0.5 });
  });

  it('stops and closes the source when the signal aborts', async () => {
    let closed = false;
    function* gen(): Generator<Batch> {
      try {
        for (let i = 0; ; i++) yield { x: new Float32Array([i, i]) };
      } finally {
        closed = true;
      }
    }
    const controller = new AbortController();
    const c = calibratorFromBatches(gen());
    await c.getBatch(ctx(0, controller.signal));
    controller.abort(new Error('stop'));
    await expect(Promise.resolve(c.getBatch(ctx(1, controller.signal)))).rejects.toThrow('stop');
    expect(closed).toBe(true);
  });

  it('closes an unfinished source on close()', async () => {
    let closed = false;
    async function* gen(): AsyncGenerator<Batch> {
      try {
        yield { x: new Float32Array([1, 1]) };
        yield { x: new Float32Array([2, 2]) };
      } finally {
        closed = true;
      }
    }
    const c = calibratorFromBatches(gen());
    await c.getBatch(ctx(0));
    await c.close();
    expect(closed).toBe(true);
    expect(await c.getBatch(ctx(1))).toBeNull();
  });

  it('fails loudly when the source yields null or a bad batch, and passes source errors through', async () => {
    const nullSource = calibratorFromBatches([{ x: new Float32Array([1, 2]) }, null as unknown as Batch]);
    await nullSource.getBatch(ctx(0));
    const error = await Promise.resolve(nullSource.getBatch(ctx(1))).catch((e: unknown) => e);
    expect(isTrtInt8Error(error, 'ERR_BAD_BATCH')).toBe(true);

    const wrong = calibratorFromBatches([{ x: new Float32Array(3) }]);
    expect(isTrtInt8Error(await nextValidatedBatch(wrong, ctx(0)).catch((e: unknown) => e), 'ERR_BAD_BATCH')).toBe(true);

    const boom = new Error('read failed');
    function* failing(): Generator<Batch> {
      throw boom;
    }
    await expect(Promise.resolve(calibratorFromBatches(failing()).getBatch(ctx(0)))).rejects.toBe(boom);
  });

  it('rejects sources that are not iterable', () => {
    for (const bad of [null, 42, {}, 'batches']) {
      let caught: unknown;
      try {
        calibratorFromBatches(bad as never);
      } catch (e) {
        caught = e;
      }
      expect(isTrtInt8Error(caught, 'ERR_BAD_OPTION')).toBe(true);
    }
  });
});
