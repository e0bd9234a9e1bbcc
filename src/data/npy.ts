/**
 * Reader for NumPy's .npy (format v1, v2, v3) and .npz (a zip of .npy files, stored or deflated) files,
 * so calibration data saved with `np.save` / `np.savez` can be fed to trt-int8 without Python.
 * Only little-endian, C-ordered arrays of the dtypes calibration uses are accepted; anything else is a
 * typed error naming the file, never a silent reinterpretation.
 */
import { product } from '../core/tensor.js';
import fs from 'node:fs/promises';
import zlib from 'node:zlib';
import buffer from 'node:buffer';
import { TrtInt8Error } from '../core/errors.js';

export type NpyDType = 'float32' | 'float64' | 'int8' | 'uint8' | 'int32' | 'int64';

export type NpyData = Float32Array | Float64Array | Int8Array | Uint8Array | Int32Array | BigInt64Array;

export interface NpyArray {
  readonly dtype: NpyDType;
  readonly shape: readonly number[];
  readonly data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** numpy descr -> our dtype; '|' means byte order does not apply, '<' little-endian ('=' is native, little on x64/arm64). */
const DESCRS: Record<string, { dtype: NpyDType; itemSize: number }> = {
  '<f4': { dtype: 'float32', itemSize: 4 },
  '=f4': { dtype: 'float32', itemSize: 4 },
  '<f8': { dtype: 'float64', itemSize: 8 },
  '=f8': { dtype: 'float64', itemSize: 8 },
  '|i1': { dtype: 'int8', itemSize: 1 },
  '<i1': { dtype: 'int8', itemSize: 1 },
  '|u1': { dtype: 'uint8', itemSize: 1 },
  '<u1': { dtype: 'uint8', itemSize: 1 },
  '<i4': { dtype: 'int32', itemSize: 4 },
  '=i4': { dtype: 'int32', itemSize: 4 },
  '<i8': { dtype: 'int64', itemSize: 8 },
  '=i8': { dtype: 'int64', itemSize: 8 },
};

function formatError(source: string, message: string, expected: unknown, actual: unknown, fixes: string[] = []): TrtInt8Error {
  return new TrtInt8Error('ERR_BAD_BATCH', `${source}: ${message}`, { input: source, expected, actual, fixes });
}

/** Parses the Python-literal header dict numpy writes, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }. */
function parseHeader(header: string, source: string): { descr: string; fortranOrder: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined) {
    const structured = /'descr'\s*:\s*\[/.test(header);
    throw formatError(
      source,
      structured ? 'structured (record) arrays are not supported.' : 'the .npy header has no readable descr.',
      'a plain numeric array',
      header.trim(),
      structured ? ['Save each field as its own array: np.savez(path, a=x["a"], b=x["b"])'] : [],
    );
  }
  if (fortran === undefined || shapeText === undefined) {
    throw formatError(source, 'the .npy header is malformed.', "{'descr': ..., 'fortran_order': ..., 'shape': (...)}", header.trim());
  }
  const shape: number[] = [];
  for (const part of shapeText.split(',')) {
    const trimmed = part.trim().replace(/L$/, '');
    if (trimmed === '') continue;
    if (!/^\d+$/.test(trimmed)) throw formatError(source, 'the .npy header has a bad shape.', 'non-negative integers', shapeText);
    shape.push(Number(trimmed));
  }
  return { descr, fortranOrder: fortran === 'True', shape };
}

/** Parses the bytes of one .npy file. `source` names the file in errors. */
export function parseNpy(bytes: Uint8Array, source = '<buffer>'): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw formatError(source, 'this is not a .npy file.', 'bytes starting with \\x93NUMPY', `${bytes.length} bytes starting with ${JSON.stringify(Buffer.from(bytes.subarray(0, 6)).toString('latin1'))}`, [
      'Save the array with numpy.save(path, array).',
    ]);
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLength: number;
  let headerStart: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw formatError(source, 'the .npy header is truncated.', '>= 12 bytes', bytes.length);
    headerLength = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw formatError(source, 'unsupported .npy format version.', 'version 1.0, 2.0 or 3.0', `${major}.${bytes[7]}`);
  }
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) throw formatError(source, 'the .npy header is truncated.', `${dataStart} header bytes`, `${bytes.length} bytes in file`);
  // v3 allows utf-8 in the header; v1/v2 are latin1 (ASCII in practice).
  const header = Buffer.from(bytes.buffer, bytes.byteOffset + headerStart, headerLength).toString(major === 3 ? 'utf8' : 'latin1');
  const { descr, fortranOrder, shape } = parseHeader(header, source);
  const kind = DESCRS[descr];
  if (!kind) {
    const bigEndian = descr.startsWith('>');
    throw formatError(source, `unsupported dtype ${descr}.`, 'little-endian float32, float64, int8, uint8, int32 or int64 (<f4, <f8, |i1, |u1, <i4, <i8)', descr, [
      bigEndian ? 'Convert to little-endian: array.astype(array.dtype.newbyteorder("<"))' : 'Convert the array: array.astype(np.float32)',
    ]);
  }
  const elements = product(shape);
  if (fortranOrder && shape.filter((d) => d > 1).length > 1) {
    throw formatError(source, 'Fortran-ordered (column-major) arrays are not supported.', "fortran_order: False (C order)", 'fortran_order: True', [
      'Save a C-ordered copy: numpy.save(path, numpy.ascontiguousarray(array))',
    ]);
  }
  const byteLength = elements * kind.itemSize;
  const available = bytes.length - dataStart;
  if (available !== byteLength) {
    throw formatError(source, available < byteLength ? 'the .npy data is truncated.' : 'the .npy file has trailing bytes after the array.', `${byteLength} data bytes for shape (${shape.join(', ')}) of ${descr}`, `${available} bytes`, [
      'Re-save the file; it may have been cut off while copying.',
    ]);
  }
  // Copy so the typed array is aligned and does not pin the (possibly large) file buffer.
  // (Uint8Array.prototype.slice, because Buffer#slice would return a view.)
  const copy = Uint8Array.prototype.slice.call(bytes, dataStart, dataStart + byteLength).buffer;
  let data: NpyData;
  switch (kind.dtype) {
    case 'float32':
      data = new Float32Array(copy);
      break;
    case 'float64':
      data = new Float64Array(copy);
      break;
    case 'int8':
      data = new Int8Array(copy);
      break;
    case 'uint8':
      data = new Uint8Array(copy);
      break;
    case 'int32':
      data = new Int32Array(copy);
      break;
    case 'int64':
      data = new BigInt64Array(copy);
      break;
  }
  return { dtype: kind.dtype, shape, data };
}

