/**
 * Checks one calibration batch against the inputs the model expects and brings it into one dense
 * form. Everything that could make calibration quietly wrong (a missing or extra input, a wrong
 * dtype or shape, a short buffer, NaN) is a loud ERR_BAD_BATCH naming the input and the batch.
 */
import { TrtInt8Error } from './errors.js';
import { DTYPES, product, shapeText, strides, typedArrayName, type DType, type InputSpec, type NormalizedBatch, type NormalizedTensor, type TypedArray } from './tensor.js';

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
export type BatchValue = TypedArray | NdArrayLike | { readonly data: TypedArray; readonly shape: readonly number[] };

/**
 * An ndarray view (the \`ndarray\` package's shape), declared structurally so that our types need
 * nobody else's: any object with data, shape, stride and offset is read as a strided view.
 */
export interface NdArrayLike {
  readonly data: TypedArray | ArrayLike<unknown>;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
  readonly offset: number;
}

/** A batch maps input name -> value. */
export type Batch = Readonly<Record<string, BatchValue>>;

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

export interface ValidateBatchOptions {
  /** 0-based index of the batch, for error messages. */
  readonly batchIndex: number;
  /** Default 'error'. */
  readonly nonFinite?: NonFinitePolicy;
  /** Receives warnings when nonFinite is 'warn'; without it they go to process.emitWarning. */
  readonly onWarning?: WarningHandler;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof ArrayBuffer) return `an ArrayBuffer of ${value.byteLength} bytes`;
  if (Array.isArray(value)) return `an Array of length ${value.length}`;
  const typed = typedArrayName(value);
  if (typed) return `${typed}(${(value as TypedArray).length})`;
  if (ArrayBuffer.isView(value)) return Object.prototype.toString.call(value).slice(8, -1);
  if (typeof value === 'object') return `an object with keys [${Object.keys(value as object).join(', ')}]`;
  return typeof value;
}

interface BatchErrorArgs {
  input?: string;
  expected: unknown;
  actual: unknown;
  fixes?: string[];
}

function batchError(batchIndex: number, message: string, args: BatchErrorArgs): TrtInt8Error {
  return new TrtInt8Error('ERR_BAD_BATCH', `Calibration batch ${batchIndex}: ${message}`, {
    input: args.input,
    expected: args.expected,
    actual: args.actual,
    fixes: args.fixes,
    details: { batchIndex, ...(args.input === undefined ? {} : { input: args.input }) },
  });
}

function isNdArray(value: object): value is { data: unknown; shape: unknown; stride: unknown; offset?: unknown } {
  return 'data' in value && 'shape' in value && 'stride' in value;
}

function isShapeArray(shape: unknown): shape is number[] {
  return Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0);
}

interface Resolved {
  data: TypedArray;
  shape: number[] | undefined;
}

/** Turns an ndarray view into dense row-major data, copying only where the view is not already dense. */
function densifyNdArray(
  spec: InputSpec,
  batchIndex: number,
  value: { data: unknown; shape: unknown; stride: unknown; offset?: unknown },
): Resolved {
  const { data, shape, stride } = value;
  const offset = value.offset ?? 0;
  const arrayType = typedArrayName(data);
  if (!arrayType) {
    throw batchError(batchIndex, `ndarray "${spec.name}" is not backed by a TypedArray.`, {
      input: spec.name,
      expected: `an ndarray over a ${DTYPES[spec.dtype].arrayName}`,
      actual: `an ndarray over ${describeValue(data)}`,
      fixes: [`Create it with ndarray(new ${DTYPES[spec.dtype].arrayName}(...), shape).`],
    });
  }
  if (!isShapeArray(shape) || !Array.isArray(stride) || stride.length !== shape.length || !stride.every(Number.isInteger) || !Number.isInteger(offset)) {
    throw batchError(batchIndex, `ndarray "${spec.name}" has an invalid shape, stride or offset.`, {
      input: spec.name,
      expected: 'integer shape, stride (same length) and offset',
      actual: { shape, stride, offset },
    });
  }
  const typed = data as TypedArray;
  const size = product(shape);
  const off = offset as number;
  // Every element the view addresses must lie inside its buffer, or we would read garbage.
  let lo = off;
  let hi = off;
  for (let d = 0; d < shape.length; d++) {
    if ((shape[d] as number) === 0) continue;
    const span = ((shape[d] as number) - 1) * (stride[d] as number);
    if (span < 0) lo += span;
    else hi += span;
  }
  if (size > 0 && (lo < 0 || hi >= typed.length)) {
    throw batchError(batchIndex, `ndarray "${spec.name}" addresses elements outside its data.`, {
      input: spec.name,
      expected: `indices within [0, ${typed.length})`,
      actual: `indices [${lo}, ${hi}] for shape ${shapeText(shape)}, stride ${shapeText(stride)}, offset ${off}`,
    });
  }
  const dense = strides(shape);
  const contiguous = shape.every((d, i) => d <= 1 || stride[i] === dense[i]);
  if (contiguous) return { data: typed.subarray(off, off + size) as TypedArray, shape: [...shape] };

  // A strided view (transpose, step, pick): copy it densely in row-major order, since TensorRT and
  // the statistics engine both read a flat buffer.
  const Ctor = typed.constructor as new (length: number) => TypedArray;
  const out = new Ctor(size);
  const index = new Array<number>(shape.length).fill(0);
  let src = off;
  for (let k = 0; k < size; k++) {
    (out as unknown as Record<number, number | bigint>)[k] = (typed as unknown as Record<number, number | bigint>)[src] as number | bigint;
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d] = (index[d] as number) + 1;
      src += stride[d] as number;
      if ((index[d] as number) < (shape[d] as number)) break;
      src -= (shape[d] as number) * (stride[d] as number);
      index[d] = 0;
    }
  }
  return { data: out, shape: [...shape] };
}

