/**
 * The thin layer over the generated protobufjs code: decode/encode that keep unknown fields,
 * ONNX element types <-> names, and TensorProto <-> typed arrays.
 */
import fs from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs/minimal.js';
import { onnx, type Long } from './proto/onnx.js';
import { TrtInt8Error } from '../core/errors.js';
import { float16Bits, product, type DType } from '../core/tensor.js';

export type ModelProto = onnx.ModelProto;
export type GraphProto = onnx.GraphProto.$Properties;
export type NodeProto = onnx.NodeProto.$Properties;
export type TensorProto = onnx.TensorProto.$Properties;
export type ValueInfoProto = onnx.ValueInfoProto.$Properties;
export type AttributeProto = onnx.AttributeProto.$Properties;

export const DataType = onnx.TensorProto.DataType;

/** Element types by ONNX number; names follow the DType vocabulary where one exists. */
const elemTypeNames: Readonly<Record<number, string>> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  14: 'complex64',
  15: 'complex128',
  16: 'bfloat16',
};

/** An ONNX element type as a name ('float32', 'int64', ...); unnamed types read `onnx-type-<n>`. */
export type OnnxDType = DType | 'uint16' | 'int16' | 'float64' | 'uint32' | 'uint64' | 'string' | 'complex64' | 'complex128' | 'bfloat16' | `onnx-type-${number}`;

export function elemTypeName(elemType: number): OnnxDType {
  return (elemTypeNames[elemType] ?? `onnx-type-${elemType}`) as OnnxDType;
}

const dtypes: ReadonlySet<string> = new Set<DType>(['float32', 'float16', 'int8', 'uint8', 'int32', 'int64', 'bool']);
export function isDType(name: string): name is DType {
  return dtypes.has(name);
}

/** Decodes a ModelProto keeping fields this schema does not know (newer ONNX versions) for re-encoding. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const reader = protobuf.Reader.create(bytes);
  reader.discardUnknown = false;
  return onnx.ModelProto.decode(reader);
}

export function encodeModel(model: onnx.ModelProto.$Properties): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

export function toNumber(value: number | Long | null | undefined, what: string): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'number') return value;
  const n = value.toNumber();
  if (!Number.isSafeInteger(n)) {
    throw new TrtInt8Error('ERR_BAD_MODEL', `${what} does not fit a JavaScript number.`, {
      input: what,
      expected: `an integer within ±${Number.MAX_SAFE_INTEGER}`,
      actual: value.toString(),
    });
  }
  return n;
}


export function tensorDims(tensor: TensorProto): number[] {
  return (tensor.dims ?? []).map((d, i) => toNumber(d, `${tensor.name ?? 'tensor'}.dims[${i}]`));
}

/** Where external tensor data is looked up and what to say when it cannot be. */
export interface ExternalDataContext {
  /** Folder of the model file; undefined for models loaded from bytes. */
  readonly baseDir?: string;
  /** For messages: the model file or "<bytes>". */
  readonly modelName: string;
}

function badTensor(tensorName: string, message: string, options: { expected?: unknown; actual?: unknown; fixes?: string[] } = {}) {
  return new TrtInt8Error('ERR_BAD_MODEL', `Tensor "${tensorName}": ${message}`, { input: tensorName, ...options });
}

