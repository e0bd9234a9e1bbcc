/**
 * TensorRT's calibration cache ("calibration table") text format, as IInt8Calibrator's
 * readCalibrationCache/writeCalibrationCache exchange it:
 *
 *   TRT-100300-EntropyCalibration2        <- header: TRT-<version code>-<algorithm>
 *   images: 3c010a14                       <- "<tensor name>: <hex>", hex = big-endian IEEE-754 bits of
 *   /model.0/conv/Conv_output_0: 3d4c8b21     the float32 scale, scale = amax / 127
 *
 * TensorRT silently ignores a cache whose header does not match its own version and the calibrator's
 * algorithm and recalibrates from scratch, so we check the header explicitly (ERR_CACHE_MISMATCH).
 *
 * IInt8LegacyCalibrator is the exception: TensorRT 10.6 writes its cache with a header of its own, an integer
 * and two hex float64 values (`0 3fe0000000000000 3fe0000000000000`), no version and no algorithm name, and
 * the same scale lines after it. Such a cache is a LegacyCalibration cache of an unknown version.
 */
import { TrtInt8Error } from '../core/errors.js';
import type { AlgorithmKind } from '../core/algorithm.js';
import { badOption as optionError } from '../core/is.js';

/** The algorithm names TensorRT writes into the header, by our algorithm kind. */
const CACHE_ALGORITHM_NAMES = {
  entropy2: 'EntropyCalibration2',
  entropy: 'EntropyCalibration',
  minmax: 'MinMaxCalibration',
  legacy: 'LegacyCalibration',
} as const satisfies Partial<Record<AlgorithmKind, string>>;

export type CacheAlgorithmKind = keyof typeof CACHE_ALGORITHM_NAMES;
export type CacheAlgorithmName = (typeof CACHE_ALGORITHM_NAMES)[CacheAlgorithmKind];

/** Largest finite float32; scales above it cannot be stored. */
const FLOAT32_MAX = 3.4028234663852886e38;
/** Smallest normal float32. A parsed scale below it is no calibration (0, or a line cut inside its hex digits). */
const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;
/**
 * Longest cache line read (characters). Real lines are a tensor name and 8 hex digits; the bound keeps a
 * hostile file from making huge error messages or long scans.
 */
export const MAX_CACHE_LINE_LENGTH = 65_536;
/** Version codes are at most 9 digits (TensorRT 99.99.99 is 999999); more is a corrupt header. */
const MAX_VERSION_DIGITS = 9;

export interface TensorRTVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

export interface CalibrationCache {
  /**
   * The header's version code, e.g. 100300 for TensorRT 10.3.0 or 8601 for 8.6.1; 0 for a legacy
   * calibrator's header, which names no version (see `legacyHeader`).
   */
  readonly versionCode: number;
  /** The header line as written, when it is IInt8LegacyCalibrator's (no version, no algorithm name). */
  readonly legacyHeader?: string;
  /** The header's algorithm name exactly as written, e.g. "EntropyCalibration2". */
  readonly algorithmName: string;
  /** Our algorithm kind for that name; undefined for a name we do not know. */
  readonly algorithm: CacheAlgorithmKind | undefined;
  /** Tensor name -> scale (amax / 127), in file order. */
  readonly scales: Map<string, number>;
}

export interface CalibrationCacheExpectation {
  /** "10.3.0", a TensorRTVersion, or a version code such as 100300. */
  readonly version?: string | number | TensorRTVersion;
  /** An algorithm kind ('entropy2') or a header name ('EntropyCalibration2'). */
  readonly algorithm?: AlgorithmKind | string;
}

export interface FormatCalibrationCacheOptions {
  readonly version: string | number | TensorRTVersion;
  readonly algorithm: AlgorithmKind | string;
  /** Tensor name -> scale (amax / 127). Written in the Map's order. */
  readonly scales: ReadonlyMap<string, number>;
}

/** ERR_BAD_OPTION through the one builder; the input itself names the option here ("Invalid scale."). */
function badOption(input: string, expected: string, actual: unknown, fixes: string[] = []): TrtInt8Error {
  return optionError('', input, expected, actual, fixes, `Invalid ${input}.`);
}

/** Parses "10.3.0" (a fourth build component, as in "10.3.0.26", is ignored). */
export function parseTensorRTVersion(version: string): TensorRTVersion {
  const match = typeof version === 'string' ? /^(\d+)\.(\d+)(?:\.(\d+))?(?:\.\d+)?$/.exec(version.trim()) : null;
  if (!match) throw badOption('TensorRT version', 'a version such as "10.3.0"', version);
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3] ?? 0) };
}

