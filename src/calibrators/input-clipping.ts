/**
 * Watches the graph inputs of the batches a calibrator hands out, and says when a range TensorRT chose clips a large
 * share of an input's values (issue #10.2): TensorRT's EntropyCalibrator2 cuts a normalised image input at its
 * background spike (Fashion-MNIST: amax ~0.8 where the values reach ~2.0, half the pixels clipped), which costs
 * points of accuracy without a word. Pure TypeScript: a bounded histogram of |x| per input, no native code.
 *
 *   const watch = watchInputClipping(['input']);
 *   watch.observe(batch);                              // every batch the calibrator gives
 *   for (const w of watch.clippingWarnings(scales))    // tensor name -> TensorRT scale (amax / 127)
 *     logger.warn(w);
 */
import { TrtInt8Error } from '../core/errors.js';
import { isFiniteNumber, isNonEmptyString, optionErrors } from '../core/is.js';
import type { NormalizedBatch, TypedArray } from '../core/tensor.js';
import type { Batch } from '../core/batch.js';

/** Bins of each input's |x| histogram: the memory per input is this many doubles, whatever the data. */
export const CLIPPING_HISTOGRAM_BINS = 2048;
/** The share of an input's values a range may clip before clippingWarnings speaks (1 %). */
export const DEFAULT_CLIPPING_THRESHOLD = 0.01;
/** Symmetric INT8: amax = scale * 127. */
const INT8_MAX = 127;

const badOption = optionErrors('watchInputClipping');

/** What was seen of one input: how many values, the largest |x|, and the share beyond any amax. */
export interface ObservedInput {
  readonly name: string;
  /** Finite values seen. */
  readonly count: number;
  /** NaN / ±Infinity seen (not in the histogram). */
  readonly nonFinite: number;
  /** The largest finite |x| seen (0 before any value). */
  readonly absMax: number;
  /** The share (0..1) of the finite values with |x| > amax, estimated on the histogram (linear inside a bin). */
  clippedShare(amax: number): number;
}

export interface InputClippingWatch {
  /** Records the watched inputs of one batch (a Batch as calibrators return it, or a validated NormalizedBatch). */
  observe(batch: Batch | NormalizedBatch): void;
  /**
   * One warning per watched input whose TensorRT scale (amax = scale * 127) clips more than `threshold` (default 1 %)
   * of the values observed; inputs without a scale in `scales`, or never observed, are skipped.
   */
  clippingWarnings(scales: ReadonlyMap<string, number>, threshold?: number): string[];
  /** What was seen of an input (undefined for a name not watched). */
  observed(name: string): ObservedInput | undefined;
}

/**
 * A histogram of |x| over [0, binWidth * BINS) that never grows: a value beyond its range doubles the bin width
 * (merging bins pairwise) until it fits, so memory is bounded and the resolution is at least absMax / BINS. Each bin
 * also keeps the least and largest |x| it holds, so a spike (many equal values, like a normalised image's
 * background) is counted exactly on either side of an amax that falls in its bin.
 */
class AbsHistogram implements ObservedInput {
  readonly counts = new Float64Array(CLIPPING_HISTOGRAM_BINS);
  readonly lows = new Float64Array(CLIPPING_HISTOGRAM_BINS).fill(Infinity);
  readonly highs = new Float64Array(CLIPPING_HISTOGRAM_BINS).fill(-Infinity);
  binWidth = 0;
  count = 0;
  nonFinite = 0;
  absMax = 0;
  /** Exact zeros seen before the first non-zero value fixed the bin width. */
  #zeros = 0;

  constructor(readonly name: string) {}

  add(values: ArrayLike<number | bigint>, isFloat16: boolean): void {
    let batchMax = 0;
    for (let i = 0; i < values.length; i++) {
      const a = Math.abs(toNumber(values[i]!, isFloat16));
      if (a > batchMax) batchMax = a;
    }
    if (batchMax > 0 && Number.isFinite(batchMax)) this.#cover(batchMax);
    else if (batchMax === Infinity) this.#coverFinite(values, isFloat16);
    const { counts, lows, highs } = this;
    const width = this.binWidth;
    for (let i = 0; i < values.length; i++) {
      const a = Math.abs(toNumber(values[i]!, isFloat16));
      if (!Number.isFinite(a)) {
        this.nonFinite++;
        continue;
      }
      this.count++;
      if (a > this.absMax) this.absMax = a;
      if (width === 0) {
        this.#zeros++;
        continue;
      }
      const bin = Math.min(CLIPPING_HISTOGRAM_BINS - 1, Math.floor(a / width));
      counts[bin]! += 1;
      if (a < lows[bin]!) lows[bin] = a;
      if (a > highs[bin]!) highs[bin] = a;
    }
  }

