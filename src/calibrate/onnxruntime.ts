/**
 * The lazily imported onnxruntime-node, an optional peer dependency: only calibrate() and evaluate() need
 * it, so importing trt-int8 never loads it. The interfaces below are the small part of its API we use,
 * declared here so that our types do not depend on a package the user may not have installed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot, requirePackage, resolvePackageFrom } from '../native/index.js';
import { TrtInt8Error } from '../core/errors.js';
import { createRunSession, type RunSession } from '../stats/histogram-collector.js';

export type OrtTensorType = 'float32' | 'float16' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool' | 'string';

export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
  readonly size: number;
  dispose?(): void;
}

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>, fetches?: readonly string[]): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

export interface OrtModule {
  readonly Tensor: new (type: string, data: unknown, dims: readonly number[]) => OrtTensor;
  readonly InferenceSession: {
    create(model: Uint8Array, options?: { executionProviders?: readonly string[]; logSeverityLevel?: number }): Promise<OrtSession>;
  };
  readonly env: { readonly versions?: Record<string, string> };
}

export const ONNXRUNTIME_INSTALL_COMMAND = 'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node';

let cached: OrtModule | undefined;

/** onnxruntime-node, or ERR_ONNXRUNTIME_NOT_FOUND with the install command. `moduleId` exists for tests. */
export function loadOnnxRuntime(moduleId = 'onnxruntime-node'): OrtModule {
  if (cached && moduleId === 'onnxruntime-node') return cached;
  try {
    const ort = requirePackage<OrtModule>(moduleId);
    if (moduleId === 'onnxruntime-node') cached = ort;
    return ort;
  } catch (cause) {
    throw new TrtInt8Error('ERR_ONNXRUNTIME_NOT_FOUND', 'Collecting activation statistics runs the model with onnxruntime-node, which is not installed (or failed to load).', {
      input: 'onnxruntime-node',
      expected: 'an installed onnxruntime-node >= 1.20',
      actual: cause instanceof Error ? cause.message.split('\n')[0] : String(cause),
      fixes: [
        `Install it: ${ONNXRUNTIME_INSTALL_COMMAND} (the variable skips the CUDA download; leave it out to use executionProviders: ['cuda']).`,
        'Or reuse an existing calibration cache: calibrator.readCache() returning it skips collection.',
      ],
      cause,
    });
  }
}

/** Creates a session, turning onnxruntime's load failure into ERR_BAD_MODEL naming the model. */
export async function createSession(ort: OrtModule, bytes: Uint8Array, executionProviders: readonly string[], modelName: string): Promise<OrtSession> {
  try {
    // Severity 3 (errors only): onnxruntime warns about every extra graph output we add otherwise.
    return await ort.InferenceSession.create(bytes, { executionProviders, logSeverityLevel: 3 });
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    // onnxruntime-node says "[bogus] backend not found" for a provider name it does not know.
    const provider = /provider|cuda|backend not found/i.test(message) && executionProviders.some((p) => p !== 'cpu');
    throw new TrtInt8Error(provider ? 'ERR_BAD_OPTION' : 'ERR_BAD_MODEL', `onnxruntime could not load ${modelName}: ${message.split('\n')[0]}`, {
      input: provider ? 'executionProviders' : modelName,
      expected: provider ? 'execution providers this onnxruntime-node build has' : 'a model onnxruntime can run',
      actual: provider ? executionProviders : message,
      fixes: provider
        ? ["Use executionProviders: ['cpu'] (the default).", 'Install onnxruntime-node with its CUDA binaries: npm install onnxruntime-node']
        : ['Check the model with onnx.checker.check_model, or run it once with onnxruntime directly.'],
      cause,
    });
  }
}

/**
 * Set to 'onnxruntime-node' to make calibrate() fetch activations through onnxruntime-node's session.run (copied into
 * JavaScript) instead of counting them where onnxruntime wrote them. For comparisons (bench/calibrate) and tests.
 */
export const RUNNER_ENV = 'TRT_INT8_CALIBRATE_RUNNER';
/** Set to '1' to count each run's histograms while the next batch runs (bench/calibrate --overlap compares). */
export const OVERLAP_ENV = 'TRT_INT8_CALIBRATE_OVERLAP';
/**
 * Batches run at once by the statistics engine's session, each on its share of the cores (see runParallelism).
 * Default 1: one run at a time on all cores.
 */
export const CONCURRENT_RUNS_ENV = 'TRT_INT8_CALIBRATE_CONCURRENT_RUNS';

/**
 * Set to '0' to run each batch whole in each of the runs in flight, instead of cutting it into one slice per run (when
 * the tensors are summarized in the graph and the inputs have a dynamic batch dimension), to compare.
 */
export const SPLIT_BATCHES_ENV = 'TRT_INT8_CALIBRATE_SPLIT_BATCHES';

/**
 * Set to '0' to keep a min-max calibration's activations as graph outputs, summarized after each run, instead of
 * summarizing them inside the graph (TENSOR_SUMMARY_OP), to compare.
 */