function resolveValue(spec: InputSpec, batchIndex: number, value: BatchValue | unknown): Resolved {
  if (typedArrayName(value)) return { data: value as TypedArray, shape: undefined };
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    throw batchError(batchIndex, `input "${spec.name}" is not a TypedArray, an ndarray or { data, shape }.`, {
      input: spec.name,
      expected: `a ${DTYPES[spec.dtype].arrayName}, an ndarray or { data, shape }`,
      actual: describeValue(value),
      fixes: Array.isArray(value) ? [`Convert the Array: new ${DTYPES[spec.dtype].arrayName}(values).`] : [],
    });
  }
  if (isNdArray(value)) return densifyNdArray(spec, batchIndex, value);
  const { data, shape } = value as { data?: unknown; shape?: unknown };
  if (!typedArrayName(data)) {
    throw batchError(batchIndex, `input "${spec.name}".data is not a TypedArray.`, {
      input: spec.name,
      expected: `{ data: ${DTYPES[spec.dtype].arrayName}, shape: number[] }`,
      actual: `data is ${describeValue(data)}`,
    });
  }
  if (!isShapeArray(shape)) {
    throw batchError(batchIndex, `input "${spec.name}".shape is not an array of non-negative integers.`, {
      input: spec.name,
      expected: 'shape: number[] of non-negative integers',
      actual: shape,
    });
  }
  return { data: data as TypedArray, shape: [...shape] };
}

/** The shape of a bare TypedArray: the spec's, with its one dynamic dimension (if any) inferred. */
function inferShape(spec: InputSpec, batchIndex: number, length: number): number[] {
  const dynamic = spec.shape.filter((d) => d < 0).length;
  const fixedProduct = product(spec.shape.filter((d) => d >= 0));
  if (dynamic === 0) {
    if (length !== fixedProduct) {
      throw batchError(batchIndex, `input "${spec.name}" has ${length} elements, its shape ${shapeText(spec.shape)} needs ${fixedProduct}.`, {
        input: spec.name,
        expected: `${fixedProduct} elements (shape ${shapeText(spec.shape)})`,
        actual: `${length} elements`,
      });
    }
    return [...spec.shape];
  }
  if (dynamic > 1) {
    throw batchError(batchIndex, `input "${spec.name}" has ${dynamic} dynamic dimensions, so a bare TypedArray does not say its shape.`, {
      input: spec.name,
      expected: `{ data, shape } for shape ${shapeText(spec.shape)}`,
      actual: `a TypedArray of ${length} elements without a shape`,
      fixes: [`Pass { data, shape: [...] } for "${spec.name}".`],
    });
  }
  if (fixedProduct === 0 || length % fixedProduct !== 0 || length === 0) {
    throw batchError(batchIndex, `input "${spec.name}" has ${length} elements, not a positive multiple of ${fixedProduct} for shape ${shapeText(spec.shape)}.`, {
      input: spec.name,
      expected: `a positive multiple of ${fixedProduct} elements`,
      actual: `${length} elements`,
      fixes: [`Pass { data, shape: [...] } for "${spec.name}" to state the shape.`],
    });
  }
  return spec.shape.map((d) => (d < 0 ? length / fixedProduct : d));
}

