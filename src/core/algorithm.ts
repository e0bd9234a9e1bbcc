/** Calibration algorithms as validated data, with the defaults every back end shares. */
import { badOption } from './is.js';

/**
 * The calibration algorithm, as data on the calibrator so that every back end (TensorRT 10's
 * IInt8*Calibrator, our statistics engine) reads the same thing.
 */
export type CalibrationAlgorithm =
  | { readonly kind: 'auto' }
  | { readonly kind: 'entropy2' }
  | { readonly kind: 'entropy' }
  | { readonly kind: 'minmax' }
  | { readonly kind: 'legacy'; readonly quantile: number; readonly regressionCutoff: number }
  | { readonly kind: 'percentile'; readonly percentile: number };

export type AlgorithmKind = CalibrationAlgorithm['kind'];

/**
 * 'auto' (our statistics engine; the default): per tensor, the candidate range (entropy, min-max, percentiles, the
 * MSE-optimal amax) whose INT8 quantization error on the tensor's histogram is least. The others are TensorRT's
 * calibrators (and percentile), with their exact semantics.
 */
export const ALGORITHM_KINDS: readonly AlgorithmKind[] = ['auto', 'entropy2', 'entropy', 'minmax', 'legacy', 'percentile'];

/** The algorithm of calibrate(), of a plain Calibrator subclass and of calibratorFromBatches when none is named. */
export const DEFAULT_ALGORITHM: AlgorithmKind = 'auto';

/**
 * Legacy calibrator defaults. TensorRT declares IInt8LegacyCalibrator::getQuantile and
 * getRegressionCutoff pure virtual, so it has no defaults of its own; these are Polygraphy's
 * (its Calibrator defaults both quantile and regression_cutoff to 0.5).
 */
export const DEFAULT_LEGACY_QUANTILE = 0.5;
export const DEFAULT_LEGACY_REGRESSION_CUTOFF = 0.5;
/** Percentile of |x| taken as amax by the percentile algorithm (our statistics engine; TensorRT has none). */
export const DEFAULT_PERCENTILE = 99.99;

/** Checks `value` is a number in (lo, hi]; undefined gives the default. */
function fraction(input: string, value: unknown, fallback: number, lo: number, hi: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= lo || value > hi) {
    throw badOption('calibration', input, `a number greater than ${lo} and at most ${hi}`, value);
  }
  return value;
}

/** An algorithm kind, or an algorithm object whose parameters may be left out. */
export type AlgorithmInput =
  | AlgorithmKind
  | CalibrationAlgorithm
  | { readonly kind: 'legacy'; readonly quantile?: number; readonly regressionCutoff?: number }
  | { readonly kind: 'percentile'; readonly percentile?: number };

/** A frozen, validated algorithm from a kind or a (partial) algorithm object; parameters left out get defaults. */
export function resolveAlgorithm(input: AlgorithmInput | undefined, fallback: AlgorithmKind = DEFAULT_ALGORITHM): CalibrationAlgorithm {
  const spec: { kind?: unknown; quantile?: unknown; regressionCutoff?: unknown; percentile?: unknown } =
    input === undefined ? { kind: fallback } : typeof input === 'string' ? { kind: input } : (input as object);
  if (spec === null || typeof spec !== 'object' || !ALGORITHM_KINDS.includes(spec.kind as AlgorithmKind)) {
    throw badOption('calibration', 'algorithm', `one of ${ALGORITHM_KINDS.join(', ')} (or { kind, ... })`, typeof input === 'object' && input !== null ? (input as { kind?: unknown }).kind : input);
  }
  switch (spec.kind as AlgorithmKind) {
    case 'legacy':
      return Object.freeze({
        kind: 'legacy',
        quantile: fraction('quantile', spec.quantile, DEFAULT_LEGACY_QUANTILE, 0, 1),
        regressionCutoff: fraction('regressionCutoff', spec.regressionCutoff, DEFAULT_LEGACY_REGRESSION_CUTOFF, 0, 1),
      });
    case 'percentile':
      return Object.freeze({ kind: 'percentile', percentile: fraction('percentile', spec.percentile, DEFAULT_PERCENTILE, 0, 100) });
    default:
      return Object.freeze({ kind: spec.kind as 'auto' | 'entropy2' | 'entropy' | 'minmax' });
  }
}
