/** The public vocabulary of the TensorRT back end: build options, progress, logging, engine tensors. */
import type { Calibrator } from '../calibrators/calibrator.js';
import type { FitCalibratorOptions } from '../shapes/fit-calibrator.js';
import type { Batch } from '../core/batch.js';
import type { CalibrateOptions } from '../calibrate/calibrate.js';
import type { TensorRTInstall } from '../native/index.js';

/**
 * - 'fp32': no reduced precision.
 * - 'fp16': TensorRT 10 may pick FP16 kernels; on TensorRT 11 the ONNX types decide (see docs/tensorrt.md).
 * - 'int8': INT8 with a calibrator (10.x implicit calibration) or Q/DQ scales we compute (11.x, or any model
 *   that already has Q/DQ nodes).
 * - 'best': 'int8' plus FP16 where INT8 does not pay (10.x).
 */
export type Precision = 'fp32' | 'fp16' | 'int8' | 'best';

/**
 * How an INT8 build gets its ranges (TensorRT 10.x; 11.x has only 'qdq'):
 * - 'calibrate': TensorRT calibrates with its own IInt8*Calibrator, asking the TypeScript calibrator for batches
 *   (the calibrator's algorithm must be one TensorRT has: entropy2, entropy, minmax, legacy);
 * - 'cache': trt-int8 computes a range for every activation with the calibrator's algorithm ('auto' by default)
 *   and hands them to TensorRT as its calibration cache; TensorRT builds implicit INT8 from them, free to fuse
 *   and to pick INT8 per layer as with its own calibration;
 * - 'qdq': trt-int8 computes the ranges and inserts Q/DQ nodes (explicit quantization, the route of 11.x).
 */
export type Int8Route = 'calibrate' | 'cache' | 'qdq';

/** One input's shape range in an optimization profile. */
export interface ShapeRange {
  readonly min: readonly number[];
  readonly opt: readonly number[];
  readonly max: readonly number[];
}

/** input name -> its range. Every dynamic input must be covered. */
export type OptimizationProfile = Readonly<Record<string, ShapeRange>>;

/** Nodes kept in higher precision: ONNX node names and/or op types ('Softmax', 'Gemm'). */
/** A precision `layerPrecisions` may ask of a layer. */
export type LayerPrecisionChoice = 'int8' | 'fp16' | 'fp32';

export interface PrecisionExclusion {
  readonly names?: readonly string[];
  readonly opTypes?: readonly string[];
}

/** A builder progress event (TensorRT's IProgressMonitor). */
export interface BuildProgress {
  readonly event: 'start' | 'step' | 'finish';
  /** e.g. "Building engine", "Calibration". */
  readonly phase: string;
  readonly parent?: string;
  /** 'start': the number of steps in the phase; 'step': the step just completed. */
  readonly n: number;
}

export type LogSeverity = 'error' | 'warning' | 'info' | 'verbose';

/**
 * Receives TensorRT's log lines routed by severity; leave out a level to drop it (TensorRT is never asked
 * for lines nobody reads). `internal errors` go to `error`.
 */
export interface TensorRTLogger {
  error?(message: string): void;
  warning?(message: string): void;
  info?(message: string): void;
  verbose?(message: string): void;
}

/** Which TensorRT to use: an install from locateTensorRT(), or a folder holding libnvinfer.so.<major>. */
export type TensorRTChoice = TensorRTInstall | { readonly root: string };

export interface BuildEngineOptions {
  /** Default 'fp32'. */
  readonly precision?: Precision;
  /** The TypeScript calibrator for 'int8' / 'best' (not needed when the model already has Q/DQ nodes). */
  readonly calibrator?: Calibrator;
  /** Optimization profiles; required when an input has a dynamic dimension. */
  readonly profiles?: readonly OptimizationProfile[];
  /**
   * The fixed shape per input that calibration runs at (TensorRT 10, dynamic inputs). Default: the OPT shapes
   * of profiles[0]. Every calibration batch is checked against it.
   */
  readonly calibrationProfile?: Readonly<Record<string, readonly number[]>>;
  /**
   * TensorRT 10 implicit calibration only: fit every batch to the calibration shape by padding and/or truncating
   * (fitCalibratorToProfile) instead of rejecting batches of other shapes. Totals go to `onReport` at the end.
   */
  readonly fitToProfile?: FitCalibratorOptions;
  /** Workspace memory pool limit in bytes (default: TensorRT's, the device's memory). */
  readonly workspace?: number;
  /** Timing cache file: read if present, used by the builder, saved back (merged with the new timings) atomically. */
  readonly timingCache?: string;
  /** 0 (fast build) .. 5 (slow build, maybe faster engine); TensorRT's default is 3. */
  readonly builderOptimizationLevel?: number;
  /** Nodes kept in higher precision (10.x: precision constraints; Q/DQ path: no Q/DQ in front of them). */
  readonly exclude?: PrecisionExclusion;
  /**
   * TensorRT 10.x: the precision to ask of each layer, by ONNX node name, or `'*'` for every layer that computes on
   * floating-point data (trtexec `--layerPrecisions`, Polygraphy `--layer-precisions`). Without it TensorRT picks each
   * layer's precision by timing among those `precision` allows, so a small model may come out all FP32 even with
   * INT8 on; `{ '*': 'int8' }` asks for INT8 wherever a kernel exists. A name overrides `'*'`; `exclude` overrides
   * both. 'int8' needs precision 'int8' or 'best', 'fp16' needs 'fp16' or 'best'. Not on 11.x or stronglyTyped.
   */
  readonly layerPrecisions?: Readonly<Record<string, LayerPrecisionChoice>>;
  /**
   * TensorRT 10.x, with `layerPrecisions` or `exclude`: 'prefer' (default) falls back with a warning where a layer
   * has no kernel in the precision asked; 'obey' fails the build instead (trtexec `--precisionConstraints`).
   */
  readonly precisionConstraints?: 'prefer' | 'obey';
  readonly onProgress?: (progress: BuildProgress) => void;
  readonly signal?: AbortSignal;
  readonly logger?: TensorRTLogger;
  /** Which TensorRT to use (default: the first one locateTensorRT() finds with a supported major). */
  readonly tensorrt?: TensorRTChoice;
  /** Options for our statistics engine on the 'qdq' and 'cache' routes. */
  readonly calibrate?: Omit<CalibrateOptions, 'exclude' | 'signal'>;
  /**
   * INT8 only: where the ranges come from (see Int8Route). Default on 10.x: 'calibrate' for TensorRT's algorithms,
   * 'cache' for ours ('auto', 'percentile'); with stronglyTyped, and on 11.x, 'qdq'.
   */
  readonly int8Route?: Int8Route;
  /**
   * TensorRT 10.x: build the network strongly typed, as 11.x always does: the ONNX types and Q/DQ nodes decide every
   * precision and no precision flag is set. Takes precision 'fp32' (an FP16 model stays FP16) or 'int8' (Q/DQ; our
   * ranges are inserted when the model has none). Convert the non-INT8 regions to FP16 first (convertToFp16) to run
   * them in FP16. No effect on 11.x.
   */
  readonly stronglyTyped?: boolean;
}

