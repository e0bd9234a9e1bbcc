/**
 * The contract between activation collection (src/calibrate) and the statistics engine (src/stats).
 * A histogram of |x| with equal-width bins starting at 0, as NVIDIA's pytorch-quantization
 * HistogramCalibrator keeps it: when a later batch exceeds the range, bins of the same width are appended.
 */
export interface TensorHistogram {
  readonly name: string;
  /** counts[i] covers [i * binWidth, (i + 1) * binWidth); the last bin also holds its right edge. */
  readonly counts: Float64Array;
  /** 0 while only zeros were seen: they are all in counts[0] until a non-zero batch sets the range. */
  readonly binWidth: number;
  /** Running minimum and maximum of the raw (signed) values; +Infinity / -Infinity while count is 0. */
  readonly min: number;
  readonly max: number;
  /** max |x| seen. */
  readonly absMax: number;
  /** Number of finite values seen (the sum of counts). */
  readonly count: number;
  /** Number of NaN / ±Infinity values skipped. */
  readonly nonFinite: number;
}
