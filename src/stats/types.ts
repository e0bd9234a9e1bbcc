/**
 * The contract between activation collection (src/calibrate) and the statistics engine (src/stats).
 * A histogram of |x| with equal-width bins starting at 0, as NVIDIA's pytorch-quantization
 * HistogramCalibrator keeps it: when a later batch exceeds the range, bins of the same width are appended.
 */
export interface TensorHistogram extends TensorSummary {
  /** counts[i] covers [i * binWidth, (i + 1) * binWidth); the last bin also holds its right edge. */
  readonly counts: Float64Array;
  /** 0 while only zeros were seen: they are all in counts[0] until a non-zero batch sets the range. */
  readonly binWidth: number;
}

/**
 * What a tensor's values were, without their distribution: all that min-max calibration needs (as TensorRT's
 * MinMaxCalibrator and onnxruntime's MinMaxCalibrater keep it). A HistogramCollector created with
 * `histograms: false` collects only this.
 */
export interface TensorSummary {
  readonly name: string;
  /** Running minimum and maximum of the raw (signed) values; +Infinity / -Infinity while count is 0. */
  readonly min: number;
  readonly max: number;
  /** max |x| seen. */
  readonly absMax: number;
  /** Number of finite values seen (for a histogram, the sum of its counts). */
  readonly count: number;
  /** Number of NaN / ±Infinity values skipped. */
  readonly nonFinite: number;
}
