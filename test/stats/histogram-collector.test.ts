/**
 * The native streaming histograms (cpp/core/stats_*.cc) on real data: seeded normal / laplace samples,
 * checked against an independent JS statement of the binning rule (prng.ts referenceCounts) and against
 * the collector itself run single-threaded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { computeAmax, entropyAmax, HistogramCollector, TrtInt8Error, type TensorHistogram } from '../../src/index.js';
import { histogramOf, laplaceArray, normalArray, referenceCounts } from './prng.js';

const collectors: HistogramCollector[] = [];
function collector(options?: ConstructorParameters<typeof HistogramCollector>[0]): HistogramCollector {
  const c = new HistogramCollector(options);
  collectors.push(c);
  return c;
}
afterEach(() => {
  for (const c of collectors.splice(0)) c.dispose();
});

function sum(counts: Float64Array): number {
  let s = 0;
  for (const c of counts) s += c;
  return s;
}

function absMaxOf(...arrays: Float32Array[]): number {
  let m = 0;
  for (const a of arrays) for (const v of a) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
  return m;
}

async function rejection(promise: Promise<unknown>): Promise<TrtInt8Error> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TrtInt8Error);
    return error as TrtInt8Error;
  }
  throw new Error('expected a rejection');
}

describe('HistogramCollector', () => {
  it('counts |x| of a normal sample exactly as the binning rule says, with min, max and counts', async () => {
    const c = collector();
    const x = normalArray(200_001, 1, 0.3, 2);
    await c.add(new Map([['conv1', x]]));
    const h = c.histograms().get('conv1')!;
    const absMax = absMaxOf(x);
    expect(h.counts.length).toBe(2048);
    expect(h.binWidth).toBe(Math.fround(absMax / 2048));
    expect(h.absMax).toBe(absMax);
    expect(h.min).toBe(x.reduce((m, v) => Math.min(m, v), Infinity));
    expect(h.max).toBe(x.reduce((m, v) => Math.max(m, v), -Infinity));
    expect(h.count).toBe(x.length);
    expect(h.nonFinite).toBe(0);
    expect(sum(h.counts)).toBe(x.length);
    expect(h.counts).toEqual(referenceCounts([x], 2048, absMax));
    expect(c.tensorNames()).toEqual(['conv1']);
  });

  it('puts values on bin edges into the bin they start, and max |x| into the last bin (torch.histc)', async () => {
    const c = collector({ numBins: 8 });
    // max 8 over 8 bins: width 1, every integer is an exact edge.
    await c.add(new Map([['t', new Float32Array([0, 1, -1, 2.5, 7, 7.999, 8, -8, 0.999])]]));
    const h = c.histograms().get('t')!;
    expect(h.binWidth).toBe(1);
    expect(Array.from(h.counts)).toEqual([2, 2, 1, 0, 0, 0, 0, 4]);
    expect(h.min).toBe(-8);
    expect(h.max).toBe(8);
  });

  it('skips and counts NaN and ±Infinity', async () => {
    const c = collector({ numBins: 16 });
    const x = normalArray(10_000, 2);
    x[5] = NaN;
    x[77] = Infinity;
    x[9999] = -Infinity;
    await c.add(new Map([['t', x]]));
    await c.add(new Map([['t', new Float32Array([NaN, NaN, 0.5])]]));
    const h = c.histograms().get('t')!;
    expect(h.nonFinite).toBe(5);
    expect(h.count).toBe(10_000 - 3 + 1);
    expect(sum(h.counts)).toBe(h.count);
    expect(Number.isFinite(h.absMax)).toBe(true);
    expect(h.absMax).toBe(absMaxOf(x));
  });

  it('appends bins of the same width when a later batch exceeds the range, keeping earlier counts', async () => {
    const c = collector();
    const first = normalArray(50_000, 3);
    await c.add(new Map([['t', first]]));
    const before = c.histograms().get('t')!;
    const width = before.binWidth;

    const second = laplaceArray(50_000, 4, 1.5); // reaches further than the normal sample
    const secondMax = absMaxOf(second);
    expect(secondMax).toBeGreaterThan(before.absMax);
    await c.add(new Map([['t', second]]));
    const after = c.histograms().get('t')!;

    const bins = Math.ceil(Math.fround(secondMax / width));
    expect(after.binWidth).toBe(width); // never rebinned
    expect(after.counts.length).toBe(bins);
    expect(after.absMax).toBe(secondMax);
    expect(sum(after.counts)).toBe(100_000);
    // The first batch's counts are still where they were; the second batch is binned by the grown layout.
    const rangeMax = Math.fround(width * bins);
    const expected = referenceCounts([second], bins, rangeMax);
    for (let i = 0; i < before.counts.length; i++) expected[i] = expected[i]! + before.counts[i]!;
    expect(after.counts).toEqual(expected);

    // A third batch inside the grown range changes no layout.
    await c.add(new Map([['t', normalArray(1000, 5)]]));
    expect(c.histograms().get('t')!.counts.length).toBe(bins);
  });

  it('keeps zeros seen before any range and puts them in bin 0 once a range exists', async () => {
    const c = collector({ numBins: 4 });
    await c.add(new Map([['relu', new Float32Array(10)]]));
    let h = c.histograms().get('relu')!;
    expect(h.binWidth).toBe(0);
    expect(h.count).toBe(10);
    expect(h.counts[0]).toBe(10);
    await c.add(new Map([['relu', new Float32Array([0, 4, 2])]]));
    h = c.histograms().get('relu')!;
    expect(h.binWidth).toBe(1);
    expect(Array.from(h.counts)).toEqual([11, 0, 1, 1]);
  });

  it('counts many tensors of one batch in parallel, each as if alone', async () => {
    const tensors = new Map<string, Float32Array>();
    for (let i = 0; i < 40; i++) tensors.set(`layer${i}`, normalArray(1000 + i * 7919, 100 + i, 0, 1 + i / 10));
    const parallel = collector({ threads: 4 });
    await parallel.add(tensors);
    const histograms = parallel.histograms();
    expect([...histograms.keys()]).toEqual([...tensors.keys()]);
    for (const [name, x] of tensors) {
      const h = histograms.get(name)!;
      expect(h.count).toBe(x.length);
      expect(h.counts).toEqual(referenceCounts([x], 2048, absMaxOf(x)));
    }
  });

  it('splits a large tensor across threads with a histogram identical to single-threaded', async () => {
    const x = laplaceArray(3_000_000, 7, 0.7);
    const batches = [x, normalArray(1_000_000, 8, 0, 4)];
    const single = collector({ threads: 1 });
    const multi = collector({ threads: 4 });
    for (const b of batches) {
      await single.add(new Map([['big', b]]));
      await multi.add(new Map([['big', b]]));
    }
    const a = single.histograms().get('big')!;
    const b = multi.histograms().get('big')!;
    expect(b).toEqual(a);
    expect(a.count).toBe(4_000_000);
    expect(sum(a.counts)).toBe(4_000_000);
  });

  it('counts on its own threads: add() returns once the values are copied, and timers run while it counts', async () => {
    const c = collector({ threads: 2 });
    const x = normalArray(8_000_000, 9);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const pending = c.add(new Map([['a', x], ['b', x]]));
    x.fill(1e6); // the batch was copied when add() returned: this changes nothing of it
    await pending;
    clearInterval(timer);
    expect(c.histograms().get('a')!.absMax).toBeLessThan(10);
    expect(ticks).toBeGreaterThan(0);
    expect(c.histograms().get('b')!.count).toBe(8_000_000);
  });

  it('runs batches one at a time in call order', async () => {
    const c = collector();
    const batches = [normalArray(20_000, 10), laplaceArray(20_000, 11, 3), normalArray(20_000, 12, 0, 9)];
    await Promise.all(batches.map((b) => c.add(new Map([['t', b]]))));
    const h = c.histograms().get('t')!;
    expect(h.count).toBe(60_000);
    const reference = collector();
    for (const b of batches) await reference.add(new Map([['t', b]]));
    expect(h).toEqual(reference.histograms().get('t')!);
  });

  it('rejects an aborted batch with the signal reason and counts nothing of it', async () => {
    const c = collector({ threads: 2 });
    await c.add(new Map([['t', normalArray(1000, 13)]]));
    const before = c.histograms();

    const pre = new AbortController();
    pre.abort(new Error('stop before'));
    await expect(c.add(new Map([['t', normalArray(10, 1)]]), pre.signal)).rejects.toThrow('stop before');

    const during = new AbortController();
    const big = normalArray(6_000_000, 14, 0, 50); // also grows the range, which must not stick
    const pending = c.add(new Map([['t', big], ['other', big]]), during.signal);
    during.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' }); // the signal's own reason
    expect(c.histograms()).toEqual(before);
    expect(c.tensorNames()).toEqual(['t']);

    await c.add(new Map([['t', normalArray(1000, 15)]])); // still usable
    expect(c.histograms().get('t')!.count).toBe(2000);
  });

  it('re-bins (doubling the bin width) when a batch would grow a histogram past maxBins, keeping every count', async () => {
    const c = collector({ numBins: 64, maxBins: 128 });
    await c.add(new Map([['t', new Float32Array([1, 0.5])], ['u', new Float32Array([1])]]));
    await c.add(new Map([['u', new Float32Array([1.5])], ['t', new Float32Array([0.25, 3])]]));
    const t = c.histograms().get('t')!;
    // 3 needs 192 bins of width 1/64: the width doubles to 1/32 and 96 bins cover it.
    expect(t.binWidth).toBe(1 / 32);
    expect(t.counts.length).toBe(96);
    expect(t.count).toBe(4);
    expect(sum(t.counts)).toBe(4);
    expect(t.absMax).toBe(3);
    // 0.25 -> bin 8, 0.5 -> bin 16 (first batch's bin 32 merged), 1 -> bin 31 (it was the first range's last bin, 63),
    // 3 -> the last bin.
    expect([8, 16, 31, 95].map((i) => t.counts[i])).toEqual([1, 1, 1, 1]);
    expect(c.histograms().get('u')!.counts.length).toBe(96); // u grew by appending: 1.5 needs 96 bins of 1/64
    expect(c.histograms().get('u')!.binWidth).toBe(1 / 64);
  });

  it('gives the same ranges whatever the order, even with one batch 100x larger than the first', async () => {
    const small = normalArray(200_000, 31);
    const large = normalArray(200_000, 32, 0, 100);
    const mid = laplaceArray(200_000, 33, 3);
    const orders = [
      [small, mid, large],
      [large, mid, small],
      [mid, small, large],
    ];
    const amaxes: Record<string, number[]> = { entropy2: [], minmax: [], percentile: [] };
    for (const order of orders) {
      const c = collector();
      for (const batch of order) await c.add(new Map([['t', batch]])); // never ERR_BAD_BATCH
      const h = c.histograms().get('t')!;
      expect(h.count).toBe(600_000);
      expect(sum(h.counts)).toBe(600_000);
      expect(h.counts.length).toBeLessThanOrEqual(65536);
      amaxes.entropy2!.push(computeAmax(h, { kind: 'entropy2' }));
      amaxes.minmax!.push(computeAmax(h, { kind: 'minmax' }));
      amaxes.percentile!.push(computeAmax(h, { kind: 'percentile', percentile: 99.9 }));
    }
    for (const [kind, values] of Object.entries(amaxes)) {
      const lo = Math.min(...values);
      const hi = Math.max(...values);
      expect((hi - lo) / hi, `${kind}: ${values.join(', ')}`).toBeLessThan(0.01);
    }
  });

  it('names the batch (details.batchIndex) in errors about a batch', async () => {
    const c = collector();
    await c.add(new Map([['t', new Float32Array([1])]]));
    const error = await rejection(c.add(new Map([['t', [1, 2] as unknown as Float32Array]])));
    expect(error.code).toBe('ERR_BAD_BATCH');
    expect(error.details.batchIndex).toBe(1);
  });

  it('accepts empty batches and empty tensors', async () => {
    const c = collector();
    await c.add(new Map());
    await c.add(new Map([['empty', new Float32Array(0)]]));
    const h: TensorHistogram = c.histograms().get('empty')!;
    expect(h.count).toBe(0);
    expect(sum(h.counts)).toBe(0);
  });

  it('with histograms: false keeps the summaries a histogram collector keeps, NaN and ±Infinity included, and no histograms', async () => {
    // All finite (the quick pass), specials in the vector body (the pass redone with them excluded), and in the tail.
    const withSpecials = laplaceArray(200_000, 22, 4);
    withSpecials[1000] = Number.NaN;
    withSpecials[50_000] = Infinity;
    withSpecials[150_001] = -Infinity;
    const batches = [normalArray(300_000, 21, 1.5), withSpecials, Float32Array.from([Number.NaN, Infinity, -Infinity, -0, 7])];
    const full = collector({ threads: 3 });
    const summariesOnly = collector({ threads: 3, histograms: false });
    for (const values of batches) {
      await full.add(new Map([['a', values], ['b', values.map((v) => v * -2)]]));
      await summariesOnly.add(new Map([['a', values], ['b', values.map((v) => v * -2)]]));
    }
    const histograms = full.histograms();
    expect([...summariesOnly.summaries().values()]).toEqual([...full.summaries().values()]);
    for (const s of summariesOnly.summaries().values()) {
      const h = histograms.get(s.name)!;
      expect({ min: s.min, max: s.max, absMax: s.absMax, count: s.count, nonFinite: s.nonFinite }).toEqual({ min: h.min, max: h.max, absMax: h.absMax, count: sum(h.counts), nonFinite: h.nonFinite });
      const values = batches.map((b) => (s.name === 'a' ? b : b.map((v) => v * -2)));
      let [min, max, count] = [Infinity, -Infinity, 0];
      for (const b of values) for (const v of b) if (Number.isFinite(v)) [min, max, count] = [Math.min(min, v), Math.max(max, v), count + 1];
      expect([s.min, s.max, s.count]).toEqual([min, max, count]);
      expect(s.nonFinite).toBe(6);
      expect(s.absMax).toBe(Math.max(-s.min, s.max));
      expect(Number.isFinite(s.min) && Number.isFinite(s.max)).toBe(true);
    }
    expect(() => summariesOnly.histograms()).toThrow(expect.objectContaining({ code: 'ERR_BAD_OPTION', input: 'histograms' }));
    expect(() => collector({ histograms: 'no' as never })).toThrow(expect.objectContaining({ code: 'ERR_BAD_OPTION' }));
  });

  it('feeds the amax algorithms: entropy < percentile 99.999 < minmax on a Gaussian', async () => {
    const c = collector();
    const x = normalArray(300_000, 17);
    await c.add(new Map([['t', x]]));
    const h = c.histograms().get('t')!;
    expect(entropyAmax(h)).toBe(entropyAmax(histogramOf('t', x)));
    const entropy = computeAmax(h, { kind: 'entropy2' });
    const percentile = computeAmax(h, { kind: 'percentile', percentile: 99.999 });
    const minmax = computeAmax(h, { kind: 'minmax' });
    expect(entropy).toBeLessThan(percentile);
    expect(percentile).toBeLessThan(minmax);
    expect(minmax).toBe(absMaxOf(x));
  });

  it('validates its input with TrtInt8Errors', async () => {
    expect(() => new HistogramCollector({ numBins: 0 })).toThrow(TrtInt8Error);
    expect(() => new HistogramCollector({ threads: 1.5 })).toThrow(/threads/);
    expect(() => new HistogramCollector({ numBins: 4096, maxBins: 2048 })).toThrow(/maxBins/);
    const c = collector();
    const notMap = await rejection(c.add({ t: new Float32Array(1) } as unknown as Map<string, Float32Array>));
    expect(notMap.code).toBe('ERR_BAD_BATCH');
    const wrongType = await rejection(c.add(new Map([['t', new Float64Array(3) as unknown as Float32Array]])));
    expect(wrongType.code).toBe('ERR_BAD_BATCH');
    expect(wrongType.input).toBe('t');
    expect(wrongType.actual).toBe('[object Float64Array]');
  });

  it('dispose() rejects the running and queued batches and any later use', async () => {
    const c = new HistogramCollector({ threads: 2 });
    const x = normalArray(4_000_000, 16);
    const running = c.add(new Map([['t', x]])); // starts on the native threads at once
    const queued = c.add(new Map([['t', x]]));
    c.dispose();
    for (const pending of [running, queued]) {
      const error = await rejection(pending);
      expect(error.code).toBe('ABORT_ERR');
    }
    const later = await rejection(c.add(new Map([['t', new Float32Array(1)]])));
    expect(later.code).toBe('ERR_BAD_OPTION');
    expect(() => c.histograms()).toThrow(TrtInt8Error);
    c.dispose(); // idempotent
  });
});
