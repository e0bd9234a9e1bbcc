/**
 * Fidelity of our entropy and percentile calibration to NVIDIA's reference implementation.
 *
 * Expected values were produced by RUNNING pytorch-quantization's own `_compute_amax_entropy` and
 * `_compute_amax_percentile` (tools/pytorch-quantization/pytorch_quantization/calib/histogram.py of
 * NVIDIA/TensorRT at commit a892d22267d9cd2dedc1a0893e6892ac901f6d3d, the file last changed in 665cfbe8)
 * on the committed histograms, with numpy 2.4.6 and scipy 1.17.1:
 *   git -C <TensorRT git dir> archive a892d22267d9cd2dedc1a0893e6892ac901f6d3d tools/pytorch-quantization \
 *     | tar -x -C third_party/TensorRT
 *   python3 scripts/fixtures/make_histograms.py
 *   python3 scripts/fixtures/entropy_reference.py third_party/TensorRT/tools/pytorch-quantization --commit a892d222...
 *   python3 scripts/fixtures/percentile_reference.py third_party/TensorRT/tools/pytorch-quantization --commit a892d222...
 * torch is replaced by a stand-in whose torch.tensor(x) returns x (scripts/fixtures/pytorch_quantization_loader.py);
 * the fixtures record the exact command, commit, and the SHA-256 of histogram.py.
 */
import { describe, expect, it } from 'vitest';
import { entropyAmax, percentileAmax, TrtInt8Error, type EntropyOptions } from '../../src/index.js';
import { fixtureHistograms, readFixture } from './fixtures.js';

interface Reference<C> {
  function: string;
  commit: string;
  referenceSha256: string;
  cases: C[];
}

const histograms = fixtureHistograms();
const entropy = readFixture<Reference<{ histogram: string; options: Required<EntropyOptions>; amax: number }>>('entropy-reference.json');
const percentile = readFixture<Reference<{ histogram: string; percentile: number; amax: number }>>('percentile-reference.json');

function relativeError(actual: number, expected: number): number {
  return expected === 0 ? Math.abs(actual) : Math.abs(actual - expected) / Math.abs(expected);
}

describe('entropy amax matches pytorch-quantization _compute_amax_entropy', () => {
  it('fixtures come from the recorded reference run', () => {
    expect(entropy.function).toBe('_compute_amax_entropy');
    expect(entropy.commit).toBe('a892d22267d9cd2dedc1a0893e6892ac901f6d3d');
    // Every histogram is covered, with several option sets each.
    expect(new Set(entropy.cases.map((c) => c.histogram))).toEqual(new Set(histograms.keys()));
    expect(entropy.cases.length).toBeGreaterThanOrEqual(20);
  });

  it.each(entropy.cases.map((c) => [`${c.histogram} ${JSON.stringify(c.options)}`, c] as const))('%s', (_label, c) => {
    const h = histograms.get(c.histogram)!;
    const before = Float64Array.from(h.counts);
    const amax = entropyAmax(h, c.options);
    expect(relativeError(amax, c.amax)).toBeLessThanOrEqual(1e-6);
    // The reference writes bins[0] = bins[1] into the array it is given; we must not.
    expect(h.counts).toEqual(before);
  });

  it('fails loudly where the reference fails: fewer bins than startBin', () => {
    const short = histograms.get('short')!; // 300 bins
    expect(() => entropyAmax(short, { startBin: 512 })).toThrow(TrtInt8Error);
    try {
      entropyAmax(short, { startBin: 512 });
    } catch (error) {
      expect((error as TrtInt8Error).code).toBe('ERR_BAD_OPTION');
      expect((error as TrtInt8Error).input).toBe('startBin');
      expect((error as TrtInt8Error).actual).toBe(512);
    }
  });
});

describe('percentile amax matches pytorch-quantization _compute_amax_percentile', () => {
  it('fixtures come from the recorded reference run', () => {
    expect(percentile.function).toBe('_compute_amax_percentile');
    expect(percentile.commit).toBe(entropy.commit);
    expect(percentile.referenceSha256).toBe(entropy.referenceSha256);
  });

  it.each(percentile.cases.map((c) => [`${c.histogram} ${c.percentile}`, c] as const))('%s', (_label, c) => {
    const amax = percentileAmax(histograms.get(c.histogram)!, c.percentile);
    expect(relativeError(amax, c.amax)).toBeLessThanOrEqual(1e-6);
  });
});
