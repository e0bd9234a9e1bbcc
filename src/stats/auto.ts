/**
 * 'auto': per tensor, the range whose INT8 quantization loses least, measured on the tensor's own histogram.
 *
 * Candidates are the ranges the other algorithms give (entropy, min-max, percentiles 99.9 / 99.99 / 99.999) and
 * the amax that minimises the quantization MSE, found by a search over the histogram's bin edges. Each is scored
 * by the mean squared error that symmetric INT8 quantization with that amax causes on the histogram's values:
 * q(x) = s * min(round(|x| / s), 127) with s = amax / 127, which is at once the rounding error (|x| <= amax) and
 * the clipping error (|x| > amax, quantized to amax). The histogram is of |x|, and symmetric quantization treats
 * x and -x alike, so the error of |x| is the error of x for signed tensors too. Values are taken as uniform inside
 * a bin (the error integrated exactly over each bin). The candidate with the least MSE wins; every candidate's
 * MSE, SQNR and share of values clipped is kept, for a report. See docs/algorithms.md.
 */
import { entropyAmax, searchHistogram } from './entropy.js';
import { percentileAmax } from './percentile.js';
import type { TensorHistogram } from './types.js';
import { checkHistogram, requireCounts } from './validate.js';

/** How a candidate range was found. */
export type RangeMethod = 'mse' | 'entropy' | 'minmax' | 'percentile-99.9' | 'percentile-99.99' | 'percentile-99.999';

/** What quantizing a tensor with one amax costs, estimated on its histogram. */
export interface QuantizationError {
  readonly amax: number;
  /** Mean squared error of the fake-quantized values against the float values. */
  readonly mse: number;
  /** Signal to quantization-noise ratio in dB: 10 log10(E[x^2] / MSE); Infinity when the error is 0. */
  readonly sqnrDb: number;
  /** Share of the values (0..1) beyond amax, which quantization clips to amax. */
  readonly clippedShare: number;
}

export interface RangeCandidate extends QuantizationError {
  readonly method: RangeMethod;
}

/** The range 'auto' chose for one tensor, and every candidate it weighed. */
export interface RangeChoice {
  readonly tensor: string;
  readonly amax: number;
  readonly method: RangeMethod;
  /** In the order weighed: mse, entropy, minmax, then the percentiles. */
  readonly candidates: readonly RangeCandidate[];
}

/** Quantization levels above 0 of symmetric INT8 (TensorRT's scale is amax / 127). */
const INT8_LEVELS = 127;
/** The MSE search looks at every COARSE_STRIDE-th bin edge first, then at every edge around the best. */
const COARSE_STRIDE = 8;

/** ∫_lo^hi (x - q)^2 dx */
function squaredErrorIntegral(lo: number, hi: number, q: number): number {
  const a = lo - q;
  const b = hi - q;
  return (b * b * b - a * a * a) / 3;
}

/** ∫ over [lo, hi) of (x - Q(x))^2, Q the INT8 quantizer with step `scale` (clipping at 127 steps). */
function binError(lo: number, hi: number, scale: number): number {
  if (scale === 0) return squaredErrorIntegral(lo, hi, 0);
  let error = 0;
  let from = lo;
  // Quantization cells: level k covers [(k - 0.5) s, (k + 0.5) s); the last level (127) extends to infinity.
  let level = Math.min(INT8_LEVELS, Math.round(lo / scale));
  while (from < hi) {
    const cellEnd = level >= INT8_LEVELS ? Infinity : (level + 0.5) * scale;
    const to = Math.min(hi, cellEnd);
    error += squaredErrorIntegral(from, to, level * scale);
    from = to;
    level++;
  }
  return error;
}

interface Moments {
  readonly total: number;
  /** Σ count * E[x^2] over the histogram. */
  readonly sumSquares: number;
}

function momentsOf(h: TensorHistogram): Moments {
  let total = 0;
  let sumSquares = 0;
  const w = h.binWidth;
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i]!;
    if (c === 0) continue;
    const a = i * w;
    const b = a + w;
    total += c;
    sumSquares += (c * (a * a + a * b + b * b)) / 3;
  }
  return { total, sumSquares };
}

function errorOn(h: TensorHistogram, moments: Moments, amax: number): QuantizationError {
  const scale = amax / INT8_LEVELS;
  const w = h.binWidth;
  let squared = 0;
  let clipped = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i]!;
    if (c === 0) continue;
    const lo = i * w;
    const hi = lo + w;
    squared += (c / w) * binError(lo, hi, scale);
    if (hi > amax) clipped += lo >= amax ? c : (c * (hi - amax)) / w;
  }
  const mse = squared / moments.total;
  const power = moments.sumSquares / moments.total;
  return { amax, mse, sqnrDb: mse > 0 ? 10 * Math.log10(power / mse) : Infinity, clippedShare: clipped / moments.total };
}

/**
 * The quantization error INT8 with range `amax` causes on the histogram's values (uniform inside each bin).
 * Throws ERR_EMPTY_DATASET when nothing was counted.
 */
export function quantizationError(h: TensorHistogram, amax: number): QuantizationError {
  checkHistogram(h);
  requireCounts(h);
  if (h.binWidth === 0) return { amax, mse: 0, sqnrDb: Infinity, clippedShare: 0 };
  return errorOn(h, momentsOf(h), amax);
}

/** The bin edge (of the search histogram) whose amax gives the least MSE: a coarse pass, then every edge near the best. */
function mseOptimal(h: TensorHistogram, moments: Moments): QuantizationError {
  const n = h.counts.length;
  let best: QuantizationError | undefined;
  const consider = (edge: number): void => {
    const e = errorOn(h, moments, edge * h.binWidth);
    if (best === undefined || e.mse < best.mse) best = e;
  };
  for (let edge = COARSE_STRIDE; edge < n; edge += COARSE_STRIDE) consider(edge);
  consider(n);
  const center = Math.round(best!.amax / h.binWidth);
  for (let edge = Math.max(1, center - COARSE_STRIDE + 1); edge <= Math.min(n, center + COARSE_STRIDE - 1); edge++) {
    if (edge !== center) consider(edge);
  }
  return best!;
}

/** Weighs every candidate range of one tensor by its quantization MSE and picks the least. */
export function chooseRange(h: TensorHistogram): RangeChoice {
  checkHistogram(h);
  requireCounts(h);
  if (h.binWidth === 0) {
    // Only zeros were seen: every range quantizes them exactly.
    const zero = { amax: 0, mse: 0, sqnrDb: Infinity, clippedShare: 0 };
    return { tensor: h.name, amax: 0, method: 'minmax', candidates: [{ method: 'minmax', ...zero }] };
  }
  // Errors are measured on the histogram the entropy search uses (at most 4096 bins), so the cost is bounded.
  const searched = searchHistogram(h);
  const moments = momentsOf(searched);
  const candidates: RangeCandidate[] = [
    { method: 'mse', ...mseOptimal(searched, moments) },
    { method: 'entropy', ...errorOn(searched, moments, entropyAmax(h)) },
    { method: 'minmax', ...errorOn(searched, moments, h.absMax) },
    ...([99.9, 99.99, 99.999] as const).map((p) => ({ method: `percentile-${p}` as RangeMethod, ...errorOn(searched, moments, percentileAmax(h, p)) })),
  ];
  let chosen = candidates[0]!;
  for (const c of candidates) if (c.mse < chosen.mse) chosen = c;
  return { tensor: h.name, amax: chosen.amax, method: chosen.method, candidates };
}

/** amax chosen by 'auto' for one tensor. */
export function autoAmax(h: TensorHistogram): number {
  return chooseRange(h).amax;
}
