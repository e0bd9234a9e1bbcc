/**
 * Entropy (KL-divergence) calibration as NVIDIA published it (Szymon Migacz, "8-bit Inference with TensorRT",
 * GTC 2017) and as pytorch-quantization's `_compute_amax_entropy` implements it, quirks included:
 * - bins[0] is replaced by bins[1] (the spike of exact zeros after ReLU would otherwise dominate);
 * - candidate i keeps bins [0, i) and folds everything beyond into bin i-1 (the reference distribution P);
 * - Q merges the i bins into 2^(numBits-1+unsigned) levels with np.digitize over np.linspace(0, i, levels+1),
 *   then spreads each level's total evenly over its NON-EMPTY bins (empty bins stay empty in Q);
 * - the divergence is scipy.stats.entropy(P, Q) (both normalised; P > 0 where Q == 0 gives +Infinity);
 * - among equal divergences the LAST (largest) candidate wins; the amax is the left edge of bin i.
 * Sums use numpy's pairwise summation so that ties resolve exactly as in the reference. See docs/algorithms.md.
 *
 * The search is quadratic in bins, so a histogram of more than EXACT_SEARCH_MAX_BINS bins (one that grew far past
 * its first range) is first re-binned into SEARCH_BINS bins over [0, absMax], as TensorRT searches a fixed-size
 * histogram: the amax then has the resolution of those bins. Histograms of the usual 2048 bins are searched
 * as they are and match the reference exactly.
 */
import { TrtInt8Error } from '../core/errors.js';
import { pairwiseSum } from './pairwise-sum.js';
import type { TensorHistogram } from './types.js';
import { checkHistogram, checkInteger, requireCounts } from './validate.js';

export interface EntropyOptions {
  /** Bits of the quantized type. Default 8. */
  readonly numBits?: number;
  /** Unsigned quantization doubles the number of levels. Default false. */
  readonly unsigned?: boolean;
  /** First candidate number of bins kept. Default 128 (pytorch-quantization's default). */
  readonly startBin?: number;
  /** Step between candidates. Default 1. */
  readonly stride?: number;
}

/** Candidates x bins visited, past which we refuse rather than appear to hang (~10-30 s of work). */
export const ENTROPY_MAX_STEPS = 4e9;
/** Histograms up to this many bins are searched as they are (exactly as the reference). */
export const EXACT_SEARCH_MAX_BINS = 4096;
/** Larger histograms are re-binned into this many bins before the search (TensorRT's 2048). */
export const SEARCH_BINS = 2048;

/**
 * `h` re-binned into `bins` equal bins over [0, h.absMax]: each source bin's count is split over the target bins it
 * overlaps in proportion to the overlap (values are taken as uniform inside a bin), and counts beyond absMax go to
 * the last bin. The result depends on the data's range, not on how the source histogram was binned, so histograms
 * of the same data collected in different batch orders re-bin to nearly the same thing.
 */
export function resampleHistogram(h: TensorHistogram, bins: number): TensorHistogram {
  const top = h.absMax > 0 ? h.absMax : h.counts.length * h.binWidth;
  const width = top / bins;
  const counts = new Float64Array(bins);
  const source = h.binWidth;
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i]!;
    if (c === 0) continue;
    const lo = i * source;
    const hi = lo + source;
    let k = Math.min(bins - 1, Math.floor(lo / width));
    if (k === bins - 1 || hi <= (k + 1) * width) {
      counts[k]! += c;
      continue;
    }
    // Spread over the target bins [lo, hi) overlaps; whatever lies beyond the last bin stays in it.
    let from = lo;
    while (k < bins - 1 && from < hi) {
      const to = Math.min(hi, (k + 1) * width);
      counts[k]! += (c * (to - from)) / source;
      from = to;
      k++;
    }
    if (from < hi) counts[bins - 1]! += (c * (hi - from)) / source;
  }
  return { ...h, counts, binWidth: width };
}

/** The histogram the search runs on: `h` itself up to EXACT_SEARCH_MAX_BINS bins, else re-binned to SEARCH_BINS. */
export function searchHistogram(h: TensorHistogram): TensorHistogram {
  return h.counts.length <= EXACT_SEARCH_MAX_BINS || h.binWidth === 0 ? h : resampleHistogram(h, SEARCH_BINS);
}

/** scipy.special.rel_entr */
function relEntr(p: number, q: number): number {
  if (Number.isNaN(p) || Number.isNaN(q)) return NaN;
  if (p > 0 && q > 0) return p * Math.log(p / q);
  if (p === 0 && q >= 0) return 0;
  return Infinity;
}