/**
 * The version code TensorRT writes into cache headers (its NV_TENSORRT_VERSION):
 * major*10000 + minor*100 + patch from 10.0 on ("TRT-100300-..."), major*1000 + minor*100 + patch
 * before ("TRT-8601-...").
 */
export function tensorRTVersionCode(version: string | TensorRTVersion): number {
  const v = typeof version === 'string' ? parseTensorRTVersion(version) : version;
  const { major, minor, patch } = v;
  const integers = [major, minor, patch].every((n) => Number.isInteger(n) && n >= 0);
  if (!integers || minor > 99 || patch > 99 || (major < 10 && minor > 9)) {
    throw badOption('TensorRT version', 'major.minor.patch with minor and patch of at most two digits', version);
  }
  return major >= 10 ? major * 10000 + minor * 100 + patch : major * 1000 + minor * 100 + patch;
}

/** The inverse of tensorRTVersionCode: 100300 -> 10.3.0, 8601 -> 8.6.1. */
export function versionFromCode(code: number): TensorRTVersion {
  if (!Number.isInteger(code) || code < 1000) throw badOption('TensorRT version code', 'an integer such as 100300 or 8601', code);
  if (code >= 100000) return { major: Math.floor(code / 10000), minor: Math.floor(code / 100) % 100, patch: code % 100 };
  return { major: Math.floor(code / 1000), minor: Math.floor(code / 100) % 10, patch: code % 100 };
}

function toVersionCode(version: string | number | TensorRTVersion): number {
  if (typeof version === 'number') {
    versionFromCode(version);
    return version;
  }
  return tensorRTVersionCode(version);
}

/** The header name of an algorithm; percentile has none because TensorRT has no such calibrator. */
export function cacheAlgorithmName(kind: AlgorithmKind): CacheAlgorithmName {
  if (Object.hasOwn(CACHE_ALGORITHM_NAMES, kind)) return CACHE_ALGORITHM_NAMES[kind as CacheAlgorithmKind];
  throw badOption('algorithm', `one of ${Object.keys(CACHE_ALGORITHM_NAMES).join(', ')}`, kind, [
    'TensorRT has no percentile calibrator. Write the cache under the algorithm of the TensorRT calibrator that will read it (usually "entropy2"); TensorRT uses cached scales as they are.',
  ]);
}

/** Our algorithm kind for a header name, or undefined. */
export function algorithmFromCacheName(name: string): CacheAlgorithmKind | undefined {
  for (const [kind, n] of Object.entries(CACHE_ALGORITHM_NAMES)) if (n === name) return kind as CacheAlgorithmKind;
  return undefined;
}

function toAlgorithmName(algorithm: string): string {
  if (Object.hasOwn(CACHE_ALGORITHM_NAMES, algorithm)) return CACHE_ALGORITHM_NAMES[algorithm as CacheAlgorithmKind];
  if (algorithmFromCacheName(algorithm)) return algorithm;
  return cacheAlgorithmName(algorithm as AlgorithmKind); // throws ERR_BAD_OPTION with the list
}

/** The 8 hex digits of a float32 scale, big-endian, as TensorRT writes them. */
export function scaleToHex(scale: number): string {
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale < 0 || scale > FLOAT32_MAX) {
    throw badOption('scale', 'a finite, non-negative float32', scale);
  }
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, scale, false);
  return view.getUint32(0, false).toString(16).padStart(8, '0');
}

/** Decodes 1 to 8 hex digits (TensorRT drops leading zeros) as the bits of a big-endian float32. */
export function hexToScale(hex: string): number {
  if (typeof hex !== 'string' || !/^[0-9a-fA-F]{1,8}$/.test(hex)) {
    throw badOption('scale hex', '1 to 8 hex digits', hex);
  }
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, Number.parseInt(hex, 16), false);
  return view.getFloat32(0, false);
}

/** INT8 scale of a symmetric range [-amax, amax]. */
export function amaxToScale(amax: number): number {
  return amax / 127;
}

export function scaleToAmax(scale: number): number {
  return scale * 127;
}

function formatError(line: number, message: string, actual: string, expected: string, fixes: string[] = []): TrtInt8Error {
  return new TrtInt8Error('ERR_CACHE_FORMAT', `Calibration cache line ${line}: ${message}`, {
    input: `line ${line}`,
    expected,
    actual,
    fixes: [...fixes, 'Delete the cache file to recalibrate from scratch.'],
    details: { line },
  });
}