/** True when `child` is `parent` or lies below it (both absolute, normalized). */
function isWithin(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * The real path of `file` (symbolic links resolved) when it lies inside the real model folder; ERR_BAD_MODEL when a
 * link leads outside it. A missing file throws the fs error (ENOENT), reported by the caller.
 */
function insideRealFolder(baseDir: string, file: string, tensorName: string, location: string): string {
  const realFile = fs.realpathSync(file);
  const realBase = fs.realpathSync(baseDir);
  if (!isWithin(realBase, realFile)) {
    throw badTensor(tensorName, `external data location "${location}" leads through a symbolic link to ${realFile}, outside the model folder.`, {
      expected: `a file inside ${realBase}`,
      actual: realFile,
      fixes: ['Copy the data file into the model folder instead of linking to it, or load the model from the folder the data lives in.'],
    });
  }
  return realFile;
}

/** The bytes of a tensor stored in an external file, checked against the file's size. */
export function readExternal(tensor: TensorProto, context: ExternalDataContext): Uint8Array {
  const name = tensor.name ?? '';
  const entries = new Map((tensor.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location');
  if (!location) throw badTensor(name, 'external data without a "location" entry.', { expected: 'external_data location', actual: [...entries.keys()] });
  if (context.baseDir === undefined) {
    throw badTensor(name, `its data lives in the external file "${location}", but the model was loaded from bytes, so there is no folder to read it from.`, {
      expected: 'a model loaded from its file path',
      actual: 'a model loaded from bytes',
      fixes: ['Load the model with OnnxModel.load(path) so that external data is read relative to the model file.', 'Save the model with all tensors inside the .onnx file (onnx.save_model(m, path, save_as_external_data=False)).'],
    });
  }
  // ONNX requires locations relative to the model folder; refuse anything that escapes it.
  const file = path.resolve(context.baseDir, location);
  const rel = path.relative(context.baseDir, file);
  if (path.isAbsolute(location) || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw badTensor(name, `external data location "${location}" points outside the model folder.`, { expected: 'a path relative to the model folder', actual: location });
  }
  const offset = Number(entries.get('offset') ?? 0);
  const lengthEntry = entries.get('length');
  let fd: number | undefined;
  try {
    // The path string stays inside; a symbolic link on the way may not: check where it really leads.
    const realFile = insideRealFolder(context.baseDir, file, name, location);
    fd = fs.openSync(realFile, 'r');
    const size = fs.fstatSync(fd).size;
    const length = lengthEntry === undefined ? size - offset : Number(lengthEntry);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw badTensor(name, `external data range offset=${offset} length=${length} does not fit in "${location}" (${size} bytes).`, {
        expected: `offset + length <= ${size}`,
        actual: { offset, length },
      });
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(fd, out, done, length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    if (done !== length) throw badTensor(name, `external file "${location}" ended early.`, { expected: length, actual: done });
    return out;
  } catch (cause) {
    if (cause instanceof TrtInt8Error) throw cause;
    throw new TrtInt8Error('ERR_BAD_MODEL', `Tensor "${name}": cannot read its external data file "${file}" (${(cause as NodeJS.ErrnoException).code ?? 'error'}).`, {
      input: name,
      expected: `a readable file next to ${context.modelName}`,
      actual: cause instanceof Error ? cause.message : String(cause),
      fixes: [`Put ${location} next to the model file, as it was when the model was saved.`],
      cause,
    });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const bfloat16Scratch = new DataView(new ArrayBuffer(4));

function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/**
 * A floating-point TensorProto as a Float32Array (float32, float16, bfloat16 and float64 are
 * converted), from raw_data, the typed fields, or external data. The element count must match dims.
 */
export function tensorToFloat32(tensor: TensorProto, context: ExternalDataContext): Float32Array {
  const name = tensor.name ?? '';
  const dims = tensorDims(tensor);
  const count = product(dims);
  const dataType = tensor.dataType ?? 0;
  const external = tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
  const raw = external ? readExternal(tensor, context) : tensor.rawData && tensor.rawData.length > 0 ? tensor.rawData : undefined;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  if (dims.some((d) => d < 0)) {
    throw badTensor(name, `has a negative dimension in its dims ${JSON.stringify(dims)}.`, { expected: 'dims >= 0', actual: dims });
  }
  // Allocated only once the data is known to hold `count` values (huge dims must not reach new Float32Array).
  let out = new Float32Array(0);
  const checkCount = (actual: number) => {
    if (actual !== count) {
      throw badTensor(name, `holds ${actual} values but its dims ${JSON.stringify(dims)} need ${count}.`, { expected: count, actual });
    }
    out = new Float32Array(count);
  };
  switch (dataType) {
    case DataType.FLOAT: {
      if (raw && view) {
        checkCount(view.byteLength / 4);
        // Fast path: aligned data on a little-endian host is already float32 (copied: raw aliases the file buffer).
        if (littleEndianHost && raw.byteOffset % 4 === 0) return new Float32Array(raw.buffer, raw.byteOffset, count).slice();
        for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      } else {
        const values = tensor.floatData ?? [];
        checkCount(values.length);
        out.set(values);
      }
      return out;
    }
    case DataType.DOUBLE: {
      if (view) {
        checkCount(view.byteLength / 8);
        for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      } else {
        const values = tensor.doubleData ?? [];
        checkCount(values.length);
        out.set(values);
      }
      return out;
    }
    case DataType.FLOAT16:
    case DataType.BFLOAT16: {
      // Without raw_data, 16-bit floats are stored one per int32_data entry (low 16 bits).
      const bits = view ? undefined : tensor.int32Data ?? [];
      checkCount(view ? view.byteLength / 2 : bits!.length);
      for (let i = 0; i < count; i++) {
        const h = view ? view.getUint16(i * 2, true) : bits![i]! & 0xffff;
        if (dataType === DataType.FLOAT16) {
          out[i] = float16ToFloat32(h);
        } else {
          bfloat16Scratch.setUint32(0, h << 16); // bfloat16 is the high half of a float32
          out[i] = bfloat16Scratch.getFloat32(0);
        }
      }
      return out;
    }
    default:
      throw badTensor(name, `is not a floating-point tensor.`, {
        expected: 'float32, float16, bfloat16 or float64',
        actual: elemTypeName(dataType),
      });
  }
}

/** The largest finite float16 value. */
export const FLOAT16_MAX = 65504;

export { float16ToFloat32 };

/**
 * A float16 tensor (raw_data) holding `values`, finite values beyond the float16 range clamped to ±65504 (a cast
 * would make them infinite); `clamped` counts them.
 */
export function makeFloat16Tensor(name: string, dims: readonly number[], values: Float32Array): { tensor: TensorProto; clamped: number } {
  const bytes = new Uint8Array(values.length * 2);
  const view = new DataView(bytes.buffer);
  let clamped = 0;
  for (let i = 0; i < values.length; i++) {
    let v = values[i]!;
    if (Number.isFinite(v) && Math.abs(v) > FLOAT16_MAX) {
      v = Math.sign(v) * FLOAT16_MAX;
      clamped++;
    }
    view.setUint16(i * 2, float16Bits(v), true);
  }
  return { tensor: { name, dims: [...dims], dataType: DataType.FLOAT16, rawData: bytes }, clamped };
}

function littleEndianBytes(array: Float32Array | Int8Array): Uint8Array {
  const bytes = new Uint8Array(array.byteLength);
  if (array instanceof Int8Array) {
    bytes.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
  } else {
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < array.length; i++) view.setFloat32(i * 4, array[i]!, true);
  }
  return bytes;
}

/** A float32 initializer stored as raw_data (what exporters write). */
export function makeFloatTensor(name: string, dims: readonly number[], values: Float32Array | readonly number[]): TensorProto {
  const data = values instanceof Float32Array ? values : Float32Array.from(values);
  return { name, dims: [...dims], dataType: DataType.FLOAT, rawData: littleEndianBytes(data) };
}

export function makeInt8Tensor(name: string, dims: readonly number[], values: Int8Array | readonly number[]): TensorProto {
  const data = values instanceof Int8Array ? values : Int8Array.from(values);
  return { name, dims: [...dims], dataType: DataType.INT8, rawData: littleEndianBytes(data) };
}

export function findAttribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

export function intAttribute(node: NodeProto, name: string, fallback: number): number {
  const attribute = findAttribute(node, name);
  if (!attribute || attribute.i === null || attribute.i === undefined) return fallback;
  return toNumber(attribute.i, `${node.name ?? node.opType}.${name}`);
}
