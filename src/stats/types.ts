/**
 * The contract between activation collection (src/calibrate) and the statistics engine (src/stats).
 * A histogram of |x| with equal-width bins starting at 0, as NVIDIA's pytorch-quantization
 * HistogramCalibrator keeps it: when a later batch exceeds the range, bins of the same width are appended.
 */
export interface TensorHistogram {
  readonly name: string;
  /** counts[i] covers [i * binWidth, (i + 1) * binWidth). */
  readonly counts: Float64Array;
  readonly binWidth: number;
  /** Running minimum and maximum of the raw (signed) values. */
  readonly min: number;
  readonly max: number;
  /** max |x| seen. */
  readonly absMax: number;
  /** Number of finite values seen. */
  readonly count: number;
  /** Number of NaN / ±Infinity values skipped. */
  readonly nonFinite: number;
}