  /** A batch holding ±Infinity: the range is that of its finite values. */
  #coverFinite(values: ArrayLike<number | bigint>, isFloat16: boolean): void {
    let max = 0;
    for (let i = 0; i < values.length; i++) {
      const a = Math.abs(toNumber(values[i]!, isFloat16));
      if (Number.isFinite(a) && a > max) max = a;
    }
    if (max > 0) this.#cover(max);
  }

  /** Widens the bins until `max` falls inside the histogram. */
  #cover(max: number): void {
    if (this.binWidth === 0) {
      // The first non-zero values: some headroom, so later batches rarely force a merge.
      this.binWidth = (max * 1.25) / CLIPPING_HISTOGRAM_BINS;
      if (this.#zeros > 0) {
        this.counts[0]! += this.#zeros;
        this.lows[0] = 0;
        this.highs[0] = Math.max(this.highs[0]!, 0);
      }
      this.#zeros = 0;
      return;
    }
    while (max >= this.binWidth * CLIPPING_HISTOGRAM_BINS) {
      const { counts, lows, highs } = this;
      const half = CLIPPING_HISTOGRAM_BINS / 2;
      for (let i = 0; i < half; i++) {
        counts[i] = counts[2 * i]! + counts[2 * i + 1]!;
        lows[i] = Math.min(lows[2 * i]!, lows[2 * i + 1]!);
        highs[i] = Math.max(highs[2 * i]!, highs[2 * i + 1]!);
      }
      counts.fill(0, half);
      lows.fill(Infinity, half);
      highs.fill(-Infinity, half);
      this.binWidth *= 2;
    }
  }

  clippedShare(amax: number): number {
    if (this.count === 0 || !(amax < this.absMax) || this.binWidth === 0) return 0;
    const limit = Math.max(0, amax);
    const bin = Math.min(CLIPPING_HISTOGRAM_BINS - 1, Math.floor(limit / this.binWidth));
    let beyond = 0;
    for (let i = bin + 1; i < CLIPPING_HISTOGRAM_BINS; i++) beyond += this.counts[i]!;
    // The bin that holds amax: its values lie in [low, high]; taken as uniform there (exact for a spike, low = high).
    const inBin = this.counts[bin]!;
    const low = this.lows[bin]!;
    const high = this.highs[bin]!;
    if (inBin > 0 && limit < high) beyond += limit < low ? inBin : (inBin * (high - limit)) / (high - low);
    return Math.min(1, beyond / this.count);
  }
}

function toNumber(value: number | bigint, isFloat16: boolean): number {
  if (typeof value === 'bigint') return Number(value);
  return isFloat16 ? halfToNumber(value) : value;
}

/** IEEE 754 half-precision bits (float16 inputs arrive as Uint16Array) to a number. */
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** The values of one input in a batch, whatever form the batch gives them in, and whether they are float16 bits. */
function valuesOf(batch: Batch | NormalizedBatch, name: string): { values: ArrayLike<number | bigint>; isFloat16: boolean } | undefined {
  const value = batch instanceof Map ? (batch as NormalizedBatch).get(name) : (batch as Batch)[name];
  if (value === undefined) return undefined;
  if (ArrayBuffer.isView(value)) return { values: value as unknown as ArrayLike<number>, isFloat16: false };
  const { data, dtype, stride, shape, offset } = value as { data?: unknown; dtype?: string; stride?: unknown; shape?: unknown; offset?: unknown };
  if (!ArrayBuffer.isView(data)) return undefined;
  const typed = data as TypedArray;
  const isFloat16 = dtype === 'float16';
  if (Array.isArray(stride) && Array.isArray(shape)) return { values: stridedValues(typed, shape as number[], stride as number[], (offset as number) ?? 0), isFloat16 };
  return { values: typed as unknown as ArrayLike<number | bigint>, isFloat16 };
}

