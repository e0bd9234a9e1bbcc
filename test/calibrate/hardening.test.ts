/**
 * calibrate() under hostile callers (issue #12): abort wins over a stuck getBatch, batches are copied
 * into memory we own before the statistics engine reads them, and bad inputs give typed errors.
 */
import { describe, expect, it } from 'vitest';
import { calibrate } from '../../src/calibrate/index.js';
import { EntropyCalibrator2, calibratorFromBatches } from '../../src/calibrators/index.js';
import type { Batch, BatchContext } from '../../src/core/batch.js';
import { isTrtInt8Error, type ErrorCode } from '../../src/core/errors.js';
import { cnnBatches, smallCnn } from './helpers.js';

const modelBytes = smallCnn();
const batches = cnnBatches(3, 4);

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

function expectCode(error: unknown, code: ErrorCode) {
  if (!isTrtInt8Error(error)) throw new Error(`expected a TrtInt8Error ${code}, got ${String(error)}`);
  expect(error.code).toBe(code);
  return error;
}

/** Returns batch 0, then a promise that never settles. */
class Stuck extends EntropyCalibrator2 {
  signals: AbortSignal[] = [];
  constructor(private readonly onStuck: () => void) {
    super();
  }
  getBatch(ctx: BatchContext): Batch | null | Promise<Batch | null> {
    this.signals.push(ctx.signal);
    if (ctx.batchIndex === 0) return batches[0]!;
    setTimeout(this.onStuck, 50);
    return new Promise(() => undefined);
  }
}

describe('calibrate() abort', () => {
  it('rejects with the reason when the signal aborts while getBatch is pending, and hands getBatch that signal', async () => {
    const controller = new AbortController();
    const reason = new Error('stop now');
    const calibrator = new Stuck(() => controller.abort(reason));
    const started = performance.now();
    const error = await rejection(calibrate(modelBytes, calibrator, { signal: controller.signal, numBins: 64 }));
    expect(error).toBe(reason);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(calibrator.signals.length).toBe(2);
    expect(calibrator.signals.every((s) => s === controller.signal)).toBe(true);
  });

  it('a bare abort() rejects with the platform AbortError that is the signal reason', async () => {
    const controller = new AbortController();
    const error = await rejection(calibrate(modelBytes, new Stuck(() => controller.abort()), { signal: controller.signal, numBins: 64 }));
    expect(error).toBe(controller.signal.reason);
    expect((error as Error).name).toBe('AbortError');
  });

  it('the same for a stuck async iterable behind calibratorFromBatches', async () => {
    async function* slow() {
      yield batches[0]!;
      await new Promise(() => undefined);
    }
    const controller = new AbortController();
    setTimeout(() => controller.abort('late'), 50);
    expect(await rejection(calibrate(modelBytes, calibratorFromBatches(slow()), { signal: controller.signal, numBins: 64 }))).toBe('late');
  });
});
