/**
 * The one door to native code: the declarations of what each `.node` file exports (addon-types.ts), their loaders
 * (core-addon.ts, tensorrt-module.ts), the one mapping of native errors (errors.ts), and the probes that find CUDA
 * and TensorRT without loading them. Only this folder loads `.node` files; it imports nothing in src but core/.
 */
export type * from './addon-types.js';
export { packageRoot } from './package-root.js';
export { addonReport, core, nativeModule, loadedNativeModule, EXPECTED_ABI_VERSION, type AddonLoadReport, type NativeModuleName } from './core-addon.js';
export { loadTensorRTModule, tensorRTModulePath, EXPECTED_TENSORRT_MODULE_ABI, SUPPORTED_MAJORS } from './tensorrt-module.js';
export { callNative, fromNativeError, type NativeErrorContext } from './errors.js';
export * from './cuda-probe.js';
export * from './tensorrt-locator.js';
export * from './builder-resource.js';
export { requirePackage, resolvePackageFrom } from './peers.js';
