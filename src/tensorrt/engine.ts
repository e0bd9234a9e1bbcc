/** A built TensorRT engine: its plan bytes, I/O description, layer inspection and inference. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TrtInt8Error } from '../core/errors.js';
import { writeFileAtomic, ioError } from '../core/files.js';
import { validateBatch } from '../core/batch.js';
import type { Batch } from '../core/batch.js';
import type { InputSpec, DType } from '../core/tensor.js';
import { fromNativeError, loadTensorRTModule, type NativeEngine, type NativeTensorRTModule, type NativeVersion } from '../native/index.js';
import { resolveTensorRT } from './select.js';
import { summarizeLayerPrecisions } from './layer-precisions.js';
import type { EngineTensor, InferOptions, InferOutput, InferResult, LayerPrecisionSummary, TensorRTChoice } from './types.js';

/** Loads TensorRT's libraries into the module for `install`'s major, or throws ERR_TENSORRT_NOT_FOUND / _UNSUPPORTED_VERSION. */
export function openTensorRT(choice: TensorRTChoice | undefined): { mod: NativeTensorRTModule; version: NativeVersion } {
  const install = resolveTensorRT(choice);
  const mod = loadTensorRTModule(install.version.major);
  const loaded = mod.loadLibrary(install.libnvinfer, install.libnvonnxparser ?? '');
  if (!loaded.ok) {
    const code = loaded.reason === 'version-mismatch' ? 'ERR_TENSORRT_UNSUPPORTED_VERSION' : 'ERR_TENSORRT_NOT_FOUND';
    throw new TrtInt8Error(code, `Could not load TensorRT from ${install.root}: ${loaded.error}`, {
      input: install.libnvinfer,
      expected: `TensorRT ${mod.compiledVersion.major}.x with libnvinfer and libnvonnxparser`,
      actual: loaded.error,
      fixes: [
        'Check that the CUDA runtime libraries TensorRT needs are on LD_LIBRARY_PATH (ldd ' + install.libnvinfer + ').',
        'Reinstall TensorRT, or point TENSORRT_ROOT at a complete install.',
      ],
    });
  }
  return { mod, version: loaded.version };
}

function toTensor(t: { name: string; dtype: string; shape: readonly number[]; profile?: EngineTensor['profile'] }): EngineTensor {
  return { name: t.name, dtype: t.dtype, shape: [...t.shape], ...(t.profile ? { profile: t.profile } : {}) };
}

function outputView(dtype: string, bytes: Uint8Array): InferOutput['data'] {
  // Copy into a fresh, aligned buffer: the native Buffer may share a pool and have any byteOffset.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  switch (dtype) {
    case 'float32': return new Float32Array(copy.buffer);
    case 'int32': return new Int32Array(copy.buffer);
    case 'int8': return new Int8Array(copy.buffer);
    case 'int64': return new BigInt64Array(copy.buffer);
    default: return copy;
  }
}

const DTYPES: readonly string[] = ['float32', 'float16', 'int8', 'uint8', 'int32', 'int64', 'bool'];

export class Engine {
  readonly #plan: Uint8Array;
  #native: NativeEngine | undefined;
  /** The TensorRT version that built (or loaded) the engine. */
  readonly tensorrtVersion: NativeVersion;
  readonly inputs: readonly EngineTensor[];
  readonly outputs: readonly EngineTensor[];
  readonly #buildWarnings: string[] = [];

  private constructor(plan: Uint8Array, native: NativeEngine, version: NativeVersion) {
    this.#plan = plan;
    this.#native = native;
    this.tensorrtVersion = version;
    const io = native.io();
    this.inputs = io.filter((t) => t.mode === 'input').map(toTensor);
    this.outputs = io.filter((t) => t.mode === 'output').map(toTensor);
  }

  /** @internal Deserializes a plan with an already loaded module. */
  static async fromPlan(plan: Uint8Array, mod: NativeTensorRTModule, version: NativeVersion): Promise<Engine> {
    let native: NativeEngine;
    try {
      native = await mod.deserializeEngine(plan);
    } catch (error) {
      throw fromNativeError(error, 'Engine (deserializing the plan)');
    }
    return new Engine(plan, native, version);
  }

  /** Loads a serialized engine (a file path or its bytes) with the TensorRT that built it. */
  static async load(source: string | Uint8Array, options: { tensorrt?: TensorRTChoice } = {}): Promise<Engine> {
    let plan: Uint8Array;
    if (typeof source === 'string') {
      try {
        plan = new Uint8Array(await fs.readFile(source));
      } catch (cause) {
        throw ioError('read', path.resolve(source), cause);
      }
    } else if (source instanceof Uint8Array) {
      plan = source;
    } else {
      throw new TrtInt8Error('ERR_BAD_OPTION', 'Engine.load takes a file path or the engine bytes.', { input: 'source', expected: 'string | Uint8Array', actual: typeof source });
    }
    const { mod, version } = openTensorRT(options.tensorrt);
    return Engine.fromPlan(plan, mod, version);
  }

  #live(): NativeEngine {
    if (!this.#native) throw new TrtInt8Error('ERR_BAD_OPTION', 'The engine was disposed.', { input: 'engine', expected: 'a live engine', actual: 'disposed' });
    return this.#native;
  }

