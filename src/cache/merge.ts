/**
 * mergeCalibrationCaches(): one TensorRT calibration cache from several, e.g. one calibration per
 * optimization-profile range (TensorRT 10.x calibrates at one shape per run, so a model used at very
 * different shapes is calibrated once per range and the caches merged).
 *
 * Rule 'max': per tensor the largest scale, i.e. the widest range, so that no profile's activations
 * clip; the price is coarser steps for the profiles with narrower ranges. A tensor present in only some
 * caches keeps the scale it has there (it may exist only in some builds' graphs). The headers must agree
 * on TensorRT version and algorithm, since TensorRT ignores a cache whose header differs from its own.
 */
import { TrtInt8Error } from '../core/errors.js';
import { badOption } from '../core/is.js';
import { algorithmFromCacheName, parseCalibrationCache, scaleToHex, type CalibrationCache } from './calibration-cache.js';

export type CacheMergeRule = 'max';

export interface MergeCalibrationCachesOptions {
  /** Default 'max' (the only rule so far; see the file comment). */
  readonly rule?: CacheMergeRule;
}

export interface MergedCalibrationCache extends CalibrationCache {
  /** The merged cache in TensorRT's text format, ready to write (writeFileAtomic) or hand to readCache. */
  readonly text: string;
  /** Tensor name -> index of the cache its scale came from. */
  readonly scaleFrom: ReadonlyMap<string, number>;
  /** Tensors missing from at least one cache, with the indices of the caches that have them. */
  readonly partial: ReadonlyMap<string, readonly number[]>;
}

function toCache(input: unknown, index: number): CalibrationCache {
  if (typeof input === 'string' || input instanceof Uint8Array) {
    try {
      return parseCalibrationCache(input);
    } catch (error) {
      if (error instanceof TrtInt8Error) {
        throw new TrtInt8Error(error.code, `Calibration cache ${index}: ${error.message}`, {
          input: `caches[${index}]`,
          expected: error.expected,
          actual: error.actual,
          fixes: error.fixes,
          details: { cacheIndex: index, ...error.details },
          cause: error,
        });
      }
      throw error;
    }
  }
  const looksParsed = input !== null && typeof input === 'object' && (input as CalibrationCache).scales instanceof Map &&
    typeof (input as CalibrationCache).versionCode === 'number' && typeof (input as CalibrationCache).algorithmName === 'string';
  if (looksParsed) return checkParsed(input as CalibrationCache, index);
  throw new TrtInt8Error('ERR_BAD_OPTION', `mergeCalibrationCaches: caches[${index}] is not a calibration cache.`, {
    input: `caches[${index}]`,
    expected: 'the cache text, its bytes, or parseCalibrationCache()\'s result',
    actual: input === null ? 'null' : typeof input,
  });
}

/**
 * A parsed cache built by hand must still write back as one: names without line breaks (a newline would
 * split the line and the merged text would not parse), a header algorithm without white space.
 */
function checkParsed(cache: CalibrationCache, index: number): CalibrationCache {
  const bad = (input: string, expected: string, actual: unknown) =>
    badOption('mergeCalibrationCaches', `caches[${index}].${input}`, expected, actual, [], `mergeCalibrationCaches: caches[${index}] has an invalid ${input}.`);
  if (!Number.isSafeInteger(cache.versionCode) || cache.versionCode < 0) throw bad('versionCode', 'a non-negative integer such as 100300', cache.versionCode);
  if (!/^\S+$/.test(cache.algorithmName)) throw bad('algorithmName', 'a header name without white space, e.g. EntropyCalibration2', cache.algorithmName);
  for (const name of cache.scales.keys()) {
    if (typeof name !== 'string' || name.length === 0 || /[\r\n]/.test(name)) {
      throw bad('scales', 'tensor names that are non-empty and hold no line break', typeof name === 'string' ? JSON.stringify(name) : typeof name);
    }
  }
  return cache;
}

/**
 * Merges TensorRT calibration caches (text, bytes, or parsed) by `rule`. Throws ERR_CACHE_MISMATCH when
 * the headers differ in TensorRT version or algorithm, ERR_CACHE_FORMAT for a malformed cache (naming
 * which), ERR_BAD_OPTION for an empty list or an unknown rule.
 */
export function mergeCalibrationCaches(caches: readonly (string | Uint8Array | CalibrationCache)[], options: MergeCalibrationCachesOptions = {}): MergedCalibrationCache {
  const rule = options?.rule ?? 'max';
  if (rule !== 'max') {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'mergeCalibrationCaches: unknown merge rule.', {
      input: 'rule',
      expected: "'max' (per tensor the widest range)",
      actual: rule,
    });
  }
  if (!Array.isArray(caches) || caches.length === 0) {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'mergeCalibrationCaches needs at least one cache.', {
      input: 'caches',
      expected: 'a non-empty array of caches',
      actual: Array.isArray(caches) ? 'an empty array' : typeof caches,
    });
  }
  const parsed = caches.map(toCache);
  const first = parsed[0]!;
  parsed.forEach((cache, i) => {
    if (cache.versionCode !== first.versionCode) {
      throw new TrtInt8Error('ERR_CACHE_MISMATCH', `mergeCalibrationCaches: cache ${i} was written for another TensorRT version than cache 0.`, {
        input: `caches[${i}] header version`,
        expected: `TRT-${first.versionCode}-... (as cache 0)`,
        actual: `TRT-${cache.versionCode}-...`,
        fixes: ['Calibrate every profile with the same TensorRT version.', 'TensorRT ignores a cache of another version, so a merged cache could not mix them anyway.'],
        details: { cacheIndex: i, expectedVersionCode: first.versionCode, actualVersionCode: cache.versionCode },
      });
    }
    if (cache.algorithmName !== first.algorithmName) {
      throw new TrtInt8Error('ERR_CACHE_MISMATCH', `mergeCalibrationCaches: cache ${i} was written by another calibration algorithm than cache 0.`, {
        input: `caches[${i}] header algorithm`,
        expected: `${first.algorithmName} (as cache 0)`,
        actual: cache.algorithmName,
        fixes: ['Calibrate every profile with the same calibrator class (e.g. EntropyCalibrator2).'],
        details: { cacheIndex: i, expectedAlgorithm: first.algorithmName, actualAlgorithm: cache.algorithmName },
      });
    }
  });

  const scales = new Map<string, number>();
  const scaleFrom = new Map<string, number>();
  const presentIn = new Map<string, number[]>();
  parsed.forEach((cache, i) => {
    for (const [name, scale] of cache.scales) {
      const present = presentIn.get(name);
      if (present) present.push(i);
      else presentIn.set(name, [i]);
      const current = scales.get(name);
      if (current === undefined || scale > current) {
        scales.set(name, scale);
        scaleFrom.set(name, i);
      }
    }
  });
  const partial = new Map([...presentIn].filter(([, present]) => present.length < parsed.length));
  // Written by hand rather than with formatCalibrationCache so that a header name we do not know survives.
  const header = first.legacyHeader ?? `TRT-${first.versionCode}-${first.algorithmName}`;
  const lines = [header, ...[...scales].map(([name, scale]) => `${name}: ${scaleToHex(scale)}`)];
  return {
    versionCode: first.versionCode,
    ...(first.legacyHeader !== undefined ? { legacyHeader: first.legacyHeader } : {}),
    algorithmName: first.algorithmName,
    algorithm: algorithmFromCacheName(first.algorithmName),
    scales,
    text: `${lines.join('\n')}\n`,
    scaleFrom,
    partial,
  };
}
