// (The .npy/.npz reader is exported through src/calibrate/index.ts.)
export * from './dataset.js';
export * from './shuffle.js';
