import { describe, expect, it } from 'vitest';
import { amaxToScale, cacheAlgorithmName, formatCalibrationCache, hexToScale, parseCalibrationCache, scaleToAmax, scaleToHex, tensorRTVersionCode, versionFromCode } from '../../src/cache/index.js';
import { TrtInt8Error, type ErrorCode } from '../../src/core/errors.js';

function thrown(fn: () => unknown): TrtInt8Error {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TrtInt8Error);
    return error as TrtInt8Error;
  }
  throw new Error('expected a throw');
}

function expectCode(fn: () => unknown, code: ErrorCode): TrtInt8Error {
  const error = thrown(fn);
  expect(error.code).toBe(code);
  return error;
}

// Lines published in a TensorRT 8.6.1 cache (ultralytics/ultralytics#14121, YOLOv8 calibration).
const PUBLISHED_TRT8 = `TRT-8601-EntropyCalibration2
images: 3b66eddc
168: 3dc6cf6e
169: 3c010a14
`;

describe('scale hex codec', () => {
  it('decodes published TensorRT values', () => {
    // 3c010a14 is the scale TensorRT writes for sigmoid outputs: amax about 1.0002.
    expect(hexToScale('3c010a14')).toBeCloseTo(0.0078759, 6);
    expect(scaleToAmax(hexToScale('3c010a14'))).toBeCloseTo(1.0002, 4);
    // An input normalised to [0, 1]: scale exactly float32(1/127).
    expect(hexToScale('3c010204')).toBe(Math.fround(1 / 127));
    expect(hexToScale('40b7daf4')).toBeCloseTo(5.745478, 5);
  });

  it('encodes as 8 lowercase big-endian hex digits', () => {
    expect(scaleToHex(amaxToScale(1))).toBe('3c010204');
    expect(scaleToHex(0)).toBe('00000000');
    expect(scaleToHex(hexToScale('3C010A14'))).toBe('3c010a14');
  });

  it('accepts fewer than 8 hex digits (leading zeros dropped)', () => {
    expect(hexToScale('0')).toBe(0);
    expect(hexToScale('1')).toBe(hexToScale('00000001'));
    expect(hexToScale('1')).toBeGreaterThan(0); // smallest subnormal
  });

  it('round-trips arbitrary float32 scales exactly', () => {
    for (const value of [1e-30, 0.001234, 0.5, 3.75, 123456.78, 3.4e38]) {
      expect(hexToScale(scaleToHex(value))).toBe(Math.fround(value));
    }
  });

  it('rejects scales that cannot be stored', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, 1e39]) expectCode(() => scaleToHex(bad), 'ERR_BAD_OPTION');
    for (const bad of ['', 'xyz', '123456789', '3c01 0a14']) expectCode(() => hexToScale(bad), 'ERR_BAD_OPTION');
  });
});

describe('TensorRT version codes', () => {
  it('uses major*10000 from TensorRT 10 and major*1000 before', () => {
    expect(tensorRTVersionCode('10.3.0')).toBe(100300);
    expect(tensorRTVersionCode('10.16.0')).toBe(101600);
    expect(tensorRTVersionCode('10.3.0.26')).toBe(100300);
    expect(tensorRTVersionCode('8.6.1')).toBe(8601);
    expect(tensorRTVersionCode('5.1.0')).toBe(5100);
    expect(tensorRTVersionCode({ major: 11, minor: 0, patch: 2 })).toBe(110002);
  });

  it('inverts', () => {
    expect(versionFromCode(100300)).toEqual({ major: 10, minor: 3, patch: 0 });
    expect(versionFromCode(8601)).toEqual({ major: 8, minor: 6, patch: 1 });
    expect(versionFromCode(101600)).toEqual({ major: 10, minor: 16, patch: 0 });
  });

  it('rejects malformed versions', () => {
    for (const bad of ['10', 'ten.3.0', '10.3.x', '10.300.0', '']) expectCode(() => tensorRTVersionCode(bad), 'ERR_BAD_OPTION');
  });
});

