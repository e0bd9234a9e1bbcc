import { describe, expect, it } from 'vitest';
import { SignalAgreement, argmaxRows } from '../../src/calibrate/metrics.js';
import { renderHistogramSvg } from '../../src/calibrate/svg.js';
import type { TensorHistogram } from '../../src/stats/types.js';
import { TrtInt8Error } from '../../src/core/errors.js';
import { randomValues } from './helpers.js';

describe('SignalAgreement', () => {
  it('matches the closed forms for a known noise level, across chunks', () => {
    const reference = randomValues(10_000, 7, 1);
    const noise = randomValues(10_000, 8, 0.01);
    const test = reference.map((v, i) => v + noise[i]!);
    const whole = new SignalAgreement();
    whole.add(reference, test);
    const chunked = new SignalAgreement();
    for (let i = 0; i < reference.length; i += 999) chunked.add(reference.subarray(i, i + 999), test.subarray(i, i + 999));
    let signal = 0;
    let error = 0;
    let dot = 0;
    let tt = 0;
    for (let i = 0; i < reference.length; i++) {
      signal += reference[i]! ** 2;
      error += (reference[i]! - test[i]!) ** 2;
      dot += reference[i]! * test[i]!;
      tt += test[i]! ** 2;
    }
    expect(whole.sqnr).toBeCloseTo(10 * Math.log10(signal / error), 6);
    expect(whole.cosine).toBeCloseTo(dot / Math.sqrt(signal * tt), 9);
    expect(chunked.sqnr).toBeCloseTo(whole.sqnr, 6);
    expect(chunked.count).toBe(10_000);
    // Uniform noise of ±0.01 on a ±1 signal: ~40 dB.
    expect(whole.sqnr).toBeGreaterThan(38);
    expect(whole.sqnr).toBeLessThan(42);
  });

  it('handles identical, all-zero and sign-flipped signals', () => {
    const x = Float32Array.from([1, -2, 3]);
    const same = new SignalAgreement();
    same.add(x, x);
    expect(same.sqnr).toBe(Infinity);
    expect(same.cosine).toBeCloseTo(1, 12);
    const zeros = new SignalAgreement();
    zeros.add(new Float32Array(3), new Float32Array(3));
    expect(zeros.cosine).toBe(1);
    const flipped = new SignalAgreement();
    flipped.add(x, x.map((v) => -v));
    expect(flipped.cosine).toBeCloseTo(-1, 12);
    expect(flipped.sqnr).toBeCloseTo(10 * Math.log10(1 / 4), 9);
    expect(() => same.add(x, new Float32Array(2))).toThrow(RangeError);
  });

  it('argmaxRows picks the first maximum of each row', () => {
    expect(Array.from(argmaxRows([0, 5, 5, 1, -1, -3, -0.5, -2], 4))).toEqual([1, 2]);
    expect(() => argmaxRows([1, 2, 3], 2)).toThrow(RangeError);
  });
});

function histogramOf(values: Float32Array, bins: number): TensorHistogram {
  let absMax = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    absMax = Math.max(absMax, Math.abs(v));
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const binWidth = absMax / bins;
  const counts = new Float64Array(bins);
  for (const v of values) counts[Math.min(bins - 1, Math.floor(Math.abs(v) / binWidth))]!++;
  return { name: 't', counts, binWidth, min, max, absMax, count: values.length, nonFinite: 0 };
}

describe('renderHistogramSvg', () => {
  const values = randomValues(5000, 3, 4).map((v) => v * v * v);
  const histogram = histogramOf(values, 2048);

  it('draws log-scaled bars, axes and the amax line where amax falls', () => {
    const svg = renderHistogramSvg(histogram, histogram.absMax / 2, { title: 'conv1 <Relu> & "x"', width: 700, height: 300 });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('conv1 &lt;Relu&gt; &amp; &quot;x&quot;');
    // The plot spans [0, absMax] over 700 - 56 - 16 px starting at x = 56: amax = absMax/2 sits at the middle.
    const line = /<line class="amax" x1="([\d.]+)"/.exec(svg);
    expect(Number(line![1])).toBeCloseTo(56 + (700 - 72) / 2, 1);
    // At most 512 bars (2048 bins summed 4 by 4), and the tallest bar is the bin with the most counts.
    const heights = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"\/>/g)].map((m) => Number(m[1]));
    expect(heights.length).toBeGreaterThan(10);
    expect(heights.length).toBeLessThanOrEqual(512);
    expect(Math.max(...heights)).toBeCloseTo(300 - 36 - 40, 1);
    // Log scale: a bar of 1 count is far taller than 1/peak of the plot height.
    let peak = 0;
    for (let i = 0; i < 2048; i += 4) peak = Math.max(peak, histogram.counts.subarray(i, i + 4).reduce((a, b) => a + b, 0));
    expect(Math.min(...heights)).toBeGreaterThan(((300 - 76) / peak) * 2);
  });

  it('marks other ranges where they fall, widening the plot to the widest one', () => {
    const marks = [
      { label: 'entropy', amax: histogram.absMax / 4 },
      { label: 'wide', amax: histogram.absMax * 2 },
    ];
    const svg = renderHistogramSvg(histogram, histogram.absMax / 2, { width: 700, height: 300, marks });
    const xs = [...svg.matchAll(/<line class="mark" x1="([\d.]+)"/g)].map((m) => Number(m[1]));
    // The plot now spans [0, 2 absMax]: absMax/4 at 1/8 of the width, 2 absMax at its right end, amax at 1/4.
    expect(xs[0]).toBeCloseTo(56 + (700 - 72) / 8, 1);
    expect(xs[1]).toBeCloseTo(56 + (700 - 72), 1);
    expect(Number(/<line class="amax" x1="([\d.]+)"/.exec(svg)![1])).toBeCloseTo(56 + (700 - 72) / 4, 1);
    expect(svg).toContain('>entropy ');
    expect(() => renderHistogramSvg(histogram, 1, { marks: [{ label: 'x', amax: Infinity }] })).toThrow(/mark/);
  });

  it('rejects a bad amax', () => {
    expect(() => renderHistogramSvg(histogram, NaN)).toThrow(TrtInt8Error);
    expect(() => renderHistogramSvg(histogram, -1)).toThrow(/amax/);
  });
});
