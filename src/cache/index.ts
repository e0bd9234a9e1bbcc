export * from './calibration-cache.js';
export { mergeCalibrationCaches, type CacheMergeRule, type MergeCalibrationCachesOptions, type MergedCalibrationCache } from './merge.js';
