/**
 * watchInputClipping on real normalised Fashion-MNIST images (a background spike at -0.81 and a tail to 2.02):
 * entropy2's input range clips the spike and gets a warning with the share, the amax, the max and the fix; the
 * default ('auto') range does not. And the histogram's bounds: values over six orders of magnitude, float16, views.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLIPPING_HISTOGRAM_BINS, calibratorFromBatches, watchInputClipping } from '../../src/calibrators/index.js';
import { calibrate } from '../../src/calibrate/index.js';
import { float16Bits, TrtInt8Error, type Batch, type NormalizedBatch } from '../../src/core/index.js';
import { EXAMPLE_DIR, calibrationIndices, isFashionMnistPresent, loadFashionMnist } from '../../examples/fashion-mnist/dataset.js';

const present = await isFashionMnistPresent();
const skipped = present ? '' : ' (skipped: examples/fashion-mnist/data is not there; npm run setup:example)';
const MODEL = path.join(EXAMPLE_DIR, 'model.onnx');

/** The exact share of |x| > amax. */
function exactShare(values: ArrayLike<number>, amax: number): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (Math.abs(values[i]!) > amax) n++;
  return n / values.length;
}

function caught(fn: () => unknown): TrtInt8Error {
  try {
    fn();
  } catch (e) {
    if (e instanceof TrtInt8Error) return e;
    throw e;
  }
  throw new Error('expected a TrtInt8Error');
}

describe.skipIf(!present)(`watchInputClipping on Fashion-MNIST${skipped}`, () => {
  let images: Float32Array;
  let batches: Batch[];
  beforeAll(async () => {
    images = (await loadFashionMnist('train', { indices: calibrationIndices(256) })).images;
    batches = [0, 1, 2, 3].map((b) => ({ input: { data: images.subarray(b * 64 * 784, (b + 1) * 64 * 784), shape: [64, 1, 28, 28] } }));
  });

  it("warns for entropy2's input range (which clips the background spike) and not for the default range", async () => {
    const watch = watchInputClipping(['input']);
    for (const batch of batches) watch.observe(batch);
    const seen = watch.observed('input')!;
    expect(seen.count).toBe(images.length);
    expect(seen.absMax).toBeCloseTo(Float64Array.from(images, Math.abs).reduce((a, b) => Math.max(a, b), 0), 6);

    const entropy = await calibrate(MODEL, calibratorFromBatches(batches, { algorithm: 'entropy2' }));
    const auto = await calibrate(MODEL, calibratorFromBatches(batches));
    const entropyAmax = entropy.tensors.get('input')!.amax;
    const autoAmax = auto.tensors.get('input')!.amax;
    const scales = (amax: number) => new Map([['input', amax / 127], ['/stem1/relu/Relu_output_0', 1]]);

    const share = exactShare(images, entropyAmax);
    expect(share).toBeGreaterThan(0.2); // the background spike (|x| = 0.81) lies beyond entropy's amax
    expect(seen.clippedShare(entropyAmax)).toBeCloseTo(share, 3);
    const warnings = watch.clippingWarnings(scales(entropyAmax));
    expect(warnings).toHaveLength(1);
    const [warning] = warnings;
    expect(warning).toContain('input "input"');
    expect(warning).toContain(`clips ${(share * 100).toFixed(1)} %`);
    expect(warning).toContain(`amax ${Number(entropyAmax.toPrecision(4))}`);
    expect(warning).toContain(`reaches ${Number(seen.absMax.toPrecision(4))}`);
    expect(warning).toContain("tensorAlgorithms: { \"input\": 'minmax' }");
    expect(warning).toContain("'auto'");

    expect(exactShare(images, autoAmax)).toBeLessThan(0.01);
    expect(watch.clippingWarnings(scales(autoAmax))).toEqual([]);
    // Inputs without a scale (TensorRT did not calibrate them) say nothing.
    expect(watch.clippingWarnings(new Map())).toEqual([]);
  });

  it('the threshold: a range that clips under 1 % of the pixels warns at a lower threshold but not at the default 1 %', () => {
    const watch = watchInputClipping(['input']);
    for (const batch of batches) watch.observe(batch);
    // Pixels are 256 levels: the highest level whose brighter pixels are between 0.1 % and 1 % of all.
    const levels = [...new Set(Array.from(images, Math.abs))].sort((a, b) => b - a);
    const at = levels.findIndex((level) => exactShare(images, level) > 0.001);
    // Halfway to the next level down: the estimate is linear inside a bin, the pixels are point masses.
    const amax = (levels[at]! + levels[at + 1]!) / 2;
    const share = exactShare(images, amax);
    expect(share).toBeLessThan(0.01);
    expect(watch.observed('input')!.clippedShare(amax)).toBeCloseTo(share, 3);
    const scales = new Map([['input', amax / 127]]);
    expect(watch.clippingWarnings(scales)).toEqual([]);
    expect(watch.clippingWarnings(scales, share / 2)).toHaveLength(1);
    expect(watch.clippingWarnings(scales, share * 2)).toEqual([]);
  });

  it('takes validated batches (a Map), float16 bits and strided ndarray views alike', () => {
    const sample = images.subarray(0, 64 * 784);
    const amax = 0.8;
    const want = exactShare(sample, amax);
    const normalized: NormalizedBatch = new Map([['input', { name: 'input', dtype: 'float32', shape: [64, 1, 28, 28], data: sample }]]);
    const half: NormalizedBatch = new Map([['input', { name: 'input', dtype: 'float16', shape: [64, 1, 28, 28], data: Uint16Array.from(sample, float16Bits) }]]);
    // A transposed view ([28, 28] swapped): the same values in another order.
    const view: Batch = { input: { data: sample, shape: [64, 1, 28, 28], stride: [784, 784, 1, 28], offset: 0 } };
    for (const batch of [normalized, half, view]) {
      const watch = watchInputClipping(['input']);
      watch.observe(batch);
      expect(watch.observed('input')!.count).toBe(sample.length);
      expect(watch.observed('input')!.clippedShare(amax)).toBeCloseTo(want, 2);
    }
  });
});

