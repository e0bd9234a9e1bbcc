// The ground floor's public names: errors, tensor and batch types, batch validation, algorithms, atomic writes.
export * from './errors.js';
export * from './tensor.js';
export * from './batch.js';
export * from './algorithm.js';
export { writeFileAtomic, type WriteFileAtomicOptions } from './files.js';