/** The amax that minimises the KL divergence between |x|'s histogram and its quantized version. */
export function entropyAmax(histogram: TensorHistogram, options: EntropyOptions = {}): number {
  checkHistogram(histogram);
  const { numBits = 8, unsigned = false, stride = 1 } = options;
  const requestedStartBin = options.startBin ?? 128;
  checkInteger('numBits', numBits, 1, 16);
  if (typeof unsigned !== 'boolean') {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'Invalid option unsigned.', { input: 'unsigned', expected: 'a boolean', actual: unsigned });
  }
  checkInteger('stride', stride, 1, Number.MAX_SAFE_INTEGER);
  checkInteger('startBin', requestedStartBin, 1, Math.max(1, histogram.counts.length), [
    `Use startBin <= ${histogram.counts.length}, the number of bins of the histogram "${histogram.name}".`,
    'Collect histograms with more bins (HistogramCollector numBins, default 2048).',
  ]);
  const h = searchHistogram(histogram);
  const n = h.counts.length;
  const startBin = Math.min(requestedStartBin, n);
  if (n < 2) {
    throw new TrtInt8Error('ERR_BAD_OPTION', `Entropy calibration needs at least 2 bins; the histogram "${h.name}" has ${n}.`, {
      input: `histogram "${h.name}"`,
      expected: 'at least 2 bins',
      actual: n,
    });
  }
  const candidates = Math.floor((n - startBin) / stride) + 1;
  const steps = (candidates * (startBin + n)) / 2;
  if (steps > ENTROPY_MAX_STEPS) {
    const minStride = Math.ceil((stride * steps) / ENTROPY_MAX_STEPS);
    throw new TrtInt8Error('ERR_BAD_OPTION', `Entropy calibration of the histogram "${h.name}" (${n} bins) would take about ${steps.toExponential(1)} steps.`, {
      input: 'stride',
      expected: `at most ${ENTROPY_MAX_STEPS.toExponential(0)} steps`,
      actual: `stride ${stride}`,
      fixes: [`Pass stride >= ${minStride}.`, 'Use fewer bins: the histogram grew far beyond its first range; check the data for outliers.'],
    });
  }
  requireCounts(h);
  if (h.binWidth === 0) return 0; // only zeros were seen

  const bins = Float64Array.from(h.counts);
  bins[0] = bins[1]!;
  let totalData = 0; // integer counts: exact, as the reference's int64 sums
  for (let j = 0; j < n; j++) totalData += bins[j]!;
  // beyond[i] = sum(bins[i:])
  const beyond = new Float64Array(n + 1);
  for (let j = n - 1; j >= 0; j--) beyond[j] = beyond[j + 1]! + bins[j]!;

  const levels = 2 ** (numBits - 1 + (unsigned ? 1 : 0));
  const levelOf = new Int32Array(n);
  const levelTotal = new Float64Array(levels);
  const levelNonEmpty = new Float64Array(levels);
  const q = new Float64Array(n);
  const terms = new Float64Array(n);
  const divergences = new Float64Array(candidates);

  for (let c = 0; c < candidates; c++) {
    const i = startBin + c * stride;
    // np.digitize(range(i), np.linspace(0, i, levels + 1)) - 1: the last k with k * (i / levels) <= j.
    const step = i / levels;
    levelTotal.fill(0);
    levelNonEmpty.fill(0);
    let level = 0;
    for (let j = 0; j < i; j++) {
      while (level + 1 < levels && (level + 1) * step <= j) level++;
      levelOf[j] = level;
      const b = bins[j]!;
      if (b !== 0) {
        levelTotal[level] = levelTotal[level]! + b;
        levelNonEmpty[level] = levelNonEmpty[level]! + 1;
      }
    }
    for (let d = 0; d < levels; d++) {
      if (levelNonEmpty[d]! > 0) levelTotal[d] = levelTotal[d]! / levelNonEmpty[d]!;
    }
    for (let j = 0; j < i; j++) q[j] = bins[j] !== 0 ? levelTotal[levelOf[j]!]! : 0;
    const qTotal = pairwiseSum(q, 0, i);
    // P = bins[:i] with the outliers beyond folded into its last bin; its sum is totalData exactly.
    const last = i - 1;
    for (let j = 0; j < last; j++) terms[j] = relEntr(bins[j]! / totalData, q[j]! / qTotal);
    terms[last] = relEntr((bins[last]! + beyond[i]!) / totalData, q[last]! / qTotal);
    divergences[c] = pairwiseSum(terms, 0, i);
  }

  // len - 1 - np.argmin(divergences[::-1]): the last minimum; a NaN counts as the minimum, as in np.argmin.
  let pick = candidates - 1;
  let best = divergences[pick]!;
  if (!Number.isNaN(best)) {
    for (let c = candidates - 2; c >= 0; c--) {
      const v = divergences[c]!;
      if (Number.isNaN(v)) {
        pick = c;
        break;
      }
      if (v < best) {
        best = v;
        pick = c;
      }
    }
  }
  return (startBin + pick * stride) * h.binWidth;
}
