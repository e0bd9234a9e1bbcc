export * from './calibration-cache.js';
