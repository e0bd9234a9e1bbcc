/** Turns the coded plain Errors the native bridge/cuda modules throw into TrtInt8Errors with fixes. */
import { ErrorCodes, TrtInt8Error, type ErrorCode } from '../core/errors.js';

const CUDA_FIXES = [
  'Check that an NVIDIA GPU and driver are present: nvidia-smi must list the device.',
  'In a container, start it with the NVIDIA Container Toolkit (docker run --gpus all ...).',
  "Use host memory instead: new CalibrationSession({ ..., memory: 'host' }) (no TensorRT build possible then).",
];

export function fromNativeError(error: unknown, input: string): unknown {
  if (error instanceof TrtInt8Error || !(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string' || !(ErrorCodes as readonly string[]).includes(code)) return error;
  return new TrtInt8Error(code as ErrorCode, error.message, {
    input,
    fixes: code === 'ERR_CUDA_UNAVAILABLE' ? CUDA_FIXES : [],
    cause: error,
  });
}

/** Runs a native call, rethrowing its coded errors as TrtInt8Error. */
export function callNative<T>(input: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw fromNativeError(error, input);
  }
}
