import { describe, expect, it } from 'vitest';
import { formatCalibrationCache, mergeCalibrationCaches, parseCalibrationCache } from '../../src/index.js';
import { caught } from '../caught.js';

function cache(scales: [string, number][], version = '10.3.0', algorithm = 'entropy2'): string {
  return formatCalibrationCache({ version, algorithm, scales: new Map(scales) });
}

describe('mergeCalibrationCaches', () => {
  it("rule 'max' keeps per tensor the largest scale and the tensors present in only some caches", () => {
    const small = cache([['x', 0.01], ['conv1', 0.5], ['only-small', 0.25]]);
    const large = cache([['x', 0.02], ['conv1', 0.125], ['only-large', 3]]);
    const merged = mergeCalibrationCaches([small, new TextEncoder().encode(large)], { rule: 'max' });
    expect(merged.versionCode).toBe(100300);
    expect(merged.algorithmName).toBe('EntropyCalibration2');
    // float32 values, as the cache stores them.
    expect(merged.scales.get('x')).toBe(Math.fround(0.02));
    expect(merged.scales.get('conv1')).toBe(0.5);
    expect(merged.scales.get('only-small')).toBe(0.25);
    expect(merged.scales.get('only-large')).toBe(3);
    expect([...merged.scaleFrom]).toEqual([['x', 1], ['conv1', 0], ['only-small', 0], ['only-large', 1]]);
    expect([...merged.partial]).toEqual([['only-small', [0]], ['only-large', [1]]]);
    // The text round-trips through the parser with the same header TensorRT would check.
    const reparsed = parseCalibrationCache(merged.text, { version: '10.3.0', algorithm: 'entropy2' });
    expect([...reparsed.scales]).toEqual([...merged.scales]);
    expect(merged.text.split('\n')[0]).toBe('TRT-100300-EntropyCalibration2');
  });

  it('merging one cache gives it back; merging is order-independent in the scales', () => {
    const a = cache([['t', 0.1], ['u', 0.7]]);
    const b = cache([['t', 0.3], ['u', 0.2]]);
    expect(mergeCalibrationCaches([a]).text).toBe(a);
    const ab = mergeCalibrationCaches([a, b]);
    const ba = mergeCalibrationCaches([b, a]);
    expect(ab.scales.get('t')).toBe(ba.scales.get('t'));
    expect(ab.scales.get('u')).toBe(ba.scales.get('u'));
    expect(ab.scales.get('t')).toBe(Math.fround(0.3));
    expect(ab.scales.get('u')).toBe(Math.fround(0.7));
  });

  it('headers that differ in version or algorithm are ERR_CACHE_MISMATCH naming the cache', () => {
    const version = caught(() => mergeCalibrationCaches([cache([['x', 1]]), cache([['x', 2]], '10.4.0')]));
    expect(version.code).toBe('ERR_CACHE_MISMATCH');
    expect(version.input).toBe('caches[1] header version');
    expect(version.details).toMatchObject({ cacheIndex: 1, expectedVersionCode: 100300, actualVersionCode: 100400 });
    const algorithm = caught(() => mergeCalibrationCaches([cache([['x', 1]]), cache([['x', 1]]), cache([['x', 2]], '10.3.0', 'minmax')]));
    expect(algorithm.code).toBe('ERR_CACHE_MISMATCH');
    expect(algorithm.input).toBe('caches[2] header algorithm');
    expect(algorithm.expected).toContain('EntropyCalibration2');
    expect(algorithm.actual).toBe('MinMaxCalibration');
  });

  it('a malformed cache, an empty list or an unknown rule are errors, not a partial merge', () => {
    const malformed = caught(() => mergeCalibrationCaches([cache([['x', 1]]), 'TRT-100300-EntropyCalibration2\nx 3f800000\n']));
    expect(malformed.code).toBe('ERR_CACHE_FORMAT');
    expect(malformed.input).toBe('caches[1]');
    expect(caught(() => mergeCalibrationCaches([])).code).toBe('ERR_BAD_OPTION');
    expect(caught(() => mergeCalibrationCaches([cache([['x', 1]])], { rule: 'mean' as never })).code).toBe('ERR_BAD_OPTION');
    expect(caught(() => mergeCalibrationCaches([42 as never])).code).toBe('ERR_BAD_OPTION');
  });
});
