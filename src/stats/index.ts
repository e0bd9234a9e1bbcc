// The statistics engine: native streaming histograms of |x| and the amax algorithms on them.
export type { TensorHistogram, TensorSummary } from './types.js';
export { HistogramCollector, DEFAULT_NUM_BINS, DEFAULT_MAX_BINS, type HistogramCollectorOptions } from './histogram-collector.js';
export { entropyAmax, ENTROPY_MAX_STEPS, EXACT_SEARCH_MAX_BINS, SEARCH_BINS, resampleHistogram, type EntropyOptions } from './entropy.js';
export { percentileAmax } from './percentile.js';
export { legacyAmax, type LegacyOptions } from './legacy.js';
export { minMaxAmax, summaryMinMaxAmax, computeAmax } from './compute-amax.js';
export { chooseRange, autoAmax, quantizationError, type RangeChoice, type RangeCandidate, type RangeMethod, type QuantizationError } from './auto.js';
export { rangeReport, RANGE_REPORT_VERSION, type RangeReport, type RangeReportTensor, type RangeReportCandidate } from './range-report.js';
