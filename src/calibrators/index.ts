export * from './types.js';
export * from './algorithms.js';
export * from './calibrator.js';
export * from './validate-batch.js';
export * from './from-batches.js';
