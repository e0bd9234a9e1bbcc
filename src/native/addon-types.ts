/**
 * What each `.node` file exports, declared exactly and nothing else (types only: no code runs here).
 * - the core addon (cpp/core, trt_int8_core.node or the prebuild): one object per native module, registered
 *   under its key by TRT_INT8_MODULE(name, ...): stats, bridge, cuda;
 * - the TensorRT modules (cpp/tensorrt/trt_module.cc), one per TensorRT major: trt_int8_trt10.node, trt_int8_trt11.node.
 * Keep each interface in step with its C++ file. Every native module throws Errors whose `code` property is an
 * ErrorCode (cpp/core/native_error.h); src/native/errors.ts turns them into TrtInt8Errors.
 * The loaders beside this file (core-addon.ts, tensorrt-module.ts) are the only code that loads a `.node` file.
 */

declare const handleKind: unique symbol;

/** An opaque native handle (a napi External): JS can only pass it back to the native call that expects this kind. */
export type NativeHandle<Kind extends string> = object & { readonly [handleKind]: Kind };

/** A TrtInt8NativeJob (cpp/core/bridge_abi.h), made by a TensorRT module or the test driver; bridge.runJob consumes it. */
export type NativeJobExternal = NativeHandle<'TrtInt8NativeJob'>;

/** A build's result slot (cpp/tensorrt/trt_build_job.h BuildResult); TensorRT modules' takeBuildResult reads it. */
export type NativeBuildResultHandle = NativeHandle<'BuildResult'>;

/** The `code` every native module sets on the Errors it throws (an ErrorCode of src/core/errors.ts). */
export interface NativeCodedError extends Error {
  readonly code?: string;
}

// =================================== the core addon =============================================

// ---- stats (cpp/core/stats_*.cc) -------------------------------------------------------------
/**
 * One tensor's committed histogram of |x| (cpp/core/stats_histogram.h); binWidth 0 while only zeros were seen.
 * counts, binWidth and rangeMax are absent from a collector created with histograms = false (summaries only).
 */
export interface NativeTensorHistogram {
  readonly name: string;
  readonly counts?: Float64Array;
  readonly binWidth?: number;
  /** Upper edge of the last bin (float32, as torch.histc's max). */
  readonly rangeMax?: number;
  readonly min: number;
  readonly max: number;
  readonly absMax: number;
  readonly count: number;
  readonly nonFinite: number;
}

/** How a batch that was not committed ended; add() resolves undefined when it was committed. */
export type NativeBatchOutcome =
  | { readonly kind: 'aborted' }
  | { readonly kind: 'outOfMemory' };

/** cpp/core/stats_module.cc. Arguments are validated in src/stats/histogram-collector.ts; native throws TypeError on misuse. */
export interface NativeHistogramCollector {
  /** Starts one batch on the collector's own threads (at most one at a time); the arrays are copied before it returns. */
  add(names: readonly string[], values: readonly Float32Array[]): Promise<NativeBatchOutcome | undefined>;
  /** Cancels the running batch, if any: it then resolves { kind: 'aborted' } and nothing of it is committed. */
  cancel(): void;
  /** Copies of the committed histograms, in first-seen order. */
  snapshot(): NativeTensorHistogram[];
  tensorNames(): string[];
  /** Joins the threads (after the running batch settles) and frees the histograms. */
  dispose(): void;
}

/** cpp/core/stats_onnxruntime.cc: one onnxruntime run, its outputs left where onnxruntime wrote them. */
export type NativeRunOutcome =
  | { readonly kind: 'ran'; readonly outputs: unknown; readonly elements: number[]; readonly runMs: number }
  | { readonly kind: 'runFailed'; readonly message: string }
  | { readonly kind: 'outOfMemory' };

/** A CPU session of onnxruntime's C API, from the library onnxruntime-node ships. */
export interface NativeRunSession {
  run(names: string[], types: number[], shapes: number[][], values: ArrayBufferView[], fetches: string[]): Promise<NativeRunOutcome>;
  cancelRuns(): void;
  release(): void;
}

/** A collector that also counts a run's outputs in place (the `outputs` handle of a 'ran' outcome). */
export interface NativeOutputsCollector extends NativeHistogramCollector {
  /** summaryOf[i], when not empty: output i is the in-graph summary (TensorSummary) of that tensor. */
  addOutputs(handle: unknown, summaryOf?: readonly string[]): Promise<NativeBatchOutcome | undefined>;
}

export interface NativeStatsModule {
  /** histograms false: min, max and counts of finite and non-finite values only (no bins counted). */
  readonly HistogramCollector: new (numBins: number, threads: number, maxBins: number, histograms?: boolean) => NativeHistogramCollector;
  /**
   * Absent from an addon built before the onnxruntime session existed. concurrentRuns (default 1): runs at once, each
   * on a thread of the session's; they may then settle out of call order.
   */
  readonly OnnxRuntimeSession?: new (libraryPath: string, model: Uint8Array, intraOpThreads: number, concurrentRuns?: number, summaryOps?: boolean) => NativeRunSession;
}

