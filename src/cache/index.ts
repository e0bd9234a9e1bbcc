export * from './calibration-cache.js';
export { writeFileAtomic, type WriteFileAtomicOptions } from './atomic-write.js';