  /** The serialized engine (TensorRT's plan), as TensorRT wrote it. */
  serialize(): Uint8Array {
    return this.#plan.slice();
  }

  /** Writes the plan atomically (temp file + rename). */
  async save(file: string): Promise<void> {
    await writeFileAtomic(file, this.#plan);
  }

  /** IEngineInspector's description of every layer (precisions, tactics, fused ops), parsed from its JSON. */
  inspect(): { Layers: unknown[]; Bindings?: unknown[] } & Record<string, unknown> {
    let text: string;
    try {
      text = this.#live().inspect();
    } catch (error) {
      throw fromNativeError(error, 'Engine.inspect');
    }
    return JSON.parse(text) as { Layers: unknown[] } & Record<string, unknown>;
  }

  /**
   * How many layers run in INT8, FP16, FP32, and each layer's precision, from the engine inspector. Engines
   * built by buildEngine carry the detail this needs; an engine built elsewhere without
   * ProfilingVerbosity::kDETAILED reports its layers as 'unknown'.
   */
  layerPrecisions(): LayerPrecisionSummary {
    return summarizeLayerPrecisions(this.inspect());
  }

  /** What buildEngine found worth telling about this engine (e.g. an INT8 build in which no layer runs in INT8). */
  get buildWarnings(): readonly string[] {
    return [...this.#buildWarnings];
  }

  /** @internal */
  addBuildWarning(message: string): void {
    this.#buildWarnings.push(message);
  }

  /**
   * Runs the engine on one batch (input name -> TypedArray / ndarray / { data, shape }), off the JS thread.
   * Each input is validated against the engine (dtype, rank, the profile's range) before it reaches the GPU.
   */
  async infer(batch: Batch, options: InferOptions = {}): Promise<InferResult> {
    const native = this.#live();
    const warmup = options.warmup ?? 0;
    const repeat = options.repeat ?? 1;
    if (!Number.isInteger(warmup) || warmup < 0) throw new TrtInt8Error('ERR_BAD_OPTION', 'infer: warmup must be an integer >= 0.', { input: 'warmup', expected: 'integer >= 0', actual: warmup });
    if (!Number.isInteger(repeat) || repeat < 1) throw new TrtInt8Error('ERR_BAD_OPTION', 'infer: repeat must be an integer >= 1.', { input: 'repeat', expected: 'integer >= 1', actual: repeat });
    const cudaGraph = options.cudaGraph ?? false;
    if (typeof cudaGraph !== 'boolean') throw new TrtInt8Error('ERR_BAD_OPTION', 'infer: cudaGraph must be a boolean.', { input: 'cudaGraph', expected: 'boolean', actual: cudaGraph });
    const profileRuns = options.profileRuns ?? 0;
    if (!Number.isInteger(profileRuns) || profileRuns < 0 || profileRuns > 10_000) {
      throw new TrtInt8Error('ERR_BAD_OPTION', 'infer: profileRuns must be an integer from 0 to 10000.', { input: 'profileRuns', expected: 'integer from 0 to 10000', actual: profileRuns });
    }
    const specs: InputSpec[] = this.inputs.map((t) => {
      if (!DTYPES.includes(t.dtype)) {
        throw new TrtInt8Error('ERR_BAD_MODEL', `infer: input "${t.name}" has the type ${t.dtype}, which infer() cannot feed.`, { input: t.name, expected: DTYPES, actual: t.dtype });
      }
      return { name: t.name, dtype: t.dtype as DType, shape: t.shape };
    });
    const normalized = validateBatch(batch, specs, { batchIndex: 0, nonFinite: 'allow' });
    const tensors = specs.map((spec) => {
      const t = normalized.get(spec.name)!;
      const range = this.inputs.find((i) => i.name === spec.name)?.profile;
      if (range && t.shape.some((d, i) => d < range.min[i]! || d > range.max[i]!)) {
        throw new TrtInt8Error('ERR_BAD_BATCH', `infer: input "${spec.name}" is outside the engine's optimization profile.`, {
          input: spec.name,
          expected: `between ${JSON.stringify(range.min)} and ${JSON.stringify(range.max)}`,
          actual: t.shape,
          fixes: ['Split the batch, or rebuild the engine with a wider profile.'],
        });
      }
      return { name: spec.name, dtype: spec.dtype, shape: t.shape, data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
    });
    let raw;
    try {
      raw = await native.infer(tensors, warmup, repeat, cudaGraph, profileRuns);
    } catch (error) {
      throw fromNativeError(error, 'Engine.infer');
    }
    const outputs: Record<string, InferOutput> = {};
    for (const o of raw.outputs) outputs[o.name] = { name: o.name, dtype: o.dtype, shape: [...o.shape], data: outputView(o.dtype, o.data) };
    const layerTimes = raw.layerTimes?.map((l) => ({ name: l.name, ms: l.ms }));
    return { outputs, gpuMs: [...raw.gpuMs], copyInMs: raw.copyInMs, copyOutMs: raw.copyOutMs, cudaGraph: raw.cudaGraph === true, ...(layerTimes ? { layerTimes } : {}) };
  }

  /** Frees the engine's GPU memory now rather than at garbage collection. Inferences in flight finish first. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
