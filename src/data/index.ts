export * from './dataset.js';
export * from './shuffle.js';
export { openNpyDataset, readLabels, resolveDataFiles, type NpyDataset, type NpyDatasetOptions } from './npy-dataset.js';
export { parseNpy, parseNpz, readNpy, readNpz, type NpyArray, type NpyData, type NpyDType } from './npy.js';