// ---- zip (for .npz) --------------------------------------------------------------------------

interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;

/** A zip64 field; values beyond 2^53 cannot be offsets or sizes of a file we can hold, so they read as Infinity (caught as not fitting). */
function u64(view: DataView, offset: number): number {
  if (offset < 0 || offset + 8 > view.byteLength) return Infinity;
  const value = view.getBigUint64(offset, true);
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(value);
}

function readZipDirectory(bytes: Uint8Array, source: string): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (what: string) =>
    formatError(source, `this is not a readable .npz (zip) file: ${what}.`, 'a zip archive written by numpy.savez or numpy.savez_compressed', `${bytes.length} bytes`, [
      'Save the arrays with numpy.savez(path, name=array).',
    ]);
  // The end-of-central-directory record sits in the last 22 + (up to 65535 comment) bytes.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === EOCD_SIGNATURE) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad('no end-of-central-directory record');
  let entryCount = view.getUint16(eocd + 10, true);
  let directoryOffset = view.getUint32(eocd + 16, true);
  if ((entryCount === 0xffff || directoryOffset === 0xffffffff) && eocd >= 20 && view.getUint32(eocd - 20, true) === ZIP64_LOCATOR_SIGNATURE) {
    const zip64 = u64(view, eocd - 20 + 8);
    if (!(zip64 + 56 <= bytes.length) || view.getUint32(zip64, true) !== ZIP64_EOCD_SIGNATURE) throw bad('broken zip64 end record');
    entryCount = u64(view, zip64 + 32);
    directoryOffset = u64(view, zip64 + 48);
  }
  // Each entry takes at least 46 bytes: a count the file cannot hold is corrupt (and would loop for long).
  if (directoryOffset > bytes.length || entryCount * 46 > bytes.length - directoryOffset) throw bad(`the central directory (${entryCount} entries at offset ${directoryOffset}) does not fit in the file`);
  const entries: ZipEntry[] = [];
  let p = directoryOffset;
  for (let n = 0; n < entryCount; n++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== CENTRAL_SIGNATURE) throw bad(`central directory entry ${n} is missing`);
    const method = view.getUint16(p + 10, true);
    const crc32 = view.getUint32(p + 16, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    let localHeaderOffset = view.getUint32(p + 42, true);
    if (p + 46 + nameLength + extraLength + commentLength > bytes.length) throw bad(`central directory entry ${n} runs past the end of the file`);
    const name = Buffer.from(bytes.buffer, bytes.byteOffset + p + 46, nameLength).toString('utf8');
    // A zip64 extra field (id 1) holds, in order, only the 64-bit values whose 32-bit field is 0xffffffff.
    let e = p + 46 + nameLength;
    const extraEnd = e + extraLength;
    while (e + 4 <= extraEnd) {
      const id = view.getUint16(e, true);
      const length = view.getUint16(e + 2, true);
      if (e + 4 + length > extraEnd) throw bad(`central directory entry ${n} has a truncated extra field`);
      if (id === 1) {
        let q = e + 4;
        const end = q + length;
        const next = () => {
          if (q + 8 > end) throw bad(`central directory entry ${n} has a short zip64 field`);
          const value = u64(view, q);
          q += 8;
          return value;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
      }
      e += 4 + length;
    }
    entries.push({ name, method, crc32, compressedSize, size, localHeaderOffset });
    p = extraEnd + commentLength;
  }
  return entries;
}

