/** The per-tensor JSON report of 'auto''s choice, on histograms collected from seeded data. */
import { afterAll, describe, expect, it } from 'vitest';
import { HistogramCollector, RANGE_REPORT_VERSION, TrtInt8Error, chooseRange, rangeReport } from '../../src/index.js';
import { laplaceArray, normalArray } from './prng.js';

const collector = new HistogramCollector({ threads: 2 });
afterAll(() => collector.dispose());

describe('rangeReport', () => {
  it('lists each tensor with its chosen range and candidates, and survives JSON', async () => {
    const spiky = Float32Array.from({ length: 100_000 }, (_, i) => (i % 2 === 0 ? -0.81 : ((i * 7919) % 2831) / 1000 - 0.81));
    await collector.add(new Map([['input', spiky], ['act', laplaceArray(100_000, 51)], ['zeros', new Float32Array(10)], ['normal', normalArray(100_000, 52)]]));
    const histograms = collector.histograms();
    const report = rangeReport(histograms.values());
    const json = JSON.parse(JSON.stringify(report)) as typeof report;
    expect(json).toEqual(report); // plain data only: no Infinity, NaN or typed arrays
    expect(json.version).toBe(RANGE_REPORT_VERSION);
    expect(json.tensors.map((t) => t.tensor)).toEqual(['input', 'act', 'zeros', 'normal']);
    for (const t of json.tensors) {
      const choice = chooseRange(histograms.get(t.tensor)!);
      expect(t.chosen.amax).toBe(choice.amax);
      expect(t.chosen.method).toBe(choice.method);
      expect(t.candidates.length).toBe(choice.candidates.length);
      expect(t.count).toBe(histograms.get(t.tensor)!.count);
    }
    const zeros = json.tensors.find((t) => t.tensor === 'zeros')!;
    expect(zeros.chosen).toEqual({ method: 'minmax', amax: 0, mse: 0, sqnrDb: null, clippedShare: 0 });
    expect(json.bySqnr.at(-1)).toBe('zeros'); // no error at all: last
    const sqnrs = json.bySqnr.map((name) => json.tensors.find((t) => t.tensor === name)!.chosen.sqnrDb ?? Infinity);
    expect(sqnrs).toEqual([...sqnrs].sort((a, b) => a - b));
    const input = json.tensors.find((t) => t.tensor === 'input')!;
    expect(input.chosen.clippedShare).toBeLessThan(0.01);
    expect(input.min).toBeCloseTo(-0.81, 5);
  });

  it('refuses a tensor named twice', () => {
    const h = collector.histograms().get('act')!;
    expect(() => rangeReport([h, h])).toThrow(TrtInt8Error);
  });
});
