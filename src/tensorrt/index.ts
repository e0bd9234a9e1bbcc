// The TensorRT back end: buildEngine() and Engine (10.x implicit calibration, 11.x Q/DQ). Importing this
// loads nothing native; TensorRT is located and dlopen'd on the first build or load.
export { buildEngine } from './build.js';
export { Engine } from './engine.js';
export { summarizeLayerPrecisions } from './layer-precisions.js';
export { selectTensorRT, resolveTensorRT } from './select.js';
export { tensorRTModulePath, SUPPORTED_MAJORS } from '../native/index.js';
export type {
  BuildEngineOptions,
  BuildProgress,
  EngineTensor,
  InferOptions,
  InferOutput,
  InferResult,
  Int8Route,
  LayerPrecision,
  LayerPrecisionRow,
  LayerPrecisionSummary,
  LogSeverity,
  OptimizationProfile,
  Precision,
  LayerPrecisionChoice,
  LayerTime,
  PrecisionExclusion,
  ShapeRange,
  TensorRTChoice,
  TensorRTLogger,
} from './types.js';
