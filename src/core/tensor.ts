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

const float32Scratch = new Float32Array(1);
const float32Scratch32 = new Uint32Array(float32Scratch.buffer);

/**
 * IEEE-754 half bits nearest to `value` (round half to even; beyond ±65504 gives ±Infinity, NaN stays NaN): how
 * float16 tensors hold their values, in a Uint16Array.
 */
export function float16Bits(value: number): number {
  float32Scratch[0] = value;
  const bits = float32Scratch32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal float16: shift the mantissa (with its implicit 1) into place, rounding half to even.
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa bumps the exponent, up to Infinity (0x7c00): that is the right rounding.
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}