/** The data type a layer computes in, from the engine inspector; 'unknown' where it does not say. */
export type LayerPrecision = 'int8' | 'fp16' | 'bf16' | 'fp32' | 'fp8' | 'int4' | 'int32' | 'int64' | 'bool' | 'unknown';

/** One layer of a built engine, as the engine inspector describes it. */
export interface LayerPrecisionRow {
  /** TensorRT's layer name: fused layers join the ONNX node names with " + ". */
  readonly name: string;
  /** e.g. "CaskConvolution", "Reformat", "PointWiseV2". */
  readonly type: string;
  /** The type of its first input (of its first output for a layer without inputs). */
  readonly precision: LayerPrecision;
  /** The inspector's "Format/Datatype" of each input and output. */
  readonly inputFormats: readonly string[];
  readonly outputFormats: readonly string[];
  readonly tactic?: string;
}

/**
 * How many layers of an engine compute in each precision. `total` counts compute layers (int8 + fp16 + fp32 +
 * other + unknown); Reformat layers, which TensorRT inserts to convert between formats, are counted in `reformats`.
 */
export interface LayerPrecisionSummary {
  readonly total: number;
  readonly int8: number;
  readonly fp16: number;
  readonly fp32: number;
  readonly other: number;
  readonly unknown: number;
  readonly reformats: number;
  readonly layers: readonly LayerPrecisionRow[];
}

/** An engine input or output. -1 marks a dimension that is dynamic in the engine. */
export interface EngineTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Inputs with dynamic dimensions: the range of optimization profile 0. */
  readonly profile?: ShapeRange;
}

export interface InferOptions {
  /** Untimed runs before the timed ones (default 0). */
  readonly warmup?: number;
  /** Timed runs on the same inputs (default 1); outputs are those of the last. */
  readonly repeat?: number;
  /**
   * Time the runs as replays of one captured CUDA graph (like `trtexec --useCudaGraph`), so kernel launch overhead
   * does not count; falls back to plain enqueues where capture fails (`InferResult.cudaGraph` says which). Default false.
   */
  readonly cudaGraph?: boolean;
  /**
   * After the timed runs, this many more runs with TensorRT's per-layer profiler attached (as `trtexec --dumpProfile
   * --separateProfileRun`): `InferResult.layerTimes` gives each engine layer's mean time. Profiled runs are
   * synchronous, so they never count in `gpuMs`. Default 0 (none).
   */
  readonly profileRuns?: number;
}

/** One engine layer's time under TensorRT's profiler (names as the engine inspector and `layerPrecisions()` give them). */
export interface LayerTime {
  readonly name: string;
  /** Mean milliseconds over the profiled runs. */
  readonly ms: number;
}

export interface InferOutput {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Float32Array for float32 outputs, Int32Array for int32, and so on; raw bytes (Uint8Array) otherwise. */
  readonly data: Float32Array | Int32Array | Int8Array | Uint8Array | BigInt64Array;
}

export interface InferResult {
  readonly outputs: Readonly<Record<string, InferOutput>>;
  /**
   * GPU time of each timed run, by a pair of CUDA events around it on the stream. The runs are queued back to back
   * (no host wait between them, as trtexec times them), so launch gaps count only where the GPU outruns the host.
   */
  readonly gpuMs: readonly number[];
  readonly copyInMs: number;
  readonly copyOutMs: number;
  /** The timed runs replayed a captured CUDA graph. */
  readonly cudaGraph: boolean;
  /** With `profileRuns` > 0: each engine layer's mean time over those runs, in execution order. */
  readonly layerTimes?: readonly LayerTime[];
}

export type { Batch };
