/**
 * Tensor vocabulary every folder shares: element types, the one table that maps each to its
 * TypedArray, and shape arithmetic. Batches, the bridge's buffers and the statistics engine all
 * speak it.
 */

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

/** A batch after validation: every input present, dense, with a concrete shape. */
export interface NormalizedTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TypedArray;
}
export type NormalizedBatch = ReadonlyMap<string, NormalizedTensor>;

interface DTypeInfo {
  /** The TypedArray a tensor of this dtype arrives in; float16 arrives as its raw bits. */
  readonly arrayName: string;
  readonly bytes: number;
  /** A view of `length` elements over `buffer`, from byte 0. */
  readonly view: (buffer: ArrayBuffer, length: number) => TypedArray;
}

/** The one dtype table: which TypedArray holds each dtype, and its element size. */
export const DTYPES: Readonly<Record<DType, DTypeInfo>> = {
  float32: { arrayName: 'Float32Array', bytes: 4, view: (b, n) => new Float32Array(b, 0, n) },
  float16: { arrayName: 'Uint16Array', bytes: 2, view: (b, n) => new Uint16Array(b, 0, n) },
  int8: { arrayName: 'Int8Array', bytes: 1, view: (b, n) => new Int8Array(b, 0, n) },
  uint8: { arrayName: 'Uint8Array', bytes: 1, view: (b, n) => new Uint8Array(b, 0, n) },
  bool: { arrayName: 'Uint8Array', bytes: 1, view: (b, n) => new Uint8Array(b, 0, n) },
  int32: { arrayName: 'Int32Array', bytes: 4, view: (b, n) => new Int32Array(b, 0, n) },
  int64: { arrayName: 'BigInt64Array', bytes: 8, view: (b, n) => new BigInt64Array(b, 0, n) },
};

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.hasOwn(DTYPES, value);
}

/** Number of elements of a tensor of this shape. */
export function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Row-major strides of a dense array of this shape. */
export function strides(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    out[i] = s;
    s *= shape[i] as number;
  }
  return out;
}

export function shapeText(shape: readonly unknown[]): string {
  return `[${shape.join(', ')}]`;
}

const TYPED_ARRAY_NAMES = new Set([
  'Float32Array',
  'Float64Array',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'BigInt64Array',
  'BigUint64Array',
  'Float16Array',
]);

/** The TypedArray class name, or undefined for anything else. Works across realms, unlike instanceof. */
export function typedArrayName(value: unknown): string | undefined {
  if (!ArrayBuffer.isView(value)) return undefined;
  const tag = Object.prototype.toString.call(value).slice(8, -1);
  return TYPED_ARRAY_NAMES.has(tag) ? tag : undefined;
}