/** The elements an ndarray view addresses (shape, stride, offset), in any order: |x| statistics need no order. */
function stridedValues(data: TypedArray, shape: readonly number[], stride: readonly number[], offset: number): (number | bigint)[] {
  const out: (number | bigint)[] = [];
  const index = new Array<number>(shape.length).fill(0);
  const size = shape.reduce((a, b) => a * b, 1);
  let at = offset;
  for (let k = 0; k < size; k++) {
    out.push((data as unknown as ArrayLike<number | bigint>)[at]!);
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d]!++;
      at += stride[d]!;
      if (index[d]! < shape[d]!) break;
      at -= shape[d]! * stride[d]!;
      index[d] = 0;
    }
  }
  return out;
}

const percent = (share: number) => `${(share * 100).toFixed(share < 0.1 ? 2 : 1)} %`;
const short = (x: number) => Number(x.toPrecision(4)).toString();

/**
 * Watches the named graph inputs: `observe(batch)` for every batch given to TensorRT, then `clippingWarnings(scales)`
 * with the scales TensorRT chose (e.g. parsed from its calibration cache). ERR_BAD_OPTION for a bad name list.
 */
export function watchInputClipping(inputNames: readonly string[]): InputClippingWatch {
  if (!Array.isArray(inputNames) || inputNames.length === 0 || !inputNames.every(isNonEmptyString)) {
    throw badOption('inputNames', 'a non-empty array of graph input names', Array.isArray(inputNames) ? inputNames : typeof inputNames);
  }
  const histograms = new Map(inputNames.map((name) => [name, new AbsHistogram(name)]));
  let batches = 0;
  return {
    observe(batch) {
      if (batch === null || typeof batch !== 'object') throw badOption('batch', 'a batch: input name -> values', batch === null ? 'null' : typeof batch);
      for (const [name, histogram] of histograms) {
        const found = valuesOf(batch, name);
        if (!found) {
          const present = batch instanceof Map ? [...batch.keys()] : Object.keys(batch);
          throw new TrtInt8Error('ERR_BAD_BATCH', `watchInputClipping: batch ${batches} has no values for the watched input "${name}".`, {
            input: name,
            expected: `a TypedArray or { data, shape } for "${name}"`,
            actual: present.length ? `inputs ${present.join(', ')}` : 'an empty batch',
            fixes: ['Watch the graph inputs the calibrator feeds: watchInputClipping(model.inputs().map((i) => i.name)).'],
          });
        }
        histogram.add(found.values, found.isFloat16);
      }
      batches++;
    },

    clippingWarnings(scales, threshold = DEFAULT_CLIPPING_THRESHOLD) {
      if (!(scales instanceof Map)) throw badOption('scales', 'a Map of tensor name -> TensorRT scale', scales === null ? 'null' : typeof scales);
      if (!isFiniteNumber(threshold) || threshold < 0 || threshold >= 1) throw badOption('threshold', 'a share in [0, 1), e.g. 0.01 for 1 %', threshold);
      const warnings: string[] = [];
      for (const [name, histogram] of histograms) {
        const scale = scales.get(name);
        if (scale === undefined || histogram.count === 0) continue;
        if (!isFiniteNumber(scale) || scale < 0) throw badOption(`scales.${name}`, 'a finite scale >= 0', scale);
        const amax = scale * INT8_MAX;
        const share = histogram.clippedShare(amax);
        if (share <= threshold) continue;
        warnings.push(
          `The INT8 range of input "${name}" clips ${percent(share)} of its calibration values: amax ${short(amax)} (scale ${scale.toExponential(3)}), ` +
            `but |x| reaches ${short(histogram.absMax)}. Use the library's default ranges (algorithm 'auto'), or keep this input's full range with ` +
            `tensorAlgorithms: { ${JSON.stringify(name)}: 'minmax' } (on the command line: --tensor-algorithm ${name}=minmax).`,
        );
      }
      return warnings;
    },

    observed(name) {
      return histograms.get(name);
    },
  };
}