function checkShape(spec: InputSpec, batchIndex: number, shape: readonly number[], length: number): void {
  const mismatch =
    shape.length !== spec.shape.length || spec.shape.some((d, i) => d >= 0 && d !== shape[i]);
  if (mismatch) {
    throw batchError(batchIndex, `input "${spec.name}" has shape ${shapeText(shape)}, the model expects ${shapeText(spec.shape)} (-1 = any).`, {
      input: spec.name,
      expected: shapeText(spec.shape),
      actual: shapeText(shape),
    });
  }
  if (product(shape) !== length) {
    throw batchError(batchIndex, `input "${spec.name}" has ${length} elements but its shape ${shapeText(shape)} holds ${product(shape)}.`, {
      input: spec.name,
      expected: `${product(shape)} elements`,
      actual: `${length} elements`,
      fixes: ['Pass exactly the elements of the batch; trt-int8 never truncates or pads.'],
    });
  }
  if (length === 0) {
    throw batchError(batchIndex, `input "${spec.name}" is empty.`, {
      input: spec.name,
      expected: 'at least one element',
      actual: shapeText(shape),
    });
  }
}

/** What about a TypedArray's memory makes it unsafe to read after the caller's code runs again, if anything. */
function unsafeMemory(data: TypedArray): string | undefined {
  const buffer = data.buffer as ArrayBufferLike & { resizable?: boolean; detached?: boolean; growable?: boolean };
  if (typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer) return 'a SharedArrayBuffer (another thread may write it while it is read)';
  if (buffer.detached === true) return 'a detached ArrayBuffer (transferred away with postMessage or structuredClone)';
  if (buffer.resizable === true || buffer.growable === true) return 'a resizable ArrayBuffer (it may shrink while it is read)';
  return undefined;
}

function checkMemory(spec: InputSpec, batchIndex: number, data: TypedArray): void {
  const unsafe = unsafeMemory(data);
  if (unsafe === undefined) return;
  throw batchError(batchIndex, `input "${spec.name}" is backed by ${unsafe}.`, {
    input: spec.name,
    expected: `a ${DTYPES[spec.dtype].arrayName} over a plain ArrayBuffer`,
    actual: unsafe,
    fixes: [`Copy it first: new ${DTYPES[spec.dtype].arrayName}(data).`],
  });
}

/**
 * Copies batches into memory that only trt-int8 holds: getBatch's buffers belong to the caller, who may
 * refill, transfer or shrink them as soon as getBatch returns, while onnxruntime and the statistics
 * engine (on native threads) read the batch after that. One fixed-size ArrayBuffer per input is reused
 * from batch to batch (fresh memory costs page faults, bench/calibrate/copy-cost.ts), so a copied batch
 * is valid until the next copy() call: consume it fully before asking for the next.
 */
export class BatchCopier {
  readonly #buffers = new Map<string, TypedArray>();

