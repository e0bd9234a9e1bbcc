/**
 * The calibrator users subclass: they implement getBatch, the rest (algorithm, cache file, NaN policy)
 * is data on the instance that every back end reads the same way.
 */
import { TrtInt8Error, throwIfAborted } from '../core/errors.js';
import { readFileOrNull, writeFileAtomic } from '../core/files.js';
import { resolveAlgorithm, type AlgorithmInput } from '../core/algorithm.js';
import { validateBatch } from '../core/batch.js';
import type { Batch, BatchContext, NonFinitePolicy, WarningHandler } from '../core/batch.js';
import type { CalibrationAlgorithm } from '../core/algorithm.js';
import type { NormalizedBatch } from '../core/tensor.js';
import { optionErrors } from '../core/is.js';

export interface CalibratorOptions {
  /** File that readCache/writeCache use by default; without it nothing is cached. */
  readonly cachePath?: string;
  /** What to do with NaN / ±Infinity in a batch (default 'error'). */
  readonly nonFinite?: NonFinitePolicy;
  /** Receives non-fatal warnings; without it they go to process.emitWarning. */
  readonly onWarning?: WarningHandler;
  /** How many batches getBatch will give, if known: only used for progress and ETA. */
  readonly batchCount?: number;
}

export interface LegacyCalibratorOptions extends CalibratorOptions {
  /** Quantile (0, 1] that selects the region maximum (default 0.5). */
  readonly quantile?: number;
  /** Fraction (0, 1] of the maximum that defines the regression cutoff (default 0.5). */
  readonly regressionCutoff?: number;
}

export interface PercentileCalibratorOptions extends CalibratorOptions {
  /** Percentile (0, 100] of |x| taken as the range (default 99.99). */
  readonly percentile?: number;
}

const NON_FINITE_POLICIES: readonly NonFinitePolicy[] = ['error', 'warn', 'allow'];

const badOption = optionErrors('calibrator');

function checkOptions(options: CalibratorOptions): void {
  if (options === null || typeof options !== 'object') throw badOption('options', 'an object', options);
  const { cachePath, nonFinite, onWarning, batchCount } = options;
  if (cachePath !== undefined && (typeof cachePath !== 'string' || cachePath.length === 0)) {
    throw badOption('cachePath', 'a non-empty file path', cachePath);
  }
  if (nonFinite !== undefined && !NON_FINITE_POLICIES.includes(nonFinite)) {
    throw badOption('nonFinite', NON_FINITE_POLICIES.join(' | '), nonFinite);
  }
  if (onWarning !== undefined && typeof onWarning !== 'function') throw badOption('onWarning', 'a function', typeof onWarning);
  if (batchCount !== undefined && (!Number.isInteger(batchCount) || batchCount < 1)) {
    throw badOption('batchCount', 'a positive integer', batchCount);
  }
}

function isOptionsInPlaceOfAlgorithm(first: unknown, options: CalibratorOptions): first is CalibratorOptions {
  return typeof first === 'object' && first !== null && !('kind' in first) && Object.keys(options).length === 0;
}

export abstract class Calibrator {
  /** The algorithm, frozen; back ends read it from here. */
  readonly algorithm: CalibrationAlgorithm;
  readonly cachePath: string | undefined;
  readonly nonFinite: NonFinitePolicy;
  readonly onWarning: WarningHandler | undefined;
  /**
   * Number of batches, if known (progress and ETA only): the batchCount option, or a subclass field
   * (`override readonly batchCount = 100`). Declared, not initialised, so that field is not overwritten.
   */
  declare readonly batchCount?: number;

  /**
   * `algorithm` left out (`super()` or `super(options)`): 'auto', per tensor the range with the least quantization
   * error (docs/algorithms.md). An algorithm is a kind string or an object with `kind`, so an object without `kind`
   * in first place is taken as the options.
   */
  constructor(algorithm?: AlgorithmInput | CalibratorOptions, options: CalibratorOptions = {}) {
    if (isOptionsInPlaceOfAlgorithm(algorithm, options)) [algorithm, options] = [undefined, algorithm];
    checkOptions(options);
    this.algorithm = resolveAlgorithm(algorithm as AlgorithmInput | undefined);
    this.cachePath = options.cachePath;
    this.nonFinite = options.nonFinite ?? 'error';
    this.onWarning = options.onWarning;
    if (options.batchCount !== undefined) (this as { batchCount?: number }).batchCount = options.batchCount;
  }

