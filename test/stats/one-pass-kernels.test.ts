/**
 * The vectorized one-pass kernels of the statistics engine (cpp/core/stats_histogram.cc summarizeAndCount): a
 * batch that stays inside the committed range is counted in the same pass that summarizes it, a batch that
 * widens it is counted again. Both must give exactly the counts of the binning rule (prng.ts referenceCounts),
 * including in the vector body (blocks of 512 values), in the scalar tail, and around NaN, ±Infinity, -0, the
 * range's end and bin edges.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HistogramCollector } from '../../src/index.js';
import { laplaceArray, normalArray, referenceCounts } from './prng.js';

const collectors: HistogramCollector[] = [];
afterEach(() => {
  for (const c of collectors.splice(0)) c.dispose();
});
function collector(options?: ConstructorParameters<typeof HistogramCollector>[0]): HistogramCollector {
  const c = new HistogramCollector(options);
  collectors.push(c);
  return c;
}

function stats(xs: Float32Array[]): { min: number; max: number; absMax: number } {
  let min = Infinity, max = -Infinity;
  for (const x of xs) for (const v of x) if (Number.isFinite(v)) (min = Math.min(min, v)), (max = Math.max(max, v));
  return { min, max, absMax: Math.max(Math.abs(min), Math.abs(max)) };
}

describe('one-pass summarize-and-count', () => {
  it('counts a batch inside the committed range in one pass, exactly as the rule says (vector body, tail, specials)', async () => {
    for (const threads of [1, 2, 3]) {
      const c = collector({ threads });
      const first = normalArray(300_000, 11, 0.1, 1.5);
      const range = stats([first]).absMax;
      // Inside the first range: specials in the vector body and in the tail (100_003 is not a multiple of 512).
      const second = normalArray(100_003, 12, 0, 0.8).map((v) => Math.max(-range, Math.min(range, v)));
      second[3] = NaN;
      second[600] = Infinity;
      second[1025] = -Infinity;
      second[2000] = range; // the range's end: last bin
      second[2001] = -range;
      second[2002] = -0;
      second[2003] = Math.fround(range / 2); // a bin edge
      second[100_001] = NaN;
      second[100_002] = -range;
      const third = new Float32Array(513).fill(0); // zeros only: bin 0
      await c.add(new Map([['t', first]]));
      await c.add(new Map([['t', second]]));
      await c.add(new Map([['t', third]]));
      const h = c.histograms().get('t')!;
      expect(h.counts.length).toBe(2048);
      expect(h.binWidth).toBe(Math.fround(range / 2048));
      expect(h.counts).toEqual(referenceCounts([first, second, third], 2048, range));
      expect(h.nonFinite).toBe(4);
      expect(h.count).toBe(first.length + second.length - 4 + third.length);
      const all = stats([first, second, third]);
      expect(h.min).toBe(all.min);
      expect(h.max).toBe(all.max);
      expect(h.absMax).toBe(range);
    }
  });

  it('counts again, in the widened layout, a batch that exceeds the range (appended bins)', async () => {
    const c = collector();
    const first = normalArray(70_000, 21);
    const second = laplaceArray(90_001, 22, 1.5);
    second[777] = NaN;
    await c.add(new Map([['t', first]]));
    const before = c.histograms().get('t')!;
    await c.add(new Map([['t', second]]));
    const h = c.histograms().get('t')!;
    expect(h.binWidth).toBe(before.binWidth);
    expect(h.counts.length).toBeGreaterThan(2048);
    // The first batch's counts stay in their bins; the second is counted over the widened range.
    const expected = referenceCounts([second], h.counts.length, Math.fround(before.binWidth * h.counts.length));
    referenceCounts([first], 2048, stats([first]).absMax).forEach((n, i) => (expected[i] = expected[i]! + n));
    expect(h.counts).toEqual(expected);
    expect(h.nonFinite).toBe(1);
  });

  it('counts every batch of a stream the same whatever the thread count', async () => {
    const batches = Array.from({ length: 6 }, (_, i) => (i % 2 ? laplaceArray(40_000 + i, 30 + i, 0.5 + i / 4) : normalArray(65_537 * (i + 1), 30 + i)));
    const results = [];
    for (const threads of [1, 2, 4]) {
      const c = collector({ threads });
      for (const b of batches) await c.add(new Map([['t', b]]));
      results.push(c.histograms().get('t')!);
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
  });
});