describe('watchInputClipping bounds', () => {
  it('keeps a fixed number of bins over values from 1e-3 to 1e6 and still estimates the share clipped', () => {
    const watch = watchInputClipping(['x']);
    const all: number[] = [];
    for (let b = 0; b < 10; b++) {
      const scale = 10 ** (b - 3);
      const data = Float32Array.from({ length: 1000 }, (_, i) => ((i % 2 ? -1 : 1) * scale * (i + 1)) / 1000);
      all.push(...data);
      watch.observe({ x: data });
    }
    const seen = watch.observed('x')!;
    expect(seen.count).toBe(10_000);
    expect(seen.absMax).toBeCloseTo(1e6, -1);
    for (const amax of [1e5, 5e5, 9e5]) expect(seen.clippedShare(amax)).toBeCloseTo(exactShare(all, amax), 3);
    expect(seen.clippedShare(2e6)).toBe(0);
    expect((seen as unknown as { counts: Float64Array }).counts.length).toBe(CLIPPING_HISTOGRAM_BINS);
  });

  it('counts zeros seen before the first non-zero value, and skips NaN/Infinity', () => {
    const watch = watchInputClipping(['x']);
    watch.observe({ x: new Float32Array(100) });
    watch.observe({ x: Float32Array.from([1, 2, 3, 4, NaN, Infinity, -Infinity]) });
    const seen = watch.observed('x')!;
    expect(seen.count).toBe(104);
    expect(seen.nonFinite).toBe(3);
    expect(seen.absMax).toBe(4);
    expect(seen.clippedShare(2.5)).toBeCloseTo(2 / 104, 2);
    expect(watch.clippingWarnings(new Map([['x', 2.5 / 127]]))[0]).toMatch(/clips 1\.\d\d % .*reaches 4\./);
  });

  it('refuses bad arguments with typed errors naming them', () => {
    expect(caught(() => watchInputClipping([])).input).toBe('inputNames');
    expect(caught(() => watchInputClipping('input' as never)).code).toBe('ERR_BAD_OPTION');
    const watch = watchInputClipping(['input']);
    const missing = caught(() => watch.observe({ other: new Float32Array(4) }));
    expect([missing.code, missing.input]).toEqual(['ERR_BAD_BATCH', 'input']);
    expect(missing.message).toContain('"input"');
    expect(String(missing.actual)).toContain('other');
    watch.observe({ input: Float32Array.from([1, 2]) });
    expect(caught(() => watch.clippingWarnings(new Map(), 1.5)).input).toBe('threshold');
    expect(caught(() => watch.clippingWarnings({ input: 1 } as never)).input).toBe('scales');
    expect(caught(() => watch.clippingWarnings(new Map([['input', Number.NaN]]))).input).toBe('scales.input');
  });
});
