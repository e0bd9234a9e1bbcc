// The public API of trt-int8. Importing it never loads native code, CUDA or TensorRT.
export * from './core/index.js';
export * from './calibrators/index.js';
export * from './cache/index.js';
export * from './capabilities/index.js';
export * from './stats/index.js';
export * from './onnx/index.js';
export * from './calibrate/index.js';
export * from './data/index.js';
export * from './images/index.js';
export * from './bridge/index.js';
export * from './tensorrt/index.js';
export * from './shapes/index.js';