function lineTooLong(lineNo: number, length: number): TrtInt8Error {
  return formatError(lineNo, `the line is ${length} characters long, more than any cache line (${MAX_CACHE_LINE_LENGTH}).`, `${length} characters`, `at most ${MAX_CACHE_LINE_LENGTH} characters`, [
    'Check that the file is a TensorRT calibration cache.',
  ]);
}

/** IInt8LegacyCalibrator's header: an integer and two big-endian hex float64 values. */
const LEGACY_HEADER = /^\d{1,20} [0-9a-fA-F]{16} [0-9a-fA-F]{16}$/;

function parseHeader(line: string, lineNo: number): { versionCode: number; algorithmName: string; legacyHeader?: string } {
  if (LEGACY_HEADER.test(line)) return { versionCode: 0, algorithmName: CACHE_ALGORITHM_NAMES.legacy, legacyHeader: line };
  const match = /^TRT-(\d+)-(\S+)$/.exec(line);
  if (!match) {
    throw formatError(lineNo, 'expected the header "TRT-<version>-<algorithm>".', line.slice(0, 120), 'e.g. TRT-100300-EntropyCalibration2', [
      'Check that the file is a TensorRT calibration cache.',
    ]);
  }
  const digits = match[1] as string;
  if (digits.length > MAX_VERSION_DIGITS) {
    throw formatError(lineNo, `the header's version code has ${digits.length} digits; no TensorRT version has more than ${MAX_VERSION_DIGITS}.`, digits.slice(0, 40), 'e.g. 100300 for TensorRT 10.3.0');
  }
  return { versionCode: Number(digits), algorithmName: match[2] as string };
}

/** One "<tensor name>: <hex>" line; the scale must be a normal, positive float32 (anything else is no calibration). */
function parseScaleLine(content: string, lineNo: number): { name: string; scale: number } {
  const sep = content.lastIndexOf(': ');
  if (sep < 0) throw formatError(lineNo, 'expected "<tensor name>: <hex scale>".', content.slice(0, 120), '<tensor name>: <hex scale>');
  const name = content.slice(0, sep);
  const hex = content.slice(sep + 2).trim();
  if (name.length === 0) throw formatError(lineNo, 'the tensor name is empty.', content, '<tensor name>: <hex scale>');
  if (!/^[0-9a-fA-F]{1,8}$/.test(hex)) throw formatError(lineNo, `the scale of "${name}" is not 1 to 8 hex digits.`, hex, 'e.g. 3c010a14');
  const scale = hexToScale(hex);
  if (!(scale >= FLOAT32_MIN_NORMAL) || !Number.isFinite(scale)) {
    // Zero, -0, negative, NaN, infinite, or denormal (e.g. a last line cut to "3d1"): reusing it would give amax ~1e-40.
    throw formatError(lineNo, `the scale of "${name}" cannot be a calibration: ${describeScale(scale)}.`, `${hex} = ${scale}`, `a normal, positive float32 scale (>= ${FLOAT32_MIN_NORMAL})`, [
      'A file cut short (an interrupted copy or write) ends in such a line.',
    ]);
  }
  return { name, scale };
}

function describeScale(scale: number): string {
  if (Number.isNaN(scale)) return 'not a number';
  if (!Number.isFinite(scale)) return 'infinite';
  if (Object.is(scale, -0) || scale === 0) return 'zero';
  if (scale < 0) return 'negative';
  return 'denormal (far below any real range)';
}

/**
 * Parses a TensorRT calibration cache. Accepts CRLF, blank lines, hex of fewer than 8 digits and tensor
 * names containing ": " (the name ends at the LAST ": "). Any malformed line is ERR_CACHE_FORMAT with
 * its 1-based line number; a header that differs from `expect` is ERR_CACHE_MISMATCH.
 */
