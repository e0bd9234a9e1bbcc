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
// The alternative to fitting, one calibration per profile range with the caches merged, is
// mergeCalibrationCaches in src/cache.
