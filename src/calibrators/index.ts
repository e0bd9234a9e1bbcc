export * from './calibrator.js';
export * from './from-batches.js';
