import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Calibrator, EntropyCalibrator, EntropyCalibrator2, LegacyCalibrator, MinMaxCalibrator, PercentileCalibrator, nextValidatedBatch, type CalibratorOptions } from '../../src/calibrators/index.js';
import { resolveAlgorithm } from '../../src/core/algorithm.js';
import { type Batch, type BatchContext } from '../../src/core/batch.js';
import { type InputSpec } from '../../src/core/tensor.js';
import { TrtInt8Error, isTrtInt8Error } from '../../src/core/errors.js';

const INPUTS: readonly InputSpec[] = [{ name: 'x', shape: [-1, 4], dtype: 'float32' }];

function ctx(batchIndex: number, signal = new AbortController().signal): BatchContext {
  return { inputs: INPUTS, batchIndex, signal };
}

/** A calibrator over an in-memory list, as a user would write one. */
class ListCalibrator extends EntropyCalibrator2 {
  calls = 0;
  constructor(
    private readonly batches: Batch[],
    options: CalibratorOptions = {},
  ) {
    super(options);
  }
  getBatch({ batchIndex }: BatchContext): Batch | null {
    this.calls++;
    return this.batches[batchIndex] ?? null;
  }
}

function expectBadOption(fn: () => unknown, input: string): void {
  try {
    fn();
  } catch (error) {
    expect(isTrtInt8Error(error, 'ERR_BAD_OPTION')).toBe(true);
    expect((error as TrtInt8Error).input).toBe(input);
    return;
  }
  throw new Error(`expected ERR_BAD_OPTION for ${input}`);
}

describe('calibrator classes', () => {
  class E2 extends EntropyCalibrator2 {
    getBatch() {
      return null;
    }
  }
  class E1 extends EntropyCalibrator {
    getBatch() {
      return null;
    }
  }
  class MM extends MinMaxCalibrator {
    getBatch() {
      return null;
    }
  }
  class L extends LegacyCalibrator {
    getBatch() {
      return null;
    }
  }
  class P extends PercentileCalibrator {
    getBatch() {
      return null;
    }
  }

  it('carry their algorithm as frozen data with defaults', () => {
    expect(new E2().algorithm).toEqual({ kind: 'entropy2' });
    expect(new E1().algorithm).toEqual({ kind: 'entropy' });
    expect(new MM().algorithm).toEqual({ kind: 'minmax' });
    expect(new L().algorithm).toEqual({ kind: 'legacy', quantile: 0.5, regressionCutoff: 0.5 });
    expect(new L({ quantile: 0.9999, regressionCutoff: 1 }).algorithm).toEqual({ kind: 'legacy', quantile: 0.9999, regressionCutoff: 1 });
    expect(new P().algorithm).toEqual({ kind: 'percentile', percentile: 99.99 });
    expect(new P({ percentile: 99.9 }).algorithm).toEqual({ kind: 'percentile', percentile: 99.9 });
    expect(Object.isFrozen(new L().algorithm)).toBe(true);
    const e2 = new E2();
    expect(e2).toBeInstanceOf(Calibrator);
    expect(e2.nonFinite).toBe('error');
    expect(e2.cachePath).toBeUndefined();
    expect(e2.batchCount).toBeUndefined();
  });

  it('range-check their options', () => {
    for (const quantile of [0, -0.1, 1.5, Number.NaN]) expectBadOption(() => new L({ quantile }), 'quantile');
    expectBadOption(() => new L({ regressionCutoff: 2 }), 'regressionCutoff');
    for (const percentile of [0, 100.01, Number.POSITIVE_INFINITY]) expectBadOption(() => new P({ percentile }), 'percentile');
    expectBadOption(() => new E2({ nonFinite: 'ignore' as never }), 'nonFinite');
    expectBadOption(() => new E2({ cachePath: '' }), 'cachePath');
    expectBadOption(() => new E2({ onWarning: 'log' as never }), 'onWarning');
    expectBadOption(() => new E2({ batchCount: 0 }), 'batchCount');
    expectBadOption(() => new E2({ batchCount: 2.5 }), 'batchCount');
    expectBadOption(() => resolveAlgorithm('kl' as never), 'algorithm');
  });

  it('let a subclass state batchCount as a field', () => {
    class Counted extends E2 {
      override readonly batchCount = 42;
    }
    expect(new Counted().batchCount).toBe(42);
    expect(new E2({ batchCount: 7 }).batchCount).toBe(7);
  });
});

