/**
 * The one way a native failure becomes a TrtInt8Error. Every native module (the core addon's stats, bridge and cuda
 * modules, and the TensorRT modules) throws Errors that carry their ErrorCode in a `code` property, set by one C++
 * helper (cpp/core/native_error.h); the message stays plain text for people. This file reads that property: no
 * message parsing.
 */
import { ErrorCodes, TrtInt8Error, type ErrorCode } from '../core/errors.js';
import type { NativeCodedError } from './addon-types.js';

const FIXES: Partial<Record<ErrorCode, readonly string[]>> = {
  ERR_CUDA_UNAVAILABLE: [
    'Check that an NVIDIA GPU and driver are present: nvidia-smi must list the device.',
    'In a container, start it with the NVIDIA Container Toolkit (docker run --gpus all ...).',
    "For calibration statistics without a GPU, use host memory: new CalibrationSession({ ..., memory: 'host' }) (no TensorRT build possible then).",
  ],
};

export interface NativeErrorContext {
  /** Extra machine-readable context, e.g. the native job's log lines. */
  readonly details?: Record<string, unknown>;
  /**
   * The code for an error without a known one: node-addon-api's own errors (a misused argument) and binaries built
   * before every module set `code`. Default ERR_BUILD_FAILED.
   */
  readonly fallback?: ErrorCode;
}

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && (ErrorCodes as readonly string[]).includes(code);
}

/**
 * `raw` (anything a native call threw or rejected with) as a TrtInt8Error about `input` (the call that failed, e.g.
 * 'buildEngine', 'DeviceBuffer.copyTo'): its native `code`, its message prefixed with `input`, fixes for its code.
 * TrtInt8Errors (a calibrator's own, passed back through native code) are returned as they are.
 */
export function fromNativeError(raw: unknown, input: string, context: NativeErrorContext = {}): TrtInt8Error {
  if (raw instanceof TrtInt8Error) return raw;
  const nativeCode = raw instanceof Error ? (raw as NativeCodedError).code : undefined;
  const code = isErrorCode(nativeCode) ? nativeCode : (context.fallback ?? 'ERR_BUILD_FAILED');
  const text = raw instanceof Error ? raw.message : String(raw);
  return new TrtInt8Error(code, `${input}: ${text}`, {
    input,
    fixes: FIXES[code] ?? [],
    ...(context.details ? { details: context.details } : {}),
    cause: raw,
  });
}

/** Runs a synchronous native call, rethrowing what it throws through fromNativeError. */
export function callNative<T>(input: string, call: () => T, context?: NativeErrorContext): T {
  try {
    return call();
  } catch (error) {
    throw fromNativeError(error, input, context);
  }
}
