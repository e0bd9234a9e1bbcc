export * from './capabilities.js';
export * from './cuda-probe.js';
export * from './tensorrt-locator.js';