/**
 * Inflates at most the size the zip header declares: a "zip bomb" that declares 1 KiB and inflates to
 * gigabytes stops at 1 KiB + 1 byte instead of filling memory first.
 */
function inflateBounded(raw: Uint8Array, entry: ZipEntry, at: string): Uint8Array {
  if (!(entry.size <= buffer.constants.MAX_LENGTH)) {
    throw formatError(at, 'the zip entry declares more data than one buffer can hold.', `at most ${buffer.constants.MAX_LENGTH} bytes`, entry.size);
  }
  try {
    // One byte more than declared, so an entry that inflates to more fails the size check below.
    return zlib.inflateRawSync(raw, { maxOutputLength: Math.min(entry.size + 1, buffer.constants.MAX_LENGTH) });
  } catch (cause) {
    const tooLarge = (cause as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
    throw formatError(at, tooLarge ? 'the zip entry inflates to more than the size its header declares.' : `the deflated data is corrupt (${(cause as Error).message}).`, tooLarge ? `${entry.size} bytes` : 'valid deflate data', tooLarge ? 'more' : 'corrupt data');
  }
}

function extractEntry(bytes: Uint8Array, entry: ZipEntry, source: string): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = `${source}:${entry.name}`;
  const o = entry.localHeaderOffset;
  if (!(o + 30 <= bytes.length) || view.getUint32(o, true) !== LOCAL_SIGNATURE) {
    throw formatError(at, 'the zip entry has no local header.', 'a local file header', `offset ${o}`);
  }
  const start = o + 30 + view.getUint16(o + 26, true) + view.getUint16(o + 28, true);
  if (!(start + entry.compressedSize <= bytes.length)) {
    throw formatError(at, 'the zip entry is truncated.', `${entry.compressedSize} bytes`, `${bytes.length - start} bytes`);
  }
  const raw = bytes.subarray(start, start + entry.compressedSize);
  let out: Uint8Array;
  if (entry.method === 0) out = raw;
  else if (entry.method === 8) out = inflateBounded(raw, entry, at); else {
    throw formatError(at, `unsupported zip compression method ${entry.method}.`, 'stored (0) or deflate (8), as numpy.savez / savez_compressed write', entry.method);
  }
  if (out.length !== entry.size) throw formatError(at, 'the zip entry has the wrong size.', entry.size, out.length);
  // zlib.crc32 exists from Node 20.15; a corrupted archive must not turn into wrong calibration data.
  const crc32 = (zlib as unknown as { crc32?: (data: Uint8Array) => number }).crc32;
  if (crc32 && crc32(out) >>> 0 !== entry.crc32) {
    throw formatError(at, 'the zip entry fails its CRC-32 check (corrupt file).', entry.crc32.toString(16), (crc32(out) >>> 0).toString(16));
  }
  return out;
}

/** Parses the bytes of a .npz file into name -> array; names lose their ".npy" suffix as in numpy.load. */
export function parseNpz(bytes: Uint8Array, source = '<buffer>'): Map<string, NpyArray> {
  const arrays = new Map<string, NpyArray>();
  for (const entry of readZipDirectory(bytes, source)) {
    if (entry.name.endsWith('/')) continue;
    const name = entry.name.endsWith('.npy') ? entry.name.slice(0, -4) : entry.name;
    arrays.set(name, parseNpy(extractEntry(bytes, entry, source), `${source}:${entry.name}`));
  }
  return arrays;
}

async function readBytes(file: string): Promise<Uint8Array> {
  try {
    return await fs.readFile(file);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new TrtInt8Error('ERR_IO', `Cannot read ${file}: ${(cause as Error).message}`, {
      input: file,
      expected: 'a readable file',
      actual: code ?? 'unreadable',
      fixes: code === 'ENOENT' ? ['Check the path; relative paths are resolved against the current directory.'] : [],
      cause,
    });
  }
}

/** Reads one .npy file. */
export async function readNpy(file: string): Promise<NpyArray> {
  return parseNpy(await readBytes(file), file);
}

/** Reads a .npz file into name -> array. */
export async function readNpz(file: string): Promise<Map<string, NpyArray>> {
  return parseNpz(await readBytes(file), file);
}
