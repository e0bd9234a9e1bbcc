/**
 * Reader for the IDX format of (Fashion-)MNIST: big-endian header `0 0 <type> <ndim>`, ndim uint32
 * dimensions, then the data. Gzip-compressed files (as the Debian package ships them) are detected by
 * their magic bytes and inflated. Only unsigned-byte data (type 0x08) occurs in these data sets.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { TrtInt8Error } from '../../src/core/errors.js';

export interface IdxArray {
  /** Dimensions from the header, e.g. [60000, 28, 28]. */
  readonly dims: readonly number[];
  /** Row-major data, dims.reduce(*) bytes. */
  readonly data: Uint8Array;
}

const IDX_UNSIGNED_BYTE = 0x08;
const IDX_TYPE_NAMES: Record<number, string> = { 0x08: 'uint8', 0x09: 'int8', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64' };

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function badIdx(source: string, message: string, expected: unknown, actual: unknown): TrtInt8Error {
  return new TrtInt8Error('ERR_IO', `${source} is not a usable IDX file: ${message}.`, {
    input: source,
    expected,
    actual,
    fixes: ['Re-create the data with `npm run setup:example -- --force` (it verifies sizes and sha256).'],
  });
}

/** Parses IDX bytes (raw or gzip). `source` names the data in errors. */
export function parseIdx(bytes: Uint8Array, source = 'IDX data'): IdxArray {
  let raw = bytes;
  if (isGzip(bytes)) {
    try {
      raw = gunzipSync(bytes);
    } catch (cause) {
      throw badIdx(source, 'the gzip stream is corrupt', 'a complete gzip stream', cause instanceof Error ? cause.message : String(cause));
    }
  }
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0) {
    const head = Array.from(raw.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw badIdx(source, 'bad magic number', '00 00 <type> <ndim>', head || '(empty)');
  }
  const type = raw[2]!;
  const ndim = raw[3]!;
  if (type !== IDX_UNSIGNED_BYTE) {
    throw badIdx(source, 'unsupported element type', 'unsigned byte (0x08)', `${IDX_TYPE_NAMES[type] ?? 'unknown'} (0x${type.toString(16).padStart(2, '0')})`);
  }
  const headerBytes = 4 + 4 * ndim;
  if (raw.length < headerBytes) throw badIdx(source, 'truncated header', `${headerBytes} header bytes`, `${raw.length} bytes`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = raw.length - headerBytes;
  if (actual !== expected) {
    throw badIdx(source, `the header declares [${dims.join(', ')}] but the data length differs`, `${expected} data bytes`, `${actual} data bytes`);
  }
  return { dims, data: raw.subarray(headerBytes) };
}

/** Reads and parses an IDX file; a missing file is ERR_IO with the setup command as the fix. */
export async function readIdx(file: string): Promise<IdxArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new TrtInt8Error('ERR_IO', missing ? `${file} does not exist.` : `Could not read ${file}.`, {
      input: file,
      expected: 'a readable IDX file',
      actual: (cause as Error).message,
      fixes: missing ? ['Download and extract Fashion-MNIST: npm run setup:example'] : [],
      cause,
    });
  }
  return parseIdx(bytes, file);
}