describe('cacheAlgorithmName', () => {
  it('maps kinds to the names TensorRT writes', () => {
    expect(cacheAlgorithmName('entropy2')).toBe('EntropyCalibration2');
    expect(cacheAlgorithmName('entropy')).toBe('EntropyCalibration');
    expect(cacheAlgorithmName('minmax')).toBe('MinMaxCalibration');
    expect(cacheAlgorithmName('legacy')).toBe('LegacyCalibration');
  });

  it('has no TensorRT name for percentile, and says what to do', () => {
    const error = expectCode(() => cacheAlgorithmName('percentile'), 'ERR_BAD_OPTION');
    expect(error.fixes.join(' ')).toMatch(/entropy2/);
  });
});

describe('parseCalibrationCache', () => {
  // The first line of the cache TensorRT 10.6's IInt8LegacyCalibrator wrote on the H200 (acceptance row
  // int8-legacy, docs/gpu-results/2026-11-30-h200-trt10.6-run2/acceptance.json): no TRT-<version>-<algorithm>.
  const legacyCache = '0 3fe0000000000000 3fe0000000000000\ninput: 3c8a3e3a\n/stem1/conv/Conv_output_0: 3d1e4f76\n';

  it('reads the header a legacy calibrator writes as a LegacyCalibration cache of no stated version', () => {
    const cache = parseCalibrationCache(legacyCache);
    expect(cache.algorithm).toBe('legacy');
    expect(cache.legacyHeader).toBe('0 3fe0000000000000 3fe0000000000000');
    expect([...cache.scales.keys()]).toEqual(['input', '/stem1/conv/Conv_output_0']);
    expect(cache.scales.get('input')).toBeCloseTo(hexToScale('3c8a3e3a'), 12);
  });

  it('checks a legacy cache by algorithm only: any TensorRT version, but not another calibrator', () => {
    expect(parseCalibrationCache(legacyCache, { version: '10.6.0', algorithm: 'legacy' }).scales.size).toBe(2);
    expectCode(() => parseCalibrationCache(legacyCache, { version: '10.6.0', algorithm: 'entropy2' }), 'ERR_CACHE_MISMATCH');
    // Only that exact shape is a legacy header; anything else without TRT- still is no cache.
    expectCode(() => parseCalibrationCache('0 3fe00000 3fe0000000000000\ninput: 3c8a3e3a\n'), 'ERR_CACHE_FORMAT');
  });

  it('parses a cache TensorRT 8.6 wrote', () => {
    const cache = parseCalibrationCache(PUBLISHED_TRT8);
    expect(cache.versionCode).toBe(8601);
    expect(cache.algorithmName).toBe('EntropyCalibration2');
    expect(cache.algorithm).toBe('entropy2');
    expect([...cache.scales.keys()]).toEqual(['images', '168', '169']);
    expect(cache.scales.get('169')).toBeCloseTo(0.0078759, 6);
    expect(cache.scales.get('images')).toBeCloseTo(0.0035237, 6);
  });

  it('accepts CRLF, blank lines, trailing spaces and bytes', () => {
    const text = 'TRT-100300-MinMaxCalibration\r\n\r\ninput: 3c010204  \r\n\r\nout: 1000000\r\n';
    const cache = parseCalibrationCache(new TextEncoder().encode(text));
    expect(cache.algorithm).toBe('minmax');
    expect(cache.scales.get('input')).toBe(Math.fround(1 / 127));
    expect(cache.scales.get('out')).toBe(2 ** -125); // 7 hex digits: TensorRT drops leading zeros
  });

  it('splits at the LAST ": " so names may contain colons and ": "', () => {
    const text = ['TRT-100300-EntropyCalibration2', '(Unnamed Layer* 3) [Pooling]_output: 3c010204', 'a: b:: c: 3c010a14', 'ns::x: 3c010a14'].join('\n');
    const cache = parseCalibrationCache(text);
    expect([...cache.scales.keys()]).toEqual(['(Unnamed Layer* 3) [Pooling]_output', 'a: b:: c', 'ns::x']);
  });

  it('reports the 1-based line number of a malformed line', () => {
    const text = 'TRT-100300-EntropyCalibration2\ninput: 3c010204\n\nbroken line without separator\n';
    const error = expectCode(() => parseCalibrationCache(text), 'ERR_CACHE_FORMAT');
    expect(error.details.line).toBe(4);
    expect(error.input).toBe('line 4');
    expect(error.message).toMatch(/line 4/);
  });

  it('rejects bad hex, empty names and duplicates with their line numbers', () => {
    const cases: [string, number][] = [
      ['TRT-100300-EntropyCalibration2\nx: 3c01zz14', 2],
      ['TRT-100300-EntropyCalibration2\nx: 3c010a1400', 2],
      ['TRT-100300-EntropyCalibration2\n: 3c010a14', 2],
      ['TRT-100300-EntropyCalibration2\nx: 3c010a14\ny: 3c010a14\nx: 3d010a14', 4],
      ['TRT-100300-EntropyCalibration2\r\nx: 7fc00000', 2], // NaN scale
      ['\n\nnot a header\nx: 1', 3],
      ['TRT-abc-EntropyCalibration2\nx: 1', 1],
    ];
    for (const [text, line] of cases) {
      const error = expectCode(() => parseCalibrationCache(text), 'ERR_CACHE_FORMAT');
      expect(error.details.line, text).toBe(line);
    }
  });

  it('rejects an empty cache and binary data', () => {
    expectCode(() => parseCalibrationCache('\n\n'), 'ERR_CACHE_FORMAT');
    expectCode(() => parseCalibrationCache(new Uint8Array([0xff, 0xfe, 0x00, 0x80])), 'ERR_CACHE_FORMAT');
  });

  it('reports a header from another TensorRT version or algorithm as ERR_CACHE_MISMATCH', () => {
    const version = expectCode(() => parseCalibrationCache(PUBLISHED_TRT8, { version: '10.3.0' }), 'ERR_CACHE_MISMATCH');
    expect(version.message).toMatch(/ignore/);
    expect(version.details).toMatchObject({ expectedVersionCode: 100300, actualVersionCode: 8601 });
    expect(String(version.actual)).toMatch(/8\.6\.1/);
    const algorithm = expectCode(() => parseCalibrationCache(PUBLISHED_TRT8, { algorithm: 'minmax' }), 'ERR_CACHE_MISMATCH');
    expect(algorithm.expected).toBe('MinMaxCalibration');
    expect(algorithm.actual).toBe('EntropyCalibration2');
    // Matching expectations pass, given as kind, header name, version string or code.
    expect(parseCalibrationCache(PUBLISHED_TRT8, { version: '8.6.1', algorithm: 'entropy2' }).scales.size).toBe(3);
    expect(parseCalibrationCache(PUBLISHED_TRT8, { version: 8601, algorithm: 'EntropyCalibration2' }).scales.size).toBe(3);
  });
});

