/**
 * Percentile calibration as pytorch-quantization's `_compute_amax_percentile`: the LEFT edge of the first bin
 * whose cumulative fraction reaches percentile / 100 (np.searchsorted(np.cumsum(hist / total), p / 100)).
 * The same float64 operations in the same order, so results match the reference exactly.
 */
import { TrtInt8Error } from '../core/errors.js';
import type { TensorHistogram } from './types.js';
import { checkHistogram, requireCounts } from './validate.js';

/** `percentile` is in [0, 100] (99.99 keeps all but the top 0.01% of |x|). */
export function percentileAmax(h: TensorHistogram, percentile: number): number {
  checkHistogram(h);
  if (typeof percentile !== 'number' || !(percentile >= 0 && percentile <= 100)) {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'Invalid percentile.', {
      input: 'percentile',
      expected: 'a number from 0 to 100 (a percentage, e.g. 99.99)',
      actual: percentile,
      fixes: typeof percentile === 'number' && percentile > 0 && percentile <= 1 ? [] : ['Pass a percentage: 99.99 rather than 0.9999.'],
    });
  }
  const total = requireCounts(h);
  const target = percentile / 100;
  const counts = h.counts;
  let cdf = 0;
  for (let idx = 0; idx < counts.length; idx++) {
    cdf += counts[idx]! / total;
    if (cdf >= target) return idx * h.binWidth;
  }
  return counts.length * h.binWidth; // rounding left the cdf just below 1: searchsorted returns len(hist)
}