export const SUMMARY_OPS_ENV = 'TRT_INT8_CALIBRATE_SUMMARY_OPS';

/**
 * The statistics engine's in-graph summary operator (cpp/core/stats_onnxruntime.h kSummaryDomain, kSummaryOp): float
 * tensor -> float64 [min, max, non-finite count, element count], its output named <tensor><suffix>.
 */
export const TENSOR_SUMMARY_OP = { domain: 'trt_int8.stats', opType: 'TensorSummary', suffix: '::trt_int8_summary' } as const;

/** How the statistics engine's session spreads its runs over the cores. */
/** One run at a time, on onnxruntime's default threads. */
export const SEQUENTIAL_RUNS: RunParallelism = { concurrentRuns: 1, intraOpThreads: 0 };

export interface RunParallelism {
  /** Runs in flight at once (each holds its batch's activations until they are counted). */
  readonly concurrentRuns: number;
  /** onnxruntime intra-op threads of each run; 0 is onnxruntime's default (one per core). */
  readonly intraOpThreads: number;
}

/**
 * How many runs at once, each on cores / runs onnxruntime threads (CONCURRENT_RUNS_ENV overrides the count). Several
 * runs of fewer threads spend less CPU (onnxruntime spends about 20 % more CPU splitting a run over 2 threads than
 * running it on one) and keep the cores busy while a batch's activations are counted, but each run in flight holds its
 * memory. With `summaries` (activations summarized inside the graph, none held until the run ends) that is the model's
 * own working set, and 2 runs are the default: on the PP-OCRv4 detector 335 MiB at peak against onnxruntime-Python's
 * 451. Then a batch that can be cut along its samples is cut into one slice per run (calibrate.ts runSplit), so that
 * the runs in flight hold one batch's working set between them. Without, each run holds every activation it returns (130 MiB more for a second detector run, above
 * onnxruntime-Python's peak), so one run at a time on all cores. Two, not one per core: memory grows with the runs.
 */
export function runParallelism(cores = os.availableParallelism(), { summaries = false } = {}): RunParallelism {
  const requested = Number(process.env[CONCURRENT_RUNS_ENV]);
  const runs = Number.isInteger(requested) && requested >= 1 ? Math.min(requested, 64) : summaries ? Math.min(2, cores) : 1;
  if (runs <= 1) return { concurrentRuns: 1, intraOpThreads: 0 };
  return { concurrentRuns: runs, intraOpThreads: Math.max(1, Math.floor(cores / runs)) };
}

/** onnxruntime's shared library inside the installed onnxruntime-node package, or undefined. */
export function onnxRuntimeLibrary(): string | undefined {
  let entry: string;
  try {
    entry = resolvePackageFrom(packageRoot(), 'onnxruntime-node');
  } catch {
    return undefined;
  }
  // onnxruntime-node's layout since 1.14: <package>/bin/napi-v*/<platform>/<arch>/ beside dist/.
  const bin = path.join(path.dirname(entry), '..', 'bin');
  const pattern = /^(lib)?onnxruntime(\.so\.\d+|\.\d+(\.\d+)*\.dylib|\.dll)$/;
  try {
    for (const napi of fs.readdirSync(bin).filter((d) => d.startsWith('napi-v')).sort().reverse()) {
      const dir = path.join(bin, napi, process.platform, process.arch);
      const file = fs.existsSync(dir) ? fs.readdirSync(dir).find((f) => pattern.test(f)) : undefined;
      if (file) return path.join(dir, file);
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * A session of onnxruntime's C API in the statistics engine (histograms counted where onnxruntime writes its
 * outputs), when it can replace onnxruntime-node's: CPU execution provider only, the library found and loadable.
 * Undefined otherwise (calibrate() then uses onnxruntime-node). A model onnxruntime refuses is ERR_BAD_MODEL.
 */
export function createNativeSession(bytes: Uint8Array, executionProviders: readonly string[], modelName: string, parallelism: RunParallelism = { concurrentRuns: 1, intraOpThreads: 0 }, summaryOps = false): RunSession | undefined {
  if (process.env[RUNNER_ENV] === 'onnxruntime-node') return undefined;
  if (executionProviders.length !== 1 || executionProviders[0] !== 'cpu') return undefined;
  const library = onnxRuntimeLibrary();
  if (!library) return undefined;
  try {
    return createRunSession(library, bytes, parallelism.intraOpThreads, parallelism.concurrentRuns, summaryOps);
  } catch (cause) {
    const code = (cause as { code?: unknown } | null)?.code;
    if (code !== 'ERR_BAD_MODEL') return undefined; // library or addon unusable: onnxruntime-node does the work
    const message = cause instanceof Error ? cause.message : String(cause);
    throw new TrtInt8Error('ERR_BAD_MODEL', `onnxruntime could not load ${modelName}: ${message.split('\n')[0]}`, {
      input: modelName,
      expected: 'a model onnxruntime can run',
      actual: message,
      fixes: ['Check the model with onnx.checker.check_model, or run it once with onnxruntime directly.'],
      cause,
    });
  }
}
