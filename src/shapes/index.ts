// Dynamic shapes: fitting batches to TensorRT 10.x's calibration (OPT) shape.
export { fitToShape, float16Bits, type FitAlign, type FitMode, type FitOptions, type FitSample, type FittedTensor } from './fit-to-shape.js';
export {
  fitCalibratorToProfile,
  ShapeFittingCalibrator,
  type FitCalibratorOptions,
  type FitReport,
  type InputFitTotals,
  type OptShapes,
} from './fit-calibrator.js';
// The alternative to fitting: one calibration per profile range, caches merged (lives with the cache codec).
export { mergeCalibrationCaches, type CacheMergeRule, type MergeCalibrationCachesOptions, type MergedCalibrationCache } from '../cache/merge.js';
