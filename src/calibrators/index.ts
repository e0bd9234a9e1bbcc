export * from './calibrator.js';
export * from './from-batches.js';
export * from './input-clipping.js';
