/**
 * Our definition of the legacy calibrator's range. NVIDIA never published what IInt8LegacyCalibrator does
 * with getQuantile() and getRegressionCutoff() ("the quantile used to select the region maximum" and "the
 * fraction of the maximum used to define the regression cutoff"), so trt-int8 defines it as a robust
 * "region maximum": fit an exponential tail to the histogram and take where it predicts one value is left.
 *
 * 1. Q = the `quantile` quantile of |x| (linear within its bin): the tail fit starts there.
 * 2. Fit ln(count) = a + b * centre by least squares weighted by count, over the non-empty bins whose centre
 *    lies in [Q, regressionCutoff * absMax]; the cutoff keeps far outliers out of the fit.
 * 3. The fitted tail beyond x holds exp(a + b x) / (-b * binWidth) values; amax is the x where that is 1,
 *    clamped to [Q, absMax]. Without a decaying fit (fewer than 2 bins, or b >= 0) amax = absMax.
 * See docs/algorithms.md.
 */
import { TrtInt8Error } from '../core/errors.js';
import type { TensorHistogram } from './types.js';
import { checkHistogram, requireCounts } from './validate.js';

export interface LegacyOptions {
  /** In (0, 1): where the tail fit starts, as a quantile of |x|. */
  readonly quantile: number;
  /** In (0, 1]: where the tail fit ends, as a fraction of max |x|. */
  readonly regressionCutoff: number;
}

function fraction(input: string, value: unknown, includeOne: boolean): number {
  if (typeof value !== 'number' || !(value > 0) || !(includeOne ? value <= 1 : value < 1)) {
    throw new TrtInt8Error('ERR_BAD_OPTION', `Invalid legacy calibration option ${input}.`, {
      input,
      expected: includeOne ? 'a number greater than 0 and at most 1' : 'a number strictly between 0 and 1',
      actual: value,
    });
  }
  return value;
}

/** The `quantile` quantile of |x| from the histogram, interpolating linearly inside the bin that crosses it. */
export function histogramQuantile(h: TensorHistogram, quantile: number, total: number): number {
  const target = quantile * total;
  let below = 0;
  for (let k = 0; k < h.counts.length; k++) {
    const c = h.counts[k]!;
    if (c > 0 && below + c >= target) return (k + (target - below) / c) * h.binWidth;
    below += c;
  }
  return h.counts.length * h.binWidth;
}

export function legacyAmax(h: TensorHistogram, options: LegacyOptions): number {
  checkHistogram(h);
  const quantile = fraction('quantile', options?.quantile, false);
  const cutoff = fraction('regressionCutoff', options?.regressionCutoff, true);
  const total = requireCounts(h);
  const absMax = Math.min(h.absMax, h.counts.length * h.binWidth);
  if (h.binWidth === 0 || !(absMax > 0)) return 0;

  const start = Math.min(histogramQuantile(h, quantile, total), absMax);
  const end = cutoff * absMax;
  // Weighted least squares around weighted means, for stability.
  let sw = 0, sx = 0, sy = 0, points = 0;
  for (let k = 0; k < h.counts.length; k++) {
    const c = h.counts[k]!;
    const centre = (k + 0.5) * h.binWidth;
    if (c > 0 && centre >= start && centre <= end) {
      sw += c;
      sx += c * centre;
      sy += c * Math.log(c);
      points++;
    }
  }
  if (points < 2) return absMax;
  const mx = sx / sw, my = sy / sw;
  let sxx = 0, sxy = 0;
  for (let k = 0; k < h.counts.length; k++) {
    const c = h.counts[k]!;
    const centre = (k + 0.5) * h.binWidth;
    if (c > 0 && centre >= start && centre <= end) {
      const dx = centre - mx;
      sxx += c * dx * dx;
      sxy += c * dx * (Math.log(c) - my);
    }
  }
  const slope = sxy / sxx;
  if (!(slope < 0) || !Number.isFinite(slope)) return absMax;
  const intercept = my - slope * mx;
  const x = (Math.log(-slope * h.binWidth) - intercept) / slope;
  if (!Number.isFinite(x)) return absMax;
  return Math.min(absMax, Math.max(start, x));
}
