/**
 * The typed raw binding of the TensorRT modules (cpp/tensorrt/trt_module.cc), one .node file per TensorRT
 * major: trt_int8_trt10.node, trt_int8_trt11.node. They are separate from the core addon (src/native/binding.ts)
 * because they are built only where TensorRT's headers are (`npm run build:tensorrt`), never by CI.
 * Keep these declarations in step with trt_module.cc.
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { TrtInt8Error } from '../core/errors.js';
import { packageRoot } from '../native/binding.js';

export interface NativeVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

export type NativeLoadResult =
  | { readonly ok: true; readonly version: NativeVersion; readonly nvinferPath: string; readonly onnxparserPath: string }
  | { readonly ok: false; readonly error: string; readonly reason: 'not-found' | 'missing-symbol' | 'version-mismatch' };

export interface NativeShapeRange {
  readonly min: readonly number[];
  readonly opt: readonly number[];
  readonly max: readonly number[];
}

/** What createBuildJob reads (all validated in src/tensorrt/options.ts first). */
export interface NativeBuildSpec {
  readonly onnx: Uint8Array;
  readonly onnxPath?: string;
  readonly precision: 'fp32' | 'fp16' | 'int8' | 'best';
  readonly calibrator: 'none' | 'entropy2' | 'entropy' | 'minmax' | 'legacy';
  readonly legacyQuantile?: number;
  readonly legacyRegressionCutoff?: number;
  readonly profiles: readonly Readonly<Record<string, NativeShapeRange>>[];
  readonly calibrationProfile?: Readonly<Record<string, readonly number[]>>;
  readonly workspaceBytes?: number;
  /** Present (maybe empty) = use a timing cache starting from these bytes. */
  readonly timingCache?: Uint8Array;
  readonly builderOptimizationLevel?: number;
  /** TensorRT layer names kept in FP32 (10.x). */
  readonly exclude?: readonly string[];
  /** Highest ILogger severity number forwarded (0 internal error .. 4 verbose). */
  readonly maxLogSeverity: number;
}

/** Opaque handles: `job` goes to the core's bridge.runJob, `result` to takeBuildResult afterwards. */
export interface NativeBuildJob {
  readonly job: object;
  readonly result: object;
}

export interface NativeBuildResult {
  readonly plan: Uint8Array;
  readonly timingCache?: Uint8Array;
  readonly calibrationBatches: number;
  readonly calibrationCacheUsed: boolean;
  readonly excludedLayers: readonly string[];
}

export interface NativeTensorInfo {
  readonly name: string;
  readonly mode: 'input' | 'output';
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly profile?: NativeShapeRange;
}

export interface NativeHostTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

export interface NativeInferResult {
  readonly outputs: readonly NativeHostTensor[];
  readonly gpuMs: readonly number[];
  readonly copyInMs: number;
  readonly copyOutMs: number;
}

export interface NativeEngine {
  io(): NativeTensorInfo[];
  /** IEngineInspector's JSON (LayerInformationFormat::kJSON). */
  inspect(): string;
  infer(inputs: readonly NativeHostTensor[], warmup: number, repeat: number): Promise<NativeInferResult>;
  dispose(): void;
}

export interface NativeTensorRTModule {
  readonly moduleAbiVersion: number;
  readonly bridgeAbiVersion: number;
  /** The TensorRT headers the module was compiled against. */
  readonly compiledVersion: NativeVersion;
  /** True for 10.x (calibrators, kINT8), false for 11.x (Q/DQ only). */
  readonly implicitQuantization: boolean;
  loadLibrary(nvinferPath: string, onnxparserPath?: string): NativeLoadResult;
  createBuildJob(spec: NativeBuildSpec): NativeBuildJob;
  takeBuildResult(result: object): NativeBuildResult | null;
  deserializeEngine(plan: Uint8Array): Promise<NativeEngine>;
}

export const EXPECTED_TENSORRT_MODULE_ABI = 1;
export const SUPPORTED_MAJORS = [10, 11] as const;

/** Where the module for `major` is looked for: $TRT_INT8_TENSORRT_MODULE_DIR, then <package>/build/tensorrt. */
export function tensorRTModulePath(major: number, env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.TRT_INT8_TENSORRT_MODULE_DIR ? path.resolve(env.TRT_INT8_TENSORRT_MODULE_DIR) : path.join(packageRoot(), 'build', 'tensorrt');
  return path.join(dir, `trt_int8_trt${major}.node`);
}

const loaded = new Map<string, NativeTensorRTModule>();

/** Loads the module for a TensorRT major, or throws ERR_ADDON_NOT_FOUND with the build command. */
export function loadTensorRTModule(major: number, env: NodeJS.ProcessEnv = process.env): NativeTensorRTModule {
  const file = tensorRTModulePath(major, env);
  const cached = loaded.get(file);
  if (cached) return cached;
  const fixes = [
    `Build it where TensorRT ${major}.x headers are: TENSORRT_INCLUDE=/path/to/TensorRT-${major}.x/include npm run build:tensorrt`,
    'Or point TRT_INT8_TENSORRT_MODULE_DIR at the folder that holds a built trt_int8_trt<major>.node.',
  ];
  if (!fs.existsSync(file)) {
    throw new TrtInt8Error('ERR_ADDON_NOT_FOUND', `The trt-int8 module for TensorRT ${major}.x is not built.`, {
      input: file,
      expected: `trt_int8_trt${major}.node`,
      actual: 'no such file',
      fixes,
    });
  }
  let mod: NativeTensorRTModule;
  try {
    mod = createRequire(__filename)(file) as NativeTensorRTModule;
  } catch (cause) {
    throw new TrtInt8Error('ERR_ADDON_NOT_FOUND', `Could not load the trt-int8 module for TensorRT ${major}.x.`, {
      input: file,
      expected: 'a loadable Node addon',
      actual: cause instanceof Error ? cause.message.split('\n')[0] : String(cause),
      fixes,
      cause,
    });
  }
  if (mod.moduleAbiVersion !== EXPECTED_TENSORRT_MODULE_ABI || mod.compiledVersion?.major !== major) {
    throw new TrtInt8Error('ERR_ADDON_NOT_FOUND', `${file} is from another version of trt-int8 or for another TensorRT major.`, {
      input: file,
      expected: { moduleAbiVersion: EXPECTED_TENSORRT_MODULE_ABI, major },
      actual: { moduleAbiVersion: mod.moduleAbiVersion, major: mod.compiledVersion?.major },
      fixes: ['Rebuild it: npm run build:tensorrt'],
    });
  }
  loaded.set(file, mod);
  return mod;
}

/**
 * Turns a native error ("CODE: message", see cpp/tensorrt) into a TrtInt8Error with that code; messages
 * without a known code become ERR_BUILD_FAILED.
 */
export function nativeError(raw: unknown, context: string, details: Record<string, unknown> = {}): TrtInt8Error {
  if (raw instanceof TrtInt8Error) return raw;
  const text = raw instanceof Error ? raw.message : String(raw);
  const match = /^(ERR_[A-Z_]+|ABORT_ERR): ([\s\S]*)$/.exec(text);
  const code = (match?.[1] ?? 'ERR_BUILD_FAILED') as TrtInt8Error['code'];
  const message = match?.[2] ?? text;
  return new TrtInt8Error(code, `${context}: ${message}`, { details, cause: raw });
}