  copy(batch: NormalizedBatch): NormalizedBatch {
    const out = new Map<string, NormalizedTensor>();
    for (const [name, tensor] of batch) out.set(name, { ...tensor, shape: [...tensor.shape], data: this.#copyData(name, tensor.data) });
    return out;
  }

  #copyData(name: string, data: TypedArray): TypedArray {
    const Ctor = data.constructor as new (length: number) => TypedArray;
    let buffer = this.#buffers.get(name);
    if (buffer === undefined || buffer.constructor !== Ctor || buffer.length < data.length) {
      buffer = new Ctor(data.length);
      this.#buffers.set(name, buffer);
    }
    const target = buffer.length === data.length ? buffer : (buffer.subarray(0, data.length) as TypedArray);
    (target as Float32Array).set(data as Float32Array);
    return target;
  }
}

/** Count and first index of NaN / ±Infinity; float16 values are their raw bits (exponent all ones). */
function scanNonFinite(dtype: DType, data: TypedArray): { count: number; firstIndex: number } {
  let count = 0;
  let firstIndex = -1;
  if (dtype === 'float32') {
    const f = data as Float32Array;
    for (let i = 0; i < f.length; i++) {
      const v = f[i] as number;
      // v - v is 0 for finite v and NaN for NaN or ±Infinity: one comparison per element.
      if (v - v !== 0) {
        if (count === 0) firstIndex = i;
        count++;
      }
    }
  } else if (dtype === 'float16') {
    const h = data as Uint16Array;
    for (let i = 0; i < h.length; i++) {
      if (((h[i] as number) & 0x7c00) === 0x7c00) {
        if (count === 0) firstIndex = i;
        count++;
      }
    }
  }
  return { count, firstIndex };
}

/**
 * Validates a batch against `inputs` and returns it as dense tensors with concrete shapes.
 * Throws ERR_BAD_BATCH (details: { batchIndex, input }) on any mismatch.
 */
export function validateBatch(batch: unknown, inputs: readonly InputSpec[], options: ValidateBatchOptions): NormalizedBatch {
  const batchIndex = options.batchIndex;
  const nonFinite = options.nonFinite ?? 'error';
  if (batch === null || typeof batch !== 'object' || Array.isArray(batch) || ArrayBuffer.isView(batch)) {
    const names = inputs.map((s) => s.name);
    throw batchError(batchIndex, 'a batch must be an object mapping input name -> tensor.', {
      expected: `{ ${names.map((n) => `"${n}": ...`).join(', ')} }`,
      actual: describeValue(batch),
      fixes: ArrayBuffer.isView(batch) && names.length === 1 ? [`Return { "${names[0]}": data } instead of the bare array.`] : [],
    });
  }
  // A Map of name -> tensor is as clear as an object; accept it rather than report every input missing.
  const record = (batch instanceof Map ? Object.fromEntries(batch) : batch) as Batch;
  const expectedNames = new Set(inputs.map((s) => s.name));
  const extra = Object.keys(record).filter((k) => !expectedNames.has(k));
  if (extra.length) {
    throw batchError(batchIndex, `unexpected input${extra.length > 1 ? 's' : ''} ${extra.map((n) => `"${n}"`).join(', ')}.`, {
      input: extra[0],
      expected: [...expectedNames],
      actual: Object.keys(record),
      fixes: ['Use the model input names exactly (names are case-sensitive).'],
    });
  }
  const out = new Map<string, NormalizedTensor>();
  for (const spec of inputs) {
    if (!Object.hasOwn(record, spec.name) || record[spec.name] === undefined) {
      throw batchError(batchIndex, `input "${spec.name}" is missing.`, {
        input: spec.name,
        expected: [...expectedNames],
        actual: Object.keys(record),
      });
    }
    const resolved = resolveValue(spec, batchIndex, record[spec.name]);
    checkMemory(spec, batchIndex, resolved.data);
    const arrayType = typedArrayName(resolved.data) as string;
    const wanted = DTYPES[spec.dtype].arrayName;
    if (arrayType !== wanted) {
      throw batchError(batchIndex, `input "${spec.name}" is ${spec.dtype} and must arrive as a ${wanted}, got a ${arrayType}.`, {
        input: spec.name,
        expected: wanted,
        actual: arrayType,
        fixes: [
          spec.dtype === 'float16'
            ? 'Pass the float16 bit patterns in a Uint16Array.'
            : `Convert it: ${wanted}.from(values)${spec.dtype === 'int64' ? ' with BigInt values' : ''}.`,
        ],
      });
    }
    const shape = resolved.shape ?? inferShape(spec, batchIndex, resolved.data.length);
    checkShape(spec, batchIndex, shape, resolved.data.length);
    if (nonFinite !== 'allow') {
      const { count, firstIndex } = scanNonFinite(spec.dtype, resolved.data);
      if (count > 0) {
        const message = `Calibration batch ${batchIndex}: input "${spec.name}" holds ${count} NaN/Infinity value${count > 1 ? 's' : ''}, the first at flat index ${firstIndex}.`;
        if (nonFinite === 'error') {
          throw batchError(batchIndex, `input "${spec.name}" holds ${count} NaN/Infinity value${count > 1 ? 's' : ''}, the first at flat index ${firstIndex}.`, {
            input: spec.name,
            expected: 'finite values',
            actual: `${count} non-finite, first at index ${firstIndex}`,
            fixes: ['Fix the preprocessing that produced them.', "Or pass nonFinite: 'warn' or 'allow' to calibrate anyway (the statistics skip them)."],
          });
        }
        const warning = { code: 'NON_FINITE_VALUES', message, input: spec.name, batchIndex, count, firstIndex } as const;
        if (options.onWarning) options.onWarning(warning);
        else process.emitWarning(message, { code: 'TRT_INT8_NON_FINITE' });
      }
    }
    out.set(spec.name, { name: spec.name, dtype: spec.dtype, shape, data: resolved.data });
  }
  return out;
}