export function parseCalibrationCache(input: string | Uint8Array, expect?: CalibrationCacheExpectation): CalibrationCache {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else if (input instanceof Uint8Array) {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch (cause) {
      throw new TrtInt8Error('ERR_CACHE_FORMAT', 'The calibration cache is not UTF-8 text.', {
        input: 'cache',
        expected: 'a TensorRT calibration cache (text)',
        actual: `${input.byteLength} bytes of binary data`,
        fixes: ['Check that the path points at a calibration cache, not an engine or an ONNX model.'],
        cause,
      });
    }
  } else {
    throw badOption('cache', 'a string or Uint8Array', typeof input);
  }
  if (text.startsWith('\uFEFF')) text = text.slice(1);

  const lines = text.split('\n');
  let header: ReturnType<typeof parseHeader> | undefined;
  const scales = new Map<string, number>();
  const seenAt = new Map<string, number>();
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i] as string;
    if (raw.length > MAX_CACHE_LINE_LENGTH) throw lineTooLong(lineNo, raw.length);
    // trimEnd is linear; a /\s+$/ regex is quadratic on a long run of spaces followed by another character.
    const content = raw.trimEnd();
    if (content.trimStart() === '') continue;
    if (!header) {
      header = parseHeader(content, lineNo);
      continue;
    }
    const { name, scale } = parseScaleLine(content, lineNo);
    const firstLine = seenAt.get(name);
    if (firstLine !== undefined) {
      throw formatError(lineNo, `tensor "${name}" appears twice (first on line ${firstLine}).`, name, 'each tensor once');
    }
    seenAt.set(name, lineNo);
    scales.set(name, scale);
  }
  if (!header) {
    throw formatError(1, 'the cache is empty.', '(no header)', 'e.g. TRT-100300-EntropyCalibration2');
  }
  const cache: CalibrationCache = {
    versionCode: header.versionCode,
    ...(header.legacyHeader !== undefined ? { legacyHeader: header.legacyHeader } : {}),
    algorithmName: header.algorithmName,
    algorithm: algorithmFromCacheName(header.algorithmName),
    scales,
  };
  if (expect) checkCalibrationCacheHeader(cache, expect);
  return cache;
}

/**
 * Throws ERR_CACHE_MISMATCH where the cache header differs from what the TensorRT build would
 * accept; TensorRT itself would ignore such a cache without saying why.
 */
export function checkCalibrationCacheHeader(cache: Pick<CalibrationCache, 'versionCode' | 'algorithmName' | 'legacyHeader'>, expect: CalibrationCacheExpectation): void {
  // A legacy calibrator's header names no version, so there is none to compare.
  if (expect.version !== undefined && cache.legacyHeader === undefined) {
    const expected = toVersionCode(expect.version);
    if (expected !== cache.versionCode) {
      const show = (code: number) => {
        const v = versionFromCode(code);
        return `${code} (TensorRT ${v.major}.${v.minor}.${v.patch})`;
      };
      throw new TrtInt8Error('ERR_CACHE_MISMATCH', 'The calibration cache was written by another TensorRT version; TensorRT would ignore it and recalibrate.', {
        input: 'cache header version',
        expected: show(expected),
        actual: safeShow(cache.versionCode, show),
        fixes: [
          'Recalibrate with this TensorRT version (delete the cache file).',
          'Or rewrite the header with formatCalibrationCache if you know the scales still apply (same network, same tensor names).',
        ],
        details: { expectedVersionCode: expected, actualVersionCode: cache.versionCode },
      });
    }
  }
  if (expect.algorithm !== undefined) {
    const expected = toAlgorithmName(expect.algorithm);
    if (expected !== cache.algorithmName) {
      throw new TrtInt8Error('ERR_CACHE_MISMATCH', 'The calibration cache was written for another calibration algorithm; TensorRT would ignore it and recalibrate.', {
        input: 'cache header algorithm',
        expected,
        actual: cache.algorithmName,
        fixes: ['Use a calibrator of the algorithm the cache was written with.', 'Or delete the cache file to recalibrate.'],
        details: { expectedAlgorithm: expected, actualAlgorithm: cache.algorithmName },
      });
    }
  }
}

function safeShow(code: number, show: (code: number) => string): string {
  try {
    return show(code);
  } catch {
    return String(code);
  }
}

/** Writes a cache TensorRT reads back: header, then one "name: hex" line per tensor, "\n" line ends. */
export function formatCalibrationCache(options: FormatCalibrationCacheOptions): string {
  if (options === null || typeof options !== 'object') throw badOption('options', '{ version, algorithm, scales }', options);
  const code = toVersionCode(options.version);
  const algorithmName = toAlgorithmName(options.algorithm);
  if (!(options.scales instanceof Map)) throw badOption('scales', 'a Map of tensor name -> scale', options.scales);
  const lines = [`TRT-${code}-${algorithmName}`];
  for (const [name, scale] of options.scales) {
    if (typeof name !== 'string' || name.length === 0 || /[\r\n]/.test(name)) {
      throw badOption('tensor name', 'a non-empty name without line breaks', name);
    }
    let hex: string;
    try {
      hex = scaleToHex(scale);
    } catch {
      throw badOption(`scale of "${name}"`, 'a finite, non-negative float32', scale);
    }
    lines.push(`${name}: ${hex}`);
  }
  return `${lines.join('\n')}\n`;
}
