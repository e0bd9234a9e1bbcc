export * from './decode.js';
export * from './preprocess.js';
export * from './image-calibrator.js';
