/** minmax, legacy and the dispatcher, plus the error behaviour of every amax algorithm, on seeded real data. */
import { describe, expect, it } from 'vitest';
import {
  computeAmax,
  entropyAmax,
  legacyAmax,
  resampleHistogram,
  minMaxAmax,
  SEARCH_BINS,
  percentileAmax,
  TrtInt8Error,
  type CalibrationAlgorithm,
  type TensorHistogram,
} from '../../src/index.js';
import { fixtureHistograms } from './fixtures.js';
import { histogramOf, laplaceArray, normalArray } from './prng.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TrtInt8Error);
    return (error as TrtInt8Error).code;
  }
  return undefined;
}

const laplace = histogramOf('laplace', laplaceArray(500_000, 21));
const withOutliers = histogramOf('outliers', Float32Array.from([...laplaceArray(500_000, 21), ...new Array<number>(50).fill(1000)]));
// Two tail slopes: 90% Laplace(1) + 10% Laplace(3).
const mixture = histogramOf('mixture', Float32Array.from([...laplaceArray(450_000, 22, 1), ...laplaceArray(50_000, 23, 3)]));
// What the collector reports for a tensor that was all zeros: 2048 bins, all in bin 0, no width yet.
const zeroCounts = new Float64Array(2048);
zeroCounts[0] = 10;
const zeros: TensorHistogram = { name: 'zeros', counts: zeroCounts, binWidth: 0, min: 0, max: 0, absMax: 0, count: 10, nonFinite: 0 };
const empty: TensorHistogram = { name: 'empty', counts: new Float64Array(2048), binWidth: 0, min: Infinity, max: -Infinity, absMax: 0, count: 0, nonFinite: 3 };

describe('minMaxAmax', () => {
  it('is max |x|', () => {
    expect(minMaxAmax(withOutliers)).toBe(1000);
    expect(minMaxAmax(laplace)).toBe(laplace.absMax);
  });
});

describe('legacyAmax (our definition, docs/algorithms.md)', () => {
  it('finds where an exponential tail holds one value: ln(N) for Laplace(1)', () => {
    const amax = legacyAmax(laplace, { quantile: 0.5, regressionCutoff: 0.5 });
    expect(amax).toBeGreaterThan(Math.log(500_000) - 1);
    expect(amax).toBeLessThan(Math.log(500_000) + 1);
    expect(amax).toBeLessThanOrEqual(laplace.absMax);
  });

  it('keeps outliers beyond regressionCutoff * max out of the fit; a cutoff that includes them changes the result', () => {
    const robust = legacyAmax(withOutliers, { quantile: 0.5, regressionCutoff: 0.5 });
    expect(robust).toBeLessThan(Math.log(500_000) + 1);
    const all = legacyAmax(withOutliers, { quantile: 0.5, regressionCutoff: 1 });
    expect(all).toBeGreaterThan(robust * 1.05);
  });

  it('starts the fit at the quantile: a later start sees the heavier tail of a mixture', () => {
    const early = legacyAmax(mixture, { quantile: 0.5, regressionCutoff: 1 });
    const late = legacyAmax(mixture, { quantile: 0.99, regressionCutoff: 1 });
    expect(late).toBeGreaterThan(early + 5);
    expect(late).toBeLessThanOrEqual(mixture.absMax);
  });

  it('validates quantile and regressionCutoff', () => {
    expect(codeOf(() => legacyAmax(laplace, { quantile: 1, regressionCutoff: 0.5 }))).toBe('ERR_BAD_OPTION');
    expect(codeOf(() => legacyAmax(laplace, { quantile: 0.5, regressionCutoff: 0 }))).toBe('ERR_BAD_OPTION');
    expect(codeOf(() => legacyAmax(laplace, { quantile: NaN, regressionCutoff: 0.5 }))).toBe('ERR_BAD_OPTION');
  });
});

describe('computeAmax', () => {
  const h = fixtureHistograms().get('relu_outliers')!;
  it('dispatches on algorithm.kind', () => {
    const cases: [CalibrationAlgorithm, number][] = [
      [{ kind: 'entropy2' }, entropyAmax(h)],
      [{ kind: 'entropy' }, entropyAmax(h)],
      [{ kind: 'minmax' }, h.absMax],
      [{ kind: 'percentile', percentile: 99.9 }, percentileAmax(h, 99.9)],
      [{ kind: 'legacy', quantile: 0.6, regressionCutoff: 0.4 }, legacyAmax(h, { quantile: 0.6, regressionCutoff: 0.4 })],
    ];
    for (const [algorithm, expected] of cases) expect(computeAmax(h, algorithm)).toBe(expected);
    // The methods really differ on this histogram (so the dispatch is observable).
    expect(new Set(cases.map(([, v]) => v)).size).toBe(4);
  });

  it('rejects an unknown algorithm', () => {
    expect(codeOf(() => computeAmax(h, { kind: 'mse' } as unknown as CalibrationAlgorithm))).toBe('ERR_BAD_OPTION');
  });
});

