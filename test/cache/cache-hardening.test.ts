/** The cache parser under hostile input (issue #12): linear time, bounded lines, scales that cannot be real. */
import { describe, expect, it } from 'vitest';
import { MAX_CACHE_LINE_LENGTH, mergeCalibrationCaches, parseCalibrationCache } from '../../src/cache/index.js';
import { caught } from '../caught.js';

const HEADER = 'TRT-100300-EntropyCalibration2';

describe('parseCalibrationCache hardening', () => {
  // The old /\s+$/ per line took seconds for 40,000 spaces and minutes for this; the test timeout is the bound.
  it('is linear on a long run of spaces followed by another character', { timeout: 2_000 }, () => {
    const text = `${HEADER}\nx: 3c010a14\ny${' '.repeat(60_000)}z: 3c010a14\n`;
    const cache = parseCalibrationCache(text);
    expect(cache.scales.size).toBe(2);
    const trailing = `${HEADER}\nx: 3c010a14${' '.repeat(60_000)}\n`;
    expect(parseCalibrationCache(trailing).scales.get('x')).toBeCloseTo(0.0078759, 6);
  });

  it('refuses a line longer than MAX_CACHE_LINE_LENGTH with its number, and a bounded message', { timeout: 5_000 }, () => {
    const long = `${HEADER}\nx: 3c010a14\n${'n'.repeat(MAX_CACHE_LINE_LENGTH + 1)}: 3c010a14\n`;
    const error = caught(() => parseCalibrationCache(long));
    expect(error.code).toBe('ERR_CACHE_FORMAT');
    expect(error.details.line).toBe(3);
    expect(error.message.length).toBeLessThan(2_000);
    const huge = `${HEADER}\n${' '.repeat(20_000_000)}x\n`;
    expect(caught(() => parseCalibrationCache(huge)).details.line).toBe(2);
  });

  it('refuses scales that cannot be a calibration: denormal (a cut line), zero, -0, negative, infinite, NaN', () => {
    for (const hex of ['3d1', '0', '00000000', '80000000', 'bf800000', '7f800000', 'ff800000', '7fc00000', '007fffff']) {
      const error = caught(() => parseCalibrationCache(`${HEADER}\nok: 3c010a14\nbad: ${hex}\n`));
      expect(error.code, hex).toBe('ERR_CACHE_FORMAT');
      expect(error.details.line, hex).toBe(3);
      expect(error.message, hex).toContain('"bad"');
    }
    // The smallest normal float32 is accepted (7 hex digits, as TensorRT writes it without leading zeros).
    expect(parseCalibrationCache(`${HEADER}\nt: 800000\n`).scales.get('t')).toBe(2 ** -126);
  });

  it('refuses a header version code that overflows', () => {
    for (const digits of ['9999999999', '1'.repeat(400)]) {
      const error = caught(() => parseCalibrationCache(`TRT-${digits}-EntropyCalibration2\nx: 3c010a14\n`));
      expect(error.code).toBe('ERR_CACHE_FORMAT');
      expect(error.details.line).toBe(1);
    }
    expect(parseCalibrationCache(`TRT-999999-EntropyCalibration2\nx: 3c010a14\n`).versionCode).toBe(999999);
  });
});

describe('mergeCalibrationCaches hardening', () => {
  const parsed = (names: string[]) => ({
    versionCode: 100300,
    algorithmName: 'EntropyCalibration2',
    algorithm: 'entropy2' as const,
    scales: new Map(names.map((n) => [n, 0.01])),
  });

  it('refuses tensor names with line breaks, which would write a cache that does not parse', () => {
    for (const name of ['a\nb', 'x\r', '\n', '']) {
      const error = caught(() => mergeCalibrationCaches([parsed(['ok', name])]));
      expect(error.code, JSON.stringify(name)).toBe('ERR_BAD_OPTION');
      expect(error.input).toBe('caches[0].scales');
    }
    const header = caught(() => mergeCalibrationCaches([{ ...parsed(['ok']), algorithmName: 'Entropy\nCalibration2' }]));
    expect(header.code).toBe('ERR_BAD_OPTION');
    // What it does write parses back.
    const merged = mergeCalibrationCaches([parsed(['a: b', 'c'])]);
    expect([...parseCalibrationCache(merged.text).scales.keys()]).toEqual(['a: b', 'c']);
  });
});