describe('calibration cache through the calibrator', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-cal-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads null until written, then the bytes written', async () => {
    const cachePath = path.join(dir, 'model.cache');
    const calibrator = new ListCalibrator([], { cachePath });
    expect(await calibrator.readCache()).toBeNull();
    const bytes = new TextEncoder().encode('TRT-100300-EntropyCalibration2\nx: 3c010204\n');
    await calibrator.writeCache(bytes);
    expect(Buffer.from((await calibrator.readCache())!).equals(Buffer.from(bytes))).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['model.cache']);
  });

  it('caches nothing without cachePath', async () => {
    const calibrator = new ListCalibrator([]);
    await calibrator.writeCache(new Uint8Array([1]));
    expect(await calibrator.readCache()).toBeNull();
  });

  it('turns IO failures into ERR_IO', async () => {
    const calibrator = new ListCalibrator([], { cachePath: dir }); // a folder, not a file
    const read = await calibrator.readCache().catch((e: unknown) => e);
    expect(isTrtInt8Error(read, 'ERR_IO')).toBe(true);
    const missingFolder = new ListCalibrator([], { cachePath: path.join(dir, 'nope', 'c.cache') });
    const write = await missingFolder.writeCache(new Uint8Array([1])).catch((e: unknown) => e);
    expect(isTrtInt8Error(write, 'ERR_IO')).toBe(true);
  });
});

describe('nextValidatedBatch', () => {
  it('validates sync batches and returns null at the end', async () => {
    const calibrator = new ListCalibrator([{ x: new Float32Array(8) }]);
    const first = await nextValidatedBatch(calibrator, ctx(0));
    expect(first!.get('x')!.shape).toEqual([2, 4]);
    expect(await nextValidatedBatch(calibrator, ctx(1))).toBeNull();
  });

  it('awaits async getBatch', async () => {
    class Async extends MinMaxCalibrator {
      async getBatch({ batchIndex }: BatchContext) {
        await new Promise((r) => setTimeout(r, 5));
        return batchIndex < 1 ? { x: new Float32Array(4) } : null;
      }
    }
    const c = new Async();
    expect((await nextValidatedBatch(c, ctx(0)))!.get('x')!.shape).toEqual([1, 4]);
    expect(await nextValidatedBatch(c, ctx(1))).toBeNull();
  });

  it('passes user errors through unchanged, sync or async', async () => {
    const boom = new RangeError('disk on fire');
    const stack = boom.stack;
    class Throws extends EntropyCalibrator2 {
      getBatch(): Batch {
        throw boom;
      }
    }
    class Rejects extends EntropyCalibrator2 {
      async getBatch(): Promise<Batch> {
        throw boom;
      }
    }
    for (const c of [new Throws(), new Rejects()]) {
      const error = await nextValidatedBatch(c, ctx(0)).catch((e: unknown) => e);
      expect(error).toBe(boom);
      expect((error as Error).stack).toBe(stack);
    }
  });

  it('fails loudly on undefined and bad batches, applying the calibrator policy', async () => {
    class Forgot extends EntropyCalibrator2 {
      getBatch() {
        return undefined as unknown as null;
      }
    }
    const error = await nextValidatedBatch(new Forgot(), ctx(3)).catch((e: unknown) => e);
    expect(isTrtInt8Error(error, 'ERR_BAD_BATCH')).toBe(true);
    expect((error as TrtInt8Error).details.batchIndex).toBe(3);

    const nan = new Float32Array([1, Number.NaN, 3, 4]);
    const strict = await nextValidatedBatch(new ListCalibrator([{ x: nan }]), ctx(0)).catch((e: unknown) => e);
    expect(isTrtInt8Error(strict, 'ERR_BAD_BATCH')).toBe(true);
    const seen: number[] = [];
    const lenient = new ListCalibrator([{ x: nan }], { nonFinite: 'warn', onWarning: (w) => seen.push(w.firstIndex) });
    expect(await nextValidatedBatch(lenient, ctx(0))).not.toBeNull();
    expect(seen).toEqual([1]);
  });

  it('does not call getBatch once the signal is aborted', async () => {
    const controller = new AbortController();
    const reason = new Error('user gave up');
    controller.abort(reason);
    const calibrator = new ListCalibrator([{ x: new Float32Array(4) }]);
    await expect(nextValidatedBatch(calibrator, ctx(0, controller.signal))).rejects.toBe(reason);
    expect(calibrator.calls).toBe(0);
  });

  it('rejects with ABORT_ERR when aborted while getBatch ran', async () => {
    const controller = new AbortController();
    class Slow extends EntropyCalibrator2 {
      async getBatch() {
        controller.abort();
        return { x: new Float32Array(4) };
      }
    }
    const error = await nextValidatedBatch(new Slow(), ctx(0, controller.signal)).catch((e: unknown) => e);
    // AbortController.abort() without a reason sets a DOMException AbortError as the reason.
    expect((error as Error).name).toBe('AbortError');
  });
});
