/** min-max and the dispatcher from a calibrator's algorithm to the statistics engine's methods. */
import type { CalibrationAlgorithm } from '../core/algorithm.js';
import { TrtInt8Error } from '../core/errors.js';
import { autoAmax } from './auto.js';
import { entropyAmax } from './entropy.js';
import { legacyAmax } from './legacy.js';
import { percentileAmax } from './percentile.js';
import type { TensorHistogram, TensorSummary } from './types.js';
import { checkHistogram, requireCounts, requireFinite } from './validate.js';

/** The whole range: max |x| seen (as IInt8MinMaxCalibrator). */
export function minMaxAmax(h: TensorHistogram): number {
  checkHistogram(h);
  requireCounts(h);
  return h.absMax;
}

/**
 * minMaxAmax of a tensor collected without a histogram (HistogramCollector's histograms: false): the same max |x|,
 * from the same summary the histogram carries, so the same amax; ERR_EMPTY_DATASET likewise when nothing was finite.
 */
export function summaryMinMaxAmax(s: TensorSummary): number {
  requireFinite(s);
  return s.absMax;
}

/**
 * amax of one tensor for a calibration algorithm. 'entropy2' and 'entropy' both use entropyAmax: TensorRT's
 * v1 and v2 entropy calibrators differ in when TensorRT calibrates (after vs before layer fusion) and in
 * unpublished details; on histograms we collect ourselves there is one published method (docs/algorithms.md).
 */
export function computeAmax(h: TensorHistogram, algorithm: CalibrationAlgorithm): number {
  switch (algorithm?.kind) {
    case 'auto':
      return autoAmax(h);
    case 'entropy2':
    case 'entropy':
      return entropyAmax(h);
    case 'minmax':
      return minMaxAmax(h);
    case 'percentile':
      return percentileAmax(h, algorithm.percentile);
    case 'legacy':
      return legacyAmax(h, { quantile: algorithm.quantile, regressionCutoff: algorithm.regressionCutoff });
    default:
      throw new TrtInt8Error('ERR_BAD_OPTION', 'Unknown calibration algorithm.', {
        input: 'algorithm',
        expected: "{ kind: 'auto' | 'entropy2' | 'entropy' | 'minmax' | 'percentile' | 'legacy', ... }",
        actual: (algorithm as { kind?: unknown } | undefined)?.kind ?? algorithm,
      });
  }
}
