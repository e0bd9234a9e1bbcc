/**
 * Issue #10: calibration must not change materially with the order of the samples. The same 512 Fashion-MNIST
 * images, batched in file order and in reverse, give per-tensor ranges within 2 % of each other (the histograms
 * re-bin as their maximum grows, so bin edges depend a little on what came first), and the whole-model check,
 * which looks at the first batches only, keeps the same set both times.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { calibrate } from '../../src/calibrate/index.js';
import { calibratorFromBatches } from '../../src/calibrators/index.js';
import type { Batch } from '../../src/core/index.js';
import { EXAMPLE_DIR, calibrationIndices, isFashionMnistPresent, loadFashionMnist } from '../../examples/fashion-mnist/dataset.js';

const present = await isFashionMnistPresent();
const skipped = present ? '' : ' (skipped: examples/fashion-mnist/data is not there; npm run setup:example)';
const PIXELS = 28 * 28;
const BATCH = 32;

function batchesInOrder(images: Float32Array, order: readonly number[]): Batch[] {
  const batches: Batch[] = [];
  for (let start = 0; start < order.length; start += BATCH) {
    const data = new Float32Array(BATCH * PIXELS);
    order.slice(start, start + BATCH).forEach((image, slot) => data.set(images.subarray(image * PIXELS, (image + 1) * PIXELS), slot * PIXELS));
    batches.push({ input: { data, shape: [BATCH, 1, 28, 28] } });
  }
  return batches;
}

describe.skipIf(!present)(`calibrate() and the order of the samples${skipped}`, () => {
  it('the default gives the same ranges (within 2 %) and the same whole-model choice in file order and in reverse', async () => {
    const images = (await loadFashionMnist('train', { indices: calibrationIndices(512) })).images;
    const forward = Array.from({ length: images.length / PIXELS }, (_, i) => i);
    const model = path.join(EXAMPLE_DIR, 'model.onnx');
    const a = await calibrate(model, calibratorFromBatches(batchesInOrder(images, forward)));
    const b = await calibrate(model, calibratorFromBatches(batchesInOrder(images, [...forward].reverse())));

    expect([...a.tensors.keys()]).toEqual([...b.tensors.keys()]);
    for (const [name, tensor] of a.tensors) {
      const other = b.tensors.get(name)!;
      expect(Math.abs(tensor.amax - other.amax) / tensor.amax, name).toBeLessThan(0.02);
    }
    expect(a.modelCheck?.skipped).toBeUndefined();
    expect(b.modelCheck?.chosen).toBe(a.modelCheck?.chosen);
  });
});