describe('every algorithm', () => {
  const all: [string, (h: TensorHistogram) => number][] = [
    ['entropy', (h) => entropyAmax(h)],
    ['minmax', minMaxAmax],
    ['percentile', (h) => percentileAmax(h, 99.99)],
    ['legacy', (h) => legacyAmax(h, { quantile: 0.5, regressionCutoff: 0.5 })],
  ];

  it.each(all)('%s: an all-zero tensor has amax 0', (_name, fn) => {
    expect(fn(zeros)).toBe(0);
  });

  it.each(all)('%s: no finite values is ERR_EMPTY_DATASET naming the tensor', (_name, fn) => {
    try {
      fn(empty);
      expect.unreachable();
    } catch (error) {
      expect((error as TrtInt8Error).code).toBe('ERR_EMPTY_DATASET');
      expect((error as TrtInt8Error).input).toBe('histogram "empty"');
      expect(String((error as TrtInt8Error).actual)).toContain('3 NaN/Infinity');
    }
  });

  it.each(all)('%s: a malformed histogram is ERR_BAD_OPTION', (_name, fn) => {
    expect(codeOf(() => fn({ ...laplace, counts: [1, 2] as unknown as Float64Array }))).toBe('ERR_BAD_OPTION');
    expect(codeOf(() => fn({ ...laplace, counts: Float64Array.from([1, -2, 3]) }))).toBe('ERR_BAD_OPTION');
    expect(codeOf(() => fn({ ...laplace, binWidth: NaN }))).toBe('ERR_BAD_OPTION');
  });
});

describe('entropyAmax options', () => {
  it('validates numBits, unsigned, startBin and stride', () => {
    expect(codeOf(() => entropyAmax(laplace, { numBits: 0 }))).toBe('ERR_BAD_OPTION');
    expect(codeOf(() => entropyAmax(laplace, { stride: 0 }))).toBe('ERR_BAD_OPTION');
    expect(codeOf(() => entropyAmax(laplace, { startBin: 2049 }))).toBe('ERR_BAD_OPTION');
    expect(codeOf(() => entropyAmax(laplace, { unsigned: 'yes' as unknown as boolean }))).toBe('ERR_BAD_OPTION');
  });

  it('searches a histogram that grew far past its first range on 2048 re-binned bins', () => {
    // 400,000 bins of a Laplace sample: the quadratic search on them would take minutes.
    const data = laplaceArray(500_000, 24);
    const fine = histogramOf('fine', data, 400_000);
    const amax = entropyAmax(fine);
    expect(amax).toBe(entropyAmax(resampleHistogram(fine, SEARCH_BINS)));
    // The same data collected in the usual 2048 bins gives nearly the same amax.
    const coarse = entropyAmax(histogramOf('coarse', data));
    expect(Math.abs(amax - coarse) / coarse).toBeLessThan(0.01);
  });

  it('re-bins keeping every count, splitting a bin over the bins it overlaps', () => {
    const h: TensorHistogram = { name: 'r', counts: Float64Array.from([4, 0, 2, 6]), binWidth: 1, min: 0, max: 4, absMax: 4, count: 12, nonFinite: 0 };
    const r = resampleHistogram(h, 3); // bins of width 4/3
    expect(r.binWidth).toBeCloseTo(4 / 3, 12);
    expect(Array.from(r.counts).map((c) => Math.round(c * 1e9) / 1e9)).toEqual([4, 1.333333333, 6.666666667]); // [2,3) splits 2/3 : 1/3 at 8/3
    const thirds = resampleHistogram({ ...h, counts: Float64Array.from([0, 3, 0, 0]) }, 2); // bins of width 2: [1,2) is inside the first
    expect(Array.from(thirds.counts)).toEqual([3, 0]);
    const split = resampleHistogram({ ...h, counts: Float64Array.from([0, 6, 0, 0]), absMax: 3 }, 2); // width 1.5: [1,2) half in each
    expect(Array.from(split.counts)).toEqual([3, 3]);
  });

  it('with startBin = number of bins keeps the whole range', () => {
    expect(entropyAmax(laplace, { startBin: 2048 })).toBe(2048 * laplace.binWidth);
  });

  it('clips a Gaussian at a few sigma, below its max', () => {
    const h = histogramOf('normal', normalArray(400_000, 24));
    const amax = entropyAmax(h);
    expect(amax).toBeGreaterThan(2.5);
    expect(amax).toBeLessThan(h.absMax);
  });
});

describe('percentileAmax', () => {
  it('validates the percentage', () => {
    expect(codeOf(() => percentileAmax(laplace, 101))).toBe('ERR_BAD_OPTION');
    expect(codeOf(() => percentileAmax(laplace, NaN))).toBe('ERR_BAD_OPTION');
  });
  it('is monotonic in the percentile and stays within the range', () => {
    const values = [50, 90, 99, 99.9, 99.99, 100].map((p) => percentileAmax(laplace, p));
    for (let i = 1; i < values.length; i++) expect(values[i]!).toBeGreaterThanOrEqual(values[i - 1]!);
    expect(values[0]).toBeCloseTo(Math.log(2), 1); // median of |Laplace(1)|
    expect(values.at(-1)!).toBeLessThanOrEqual(laplace.absMax);
  });
});
