export { calibrate, type CalibrateOptions, type ModelInput, type TensorAlgorithms, type TensorInfo } from './calibrate.js';
export {
  CalibrationResult,
  DEFAULT_TENSORRT_VERSION,
  type CalibrationParameters,
  type CalibrationSummary,
  type ModelCheck,
  type ModelCheckCandidate,
  type ModelCheckSet,
  type TensorCalibration,
  type TensorRTCacheOptions,
  type TensorStep,
  type TensorSteps,
} from './result.js';
export type { ModelCheckOptions } from './model-check.js';
export { evaluate, writeWorstLayerPlots, type EvaluateOptions, type EvaluationData, type EvaluationResult, type TensorAgreement } from './evaluate.js';
export { renderHistogramSvg, type HistogramSvgOptions, type HistogramMark } from './svg.js';
export type { CalibrationProgress } from './progress.js';
export { ONNXRUNTIME_INSTALL_COMMAND } from './onnxruntime.js';
export {
  sensitivityReport,
  sensitivityReportHtml,
  writeSensitivityReport,
  SENSITIVITY_REPORT_VERSION,
  measureEndToEnd,
  type EndToEndOptions,
  type EndToEndRanking,
  type EndToEndTensor,
  type EndToEndVariant,
  type SensitivityReport,
  type SensitivityTensor,
} from './sensitivity-report.js';
export { keepInHigherPrecision, type HeldOutData, type KeptNode, type MixedPrecisionOptions, type MixedPrecisionResult } from './mixed-precision.js';
