/** Shared vocabulary of the calibrator API: what a batch is, what the back end expects, which algorithm. */
import type { NdArray } from 'ndarray';

export type DType = 'float32' | 'float16' | 'int8' | 'uint8' | 'int32' | 'int64' | 'bool';

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** One input the model (or TensorRT's calibration profile) expects. -1 marks a dynamic dimension. */
export interface InputSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** What a calibrator's getBatch receives. */
export interface BatchContext {
  /** The inputs expected, in the model's order. */
  readonly inputs: readonly InputSpec[];
  /** 0-based index of the batch being asked for. */
  readonly batchIndex: number;
  /** Aborted when the caller gives up (user abort, failed build, environment teardown). */
  readonly signal: AbortSignal;
}

/** One input's value in a batch: a TypedArray (shape taken from the spec), an ndarray, or data with its shape. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- ndarray types its data loosely
export type BatchValue = TypedArray | NdArray<any> | { readonly data: TypedArray; readonly shape: readonly number[] };

/** A batch maps input name -> value. */
export type Batch = Readonly<Record<string, BatchValue>>;

/** A batch after validation: every input present, dense, with a concrete shape. */
export interface NormalizedTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TypedArray;
}
export type NormalizedBatch = ReadonlyMap<string, NormalizedTensor>;

/**
 * The calibration algorithm, as data on the calibrator so that every back end (TensorRT 10's
 * IInt8*Calibrator, our statistics engine) reads the same thing.
 */
export type CalibrationAlgorithm =
  | { readonly kind: 'entropy2' }
  | { readonly kind: 'entropy' }
  | { readonly kind: 'minmax' }
  | { readonly kind: 'legacy'; readonly quantile: number; readonly regressionCutoff: number }
  | { readonly kind: 'percentile'; readonly percentile: number };

export type AlgorithmKind = CalibrationAlgorithm['kind'];

/** What to do with NaN or ±Infinity in a batch. */
export type NonFinitePolicy = 'error' | 'warn' | 'allow';

/** A problem worth telling the user about that does not stop calibration (nonFinite: 'warn'). */
export interface CalibrationWarning {
  readonly code: 'NON_FINITE_VALUES';
  readonly message: string;
  /** The input tensor concerned. */
  readonly input: string;
  readonly batchIndex: number;
  /** How many NaN / ±Infinity values the tensor holds. */
  readonly count: number;
  /** Flat (row-major) index of the first one. */
  readonly firstIndex: number;
}

export type WarningHandler = (warning: CalibrationWarning) => void;
