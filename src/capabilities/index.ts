export * from './capabilities.js';
// The CUDA and TensorRT probes live by the native code they look for (src/native); they stay public here.
export { probeCuda, type CudaDevice, type CudaReport, type NativeCudaProbe, type ProbeCudaOptions } from '../native/cuda-probe.js';
export {
  inspectTensorRTDir,
  locateTensorRT,
  type LocateTensorRTOptions,
  type TensorRTInstall,
  type TensorRTSource,
} from '../native/tensorrt-locator.js';
export { checkBuilderResource, type BuilderResourceCheck } from '../native/builder-resource.js';