// ---- bridge (cpp/core/bridge_*.cc) -----------------------------------------------------------
/** cpp/core/bridge_session.cc: one input's staging (and device) memory per name, byte sizes fixed. */
export interface NativeBridgeSession {
  readonly memory: 'host' | 'cuda';
  readonly busy: boolean;
  readonly disposed: boolean;
  /** 1, or 2 when the bridge reads one batch ahead (JS fills one slot while the other is in use). */
  readonly slots: number;
  /** [slot][input]: zero-copy ArrayBuffers over the staging memory; null entries where external buffers are refused. */
  inputArrays(options?: { forceCopy?: boolean }): (ArrayBuffer | null)[][];
  /** Copies a view of exactly the input's byteLength into a slot's staging memory (the fallback path). */
  stage(slot: number, index: number, view: ArrayBufferView): void;
  /** Copies the last batch delivered to the job (device memory for CUDA sessions) for one input into `view`. */
  readBack(index: number, view: ArrayBufferView): void;
  dispose(): void;
}

/** Request kinds the job thread sends; reply with TRT_INT8_* status numbers (bridge_abi.h). */
export type NativeBridgeRequest =
  | { kind: 'batch'; id: number; payload: number /* the slot to fill */ }
  | { kind: 'readCache'; id: number; payload: undefined }
  | { kind: 'writeCache'; id: number; payload: Uint8Array }
  | { kind: 'log'; id: 0; payload: NativeLogLine };

export interface NativeLogLine {
  /** nvinfer1::ILogger::Severity: 0 internal error, 1 error, 2 warning, 3 info, 4 verbose. */
  readonly severity: number;
  readonly message: string;
}

export interface NativeJobResult {
  readonly status: 'ok' | 'failed' | 'aborted';
  /** What run() returned (0 = success). */
  readonly runStatus: number;
  /** Batches handed to the job (get_batch calls that returned a batch). */
  readonly delivered: number;
  readonly runError?: string;
  /** Why the job was stopped (abort, failed callback, teardown, bridge error), if it was. */
  readonly stopReason?: string;
  readonly log: NativeLogLine[];
  readonly droppedLogLines: number;
  /** Lines the bounded live queue could not take (counted, and JS told), and its highest length. */
  readonly logLinesNotDelivered: number;
  readonly logQueueHighWater: number;
}

export interface NativeJobRun {
  readonly promise: Promise<NativeJobResult>;
  /** Answers request `id`; false when it is stale (the job stopped or moved on). */
  reply(id: number, status: number, bytes?: ArrayBufferView): boolean;
  /** Wakes the job thread; source calls then fail and is_aborted() is true. */
  abort(): void;
}

export interface NativeTestDriverResults {
  readonly batches: number;
  /** FNV-1a (32-bit) of each input's bytes, per batch, in the order of the driver's inputs. */
  readonly checksums: number[][];
  /** 1 present, 0 absent, -1 failed, -2 not asked. */
  readonly readStatus: number;
  readonly cacheRead: Uint8Array | null;
  /** 0 written, -1 failed, -2 not asked. */
  readonly writeStatus: number;
  readonly memory: 'host' | 'cuda' | 'unknown';
  readonly endedBy: 'end' | 'source' | 'driver';
}

export interface NativeTestDriverOptions {
  inputs: readonly { name: string; byteLength: number }[];
  maxBatches?: number;
  delayMs?: number;
  readCache?: boolean;
  writeCache?: 'echo' | ArrayBufferView | null;
  checksum?: boolean;
  failAfterBatches?: number;
}

export interface NativeBridgeModule {
  /** TRT_INT8_BRIDGE_ABI_VERSION of cpp/core/bridge_abi.h. */
  readonly abiVersion: number;
  readonly Session: new (options: {
    inputs: readonly { name: string; byteLength: number }[];
    memory: 'host' | 'cuda';
    device?: number;
    slots?: 1 | 2;
  }) => NativeBridgeSession;
  runJob(
    job: NativeJobExternal,
    session: NativeBridgeSession,
    onRequest: (kind: NativeBridgeRequest['kind'], id: number, payload: unknown) => void,
  ): NativeJobRun;
  createTestDriverJob(options: NativeTestDriverOptions): { job: NativeJobExternal; results(): NativeTestDriverResults };
  /** Job threads started and not yet joined, process-wide. */
  liveJobThreads(): number;
  /**
   * Stops every running job and blocks until each job thread has returned (at most `timeoutMs`); true if they all
   * did. For process.on('exit') only: the JS thread waits.
   */
  stopJobsForExit(timeoutMs: number): boolean;
}