describe('formatCalibrationCache', () => {
  it('writes the header and one line per tensor, and round-trips', () => {
    const scales = new Map([
      ['images', amaxToScale(1)],
      ['/model.0/conv/Conv_output_0', 0.0421],
      ['name: with colon', 2.5],
    ]);
    const text = formatCalibrationCache({ version: '10.3.0', algorithm: 'entropy2', scales });
    expect(text.split('\n')[0]).toBe('TRT-100300-EntropyCalibration2');
    expect(text.split('\n')[1]).toBe('images: 3c010204');
    expect(text.endsWith('\n')).toBe(true);
    const back = parseCalibrationCache(text, { version: '10.3.0', algorithm: 'entropy2' });
    expect([...back.scales.keys()]).toEqual([...scales.keys()]);
    for (const [name, scale] of scales) expect(back.scales.get(name)).toBe(Math.fround(scale));
  });

  it('re-emits a TensorRT cache byte for byte', () => {
    const cache = parseCalibrationCache(PUBLISHED_TRT8);
    expect(formatCalibrationCache({ version: cache.versionCode, algorithm: cache.algorithmName, scales: cache.scales })).toBe(PUBLISHED_TRT8);
  });

  it('rejects names and scales TensorRT could not read back', () => {
    const bad = [
      new Map([['a\nb', 1]]),
      new Map([['', 1]]),
      new Map([['x', -1]]),
      new Map([['x', Number.NaN]]),
    ];
    for (const scales of bad) expectCode(() => formatCalibrationCache({ version: '10.3.0', algorithm: 'minmax', scales }), 'ERR_BAD_OPTION');
    expectCode(() => formatCalibrationCache({ version: '10.3.0', algorithm: 'percentile', scales: new Map() }), 'ERR_BAD_OPTION');
    expectCode(() => formatCalibrationCache({ version: '10.3.0', algorithm: 'Bogus', scales: new Map() }), 'ERR_BAD_OPTION');
  });
});
