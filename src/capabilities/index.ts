export * from './capabilities.js';
// The CUDA and TensorRT probes live beside the native code they look for (src/native); they stay public here.
export {
  checkBuilderResource,
  inspectTensorRTDir,
  locateTensorRT,
  probeCuda,
  type BuilderResourceCheck,
  type CudaDevice,
  type CudaReport,
  type LocateTensorRTOptions,
  type NativeCudaProbe,
  type ProbeCudaOptions,
  type TensorRTInstall,
  type TensorRTSource,
} from '../native/index.js';