  /**
   * The next batch for `ctx.batchIndex`, or null when the data is exhausted. May be async.
   * Give up early (throw) when ctx.signal is aborted.
   */
  abstract getBatch(ctx: BatchContext): Batch | null | Promise<Batch | null>;

  /** The cached calibration, or null (no cachePath, or no file yet). Other IO errors: ERR_IO. */
  async readCache(): Promise<Uint8Array | null> {
    if (this.cachePath === undefined) return null;
    return readFileOrNull(this.cachePath);
  }

  /** Stores the calibration atomically at cachePath (temp file + fsync + rename); a no-op without cachePath. */
  async writeCache(bytes: Uint8Array): Promise<void> {
    if (!(bytes instanceof Uint8Array)) throw badOption('cache bytes', 'a Uint8Array', typeof bytes);
    if (this.cachePath === undefined) return;
    await writeFileAtomic(this.cachePath, bytes);
  }

  /** Releases what getBatch holds (open files, iterators). Called once calibration ends or fails. */
  async close(): Promise<void> {}
}

/**
 * The options a calibrator that wraps `inner` (fitting shapes, watching inputs) takes over from it, so that its cache
 * path, NaN policy, warnings and batch count stay the user's.
 */
export function wrappedCalibratorOptions(inner: Calibrator): CalibratorOptions {
  return {
    ...(inner.cachePath !== undefined ? { cachePath: inner.cachePath } : {}),
    nonFinite: inner.nonFinite,
    ...(inner.onWarning ? { onWarning: inner.onWarning } : {}),
    ...(inner.batchCount !== undefined ? { batchCount: inner.batchCount } : {}),
  };
}

/** Entropy calibration, version 2: TensorRT's recommended calibrator for CNNs. */
export abstract class EntropyCalibrator2 extends Calibrator {
  constructor(options: CalibratorOptions = {}) {
    super('entropy2', options);
  }
}

/** The original entropy calibrator. */
export abstract class EntropyCalibrator extends Calibrator {
  constructor(options: CalibratorOptions = {}) {
    super('entropy', options);
  }
}

/** Range = the largest |x| seen; TensorRT recommends it for NLP models. */
export abstract class MinMaxCalibrator extends Calibrator {
  constructor(options: CalibratorOptions = {}) {
    super('minmax', options);
  }
}

/** TensorRT's legacy (quantile / regression) calibrator. */
export abstract class LegacyCalibrator extends Calibrator {
  constructor(options: LegacyCalibratorOptions = {}) {
    super({ kind: 'legacy', quantile: options?.quantile, regressionCutoff: options?.regressionCutoff }, options);
  }
}

/** Range = a percentile of |x| (our statistics engine; TensorRT has no such calibrator). */
export abstract class PercentileCalibrator extends Calibrator {
  constructor(options: PercentileCalibratorOptions = {}) {
    super({ kind: 'percentile', percentile: options?.percentile }, options);
  }
}

/**
 * Asks the calibrator for the batch ctx.batchIndex and validates it. Returns null at the end of the
 * data. Errors thrown by getBatch propagate unchanged (same object, stack intact).
 */
export async function nextValidatedBatch(calibrator: Calibrator, ctx: BatchContext): Promise<NormalizedBatch | null> {
  throwIfAborted(ctx.signal);
  const batch: unknown = await calibrator.getBatch(ctx);
  throwIfAborted(ctx.signal);
  if (batch === null) return null;
  if (batch === undefined) {
    throw new TrtInt8Error('ERR_BAD_BATCH', `Calibration batch ${ctx.batchIndex}: getBatch returned undefined.`, {
      input: 'getBatch',
      expected: 'a batch object, or null at the end of the data',
      actual: 'undefined',
      fixes: ['Return null (not undefined) to end calibration; check for a missing return statement.'],
      details: { batchIndex: ctx.batchIndex },
    });
  }
  return validateBatch(batch, ctx.inputs, { batchIndex: ctx.batchIndex, nonFinite: calibrator.nonFinite, onWarning: calibrator.onWarning });
}