// ---- cuda (cpp/core/cuda_*.cc) ---------------------------------------------------------------
export interface NativeCudaDevice {
  readonly index: number;
  readonly name: string;
  /** [major, minor]: [9, 0] is sm_90 (H100/H200). */
  readonly computeCapability: readonly [number, number];
  /** Bytes. */
  readonly totalMemory: number;
}

/** cuda.probe(): never throws for a missing driver; says so in `available` and `reason`. */
export interface NativeCudaProbeResult {
  readonly available: boolean;
  readonly reason?: string;
  /** cuDriverGetVersion's value, e.g. 12040 for CUDA 12.4. */
  readonly driverVersion?: number;
  readonly libraryPath?: string;
  readonly devices: readonly NativeCudaDevice[];
}

export interface NativePinnedBuffer {
  readonly byteLength: number;
  readonly disposed: boolean;
  /** A zero-copy view that keeps the memory alive; null where external buffers are refused. */
  arrayBuffer(): ArrayBuffer | null;
  copyFrom(source: ArrayBufferView | ArrayBuffer, byteOffset?: number): void;
  copyTo(target: ArrayBufferView | ArrayBuffer, byteOffset?: number): void;
  dispose(): void;
}

export interface NativeDeviceBuffer {
  readonly byteLength: number;
  readonly disposed: boolean;
  readonly device: number;
  /** The CUdeviceptr, for handing to other native code. */
  readonly address: bigint;
  copyFrom(source: ArrayBufferView | ArrayBuffer | NativePinnedBuffer, byteOffset?: number): void;
  copyTo(target: ArrayBufferView | ArrayBuffer | NativePinnedBuffer, byteOffset?: number): void;
  dispose(): void;
}

export interface NativeCudaModule {
  probe(): NativeCudaProbeResult;
  readonly PinnedBuffer: new (byteLength: number, device?: number) => NativePinnedBuffer;
  readonly DeviceBuffer: new (byteLength: number, device?: number) => NativeDeviceBuffer;
}

export interface NativeCore {
  /** Bumped when any declaration here changes incompatibly; the loader refuses a mismatch. */
  readonly abiVersion: number;
  /** Names of the native modules compiled into this build. */
  readonly modules: readonly string[];
  readonly stats: NativeStatsModule;
  readonly bridge: NativeBridgeModule;
  readonly cuda: NativeCudaModule;
}

// ============================ the TensorRT modules (one per major) ===============================

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
  /** 10.x: the precision asked of each layer (ONNX node's layer name, or '*' for every floating-point layer). */
  readonly layerPrecisions?: readonly { readonly layer: string; readonly precision: 'int8' | 'fp16' | 'fp32' }[];
  /** 10.x: how TensorRT treats layerPrecisions and exclude (default 'prefer'). */
  readonly precisionConstraints?: 'prefer' | 'obey';
  /** Highest ILogger severity number forwarded (0 internal error .. 4 verbose). */
  readonly maxLogSeverity: number;
  /** Bit mask of the ILogger severities the JS logger reads (bit n = severity n); filtered in C++ before formatting. */
  readonly logSeverityMask: number;
  /** Send (coalesced) progress events to JS; without it the progress monitor only checks abort. */
  readonly forwardProgress: boolean;
  /** 10.x: create the network with kSTRONGLY_TYPED (precision 'fp32', no calibrator). */
  readonly stronglyTyped?: boolean;
  /** 10.x Entropy / Legacy calibrators: calibrate before layer fusion (default true). */
  readonly calibrateBeforeFusion?: boolean;
}

/** Opaque handles: `job` goes to the core's bridge.runJob, `result` to takeBuildResult afterwards. */
export interface NativeBuildJob {
  readonly job: NativeJobExternal;
  readonly result: NativeBuildResultHandle;
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
  /** The timed runs replayed a captured CUDA graph (asked for, and capture worked). */
  readonly cudaGraph: boolean;
  /** With profileRuns > 0: TensorRT's time per engine layer, mean ms over those runs, in execution order. */
  readonly layerTimes?: readonly { readonly name: string; readonly ms: number }[];
}

export interface NativeEngine {
  io(): NativeTensorInfo[];
  /** IEngineInspector's JSON (LayerInformationFormat::kJSON). */
  inspect(): string;
  infer(inputs: readonly NativeHostTensor[], warmup: number, repeat: number, cudaGraph: boolean, profileRuns: number): Promise<NativeInferResult>;
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
  /**
   * The finished build's engine; null while the job has not finished. Throws the build's own coded error
   * (e.g. ERR_BAD_MODEL, ERR_BUILD_FAILED with TensorRT's log) when the job failed: the bridge only knows that it did.
   */
  takeBuildResult(result: NativeBuildResultHandle): NativeBuildResult | null;
  deserializeEngine(plan: Uint8Array): Promise<NativeEngine>;
  /** The class of deserializeEngine's engines; constructing it from JS throws a TypeError (ERR_BAD_OPTION). */
  readonly NativeEngine: new () => NativeEngine;
}
