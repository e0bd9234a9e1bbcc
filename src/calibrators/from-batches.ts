/** A calibrator over an existing (async) iterable of batches, for when subclassing is overkill. */
import { TrtInt8Error, abortError } from '../core/errors.js';
import { DEFAULT_ALGORITHM, type AlgorithmInput } from '../core/algorithm.js';
import { Calibrator, type CalibratorOptions, type LegacyCalibratorOptions, type PercentileCalibratorOptions } from './calibrator.js';
import type { Batch, BatchContext } from '../core/batch.js';

export type BatchSource = Iterable<Batch> | AsyncIterable<Batch>;

export interface CalibratorFromBatchesOptions extends CalibratorOptions {
  /** Default 'auto'. Parameters given here win over quantile/regressionCutoff/percentile below. */
  readonly algorithm?: AlgorithmInput;
  readonly quantile?: LegacyCalibratorOptions['quantile'];
  readonly regressionCutoff?: LegacyCalibratorOptions['regressionCutoff'];
  readonly percentile?: PercentileCalibratorOptions['percentile'];
}

class IterableCalibrator extends Calibrator {
  readonly #source: BatchSource;
  #iterator: Iterator<Batch> | AsyncIterator<Batch> | undefined;
  #done = false;

  constructor(source: BatchSource, algorithm: AlgorithmInput, options: CalibratorOptions) {
    super(algorithm, options);
    this.#source = source;
  }

  async getBatch(ctx: BatchContext): Promise<Batch | null> {
    if (this.#done) return null;
    if (ctx.signal.aborted) {
      await this.close();
      throw abortError(ctx.signal);
    }
    // The iterator is created on first use, so building the calibrator never starts reading data.
    if (!this.#iterator) {
      const source = this.#source as Partial<AsyncIterable<Batch> & Iterable<Batch>>;
      this.#iterator = source[Symbol.asyncIterator] ? source[Symbol.asyncIterator]!() : source[Symbol.iterator]!();
    }
    const result = await this.#iterator.next();
    if (ctx.signal.aborted) {
      await this.close();
      throw abortError(ctx.signal);
    }
    if (result.done) {
      this.#done = true;
      return null;
    }
    if (result.value === null || result.value === undefined) {
      // null from getBatch means "end of data"; from a source it is more likely a bug, so say so.
      throw new TrtInt8Error('ERR_BAD_BATCH', `Calibration batch ${ctx.batchIndex}: the batch source yielded ${String(result.value)}.`, {
        input: 'source',
        expected: 'a batch object; end the iterable to end the data',
        actual: String(result.value),
        details: { batchIndex: ctx.batchIndex },
      });
    }
    return result.value;
  }

  override async close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.#iterator?.return?.();
  }
}

function isBatchSource(value: unknown): value is BatchSource {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    (typeof (value as Partial<Iterable<unknown>>)[Symbol.iterator] === 'function' ||
      typeof (value as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function')
  );
}

/**
 * Wraps an Iterable or AsyncIterable of batches (an array, a generator, a stream) as a Calibrator.
 * Iterates lazily, one batch per getBatch call; stops and closes the iterator when ctx.signal aborts.
 */
export function calibratorFromBatches(source: BatchSource, options: CalibratorFromBatchesOptions = {}): Calibrator {
  if (!isBatchSource(source) || typeof source === 'string') {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'calibratorFromBatches needs an Iterable or AsyncIterable of batches.', {
      input: 'source',
      expected: 'an array, generator or async iterable of batches',
      actual: source === null ? 'null' : typeof source,
    });
  }
  const { algorithm, quantile, regressionCutoff, percentile, ...rest } = options ?? {};
  let resolved: AlgorithmInput = algorithm ?? DEFAULT_ALGORITHM;
  if (resolved === 'legacy') resolved = { kind: 'legacy', quantile, regressionCutoff };
  if (resolved === 'percentile') resolved = { kind: 'percentile', percentile };
  const batchCount = rest.batchCount ?? (Array.isArray(source) && source.length > 0 ? source.length : undefined);
  return new IterableCalibrator(source, resolved, { ...rest, batchCount });
}
