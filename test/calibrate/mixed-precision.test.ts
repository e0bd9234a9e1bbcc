/**
 * keepInHigherPrecision on the bundled Fashion-MNIST model and real data: a bad calibration (entropy2, which clips
 * the normalised input at its background spike) is brought back within the tolerance by keeping a few nodes in
 * float; a good calibration keeps nothing out. Needs the data (skips with a message before `npm run setup:example`).
 * And, with no data set, a small synthetic CNN with one planted sensitive tensor.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { calibrate, calibratorFromBatches, evaluate, keepInHigherPrecision, OnnxModel, type Batch, type CalibrationResult } from '../../src/index.js';
import { FashionMnistCalibrator, testBatches } from '../../examples/fashion-mnist/calibrator.js';
import { DEFAULT_DATA_DIR, EXAMPLE_DIR, IMAGE_SIZE, calibrationIndices, isFashionMnistPresent, loadFashionMnist } from '../../examples/fashion-mnist/dataset.js';
import { isTrtInt8Error, type TrtInt8Error } from '../../src/core/errors.js';
import { cnnBatches, smallCnn } from './helpers.js';

const dataPresent = await isFashionMnistPresent();
if (!dataPresent) console.warn(`[mixed-precision] ${DEFAULT_DATA_DIR} has no data: the test skips. Run \`npm run setup:example\`.`);

const modelPath = path.join(EXAMPLE_DIR, 'model.onnx');
/** Held-out images: the first 1,000 of the test split (calibration uses training images). */
const HELD_OUT = 1000;

/** The TrtInt8Error a promise rejects with; fails the test on anything else. */
async function rejection(promise: Promise<unknown>): Promise<TrtInt8Error> {
  const error = await promise.then(() => new Error('expected a rejection'), (e: unknown) => e);
  if (isTrtInt8Error(error)) return error;
  throw error;
}

describe.skipIf(!dataPresent)('keepInHigherPrecision on Fashion-MNIST', () => {
  let images: Float32Array;
  let entropy: CalibrationResult;
  let auto: CalibrationResult;
  const heldOut = () => [...testBatches(images, HELD_OUT, 250)];

  beforeAll(async () => {
    const calibration = await loadFashionMnist('train', { indices: calibrationIndices(256) });
    images = (await loadFashionMnist('test')).images;
    entropy = await calibrate(modelPath, new FashionMnistCalibrator(calibration.images, 32, { algorithm: 'entropy2' }));
    auto = await calibrate(modelPath, new FashionMnistCalibrator(calibration.images, 32));
  }, 60_000);

  it('brings a bad calibration within 99 % top-1 agreement by keeping the nodes that read the clipped input in float', async () => {
    const mixed = await keepInHigherPrecision(modelPath, entropy, heldOut());
    // entropy2 clips the input (amax ~0.8 of ~2.0): plain INT8 loses several points of agreement.
    expect(entropy.tensors.get('input')!.amax).toBeLessThan(1);
    expect(mixed.initialDrop).toBeGreaterThan(0.03);
    expect(mixed.met).toBe(true);
    expect(mixed.finalDrop).toBeLessThanOrEqual(0.01);
    expect(mixed.kept.length).toBeGreaterThan(0);
    expect(mixed.kept.length).toBeLessThanOrEqual(2);
    // The worst tensor is the input, and restoring its reader is what helps most.
    expect(mixed.kept[0]!.tensor).toBe('input');
    expect(mixed.kept[0]!.measuredGain).toBeGreaterThan(0.02);
    const model = await OnnxModel.load(modelPath);
    const readers = model.nodes.filter((n) => n.inputs.includes('input')).map((n) => n.name);
    expect(mixed.kept[0]!.nodes).toEqual(readers);
    expect(mixed.evaluations).toBeLessThanOrEqual(2 + 2 * 4);

    // The returned model: the kept nodes read float tensors, everything else is still INT8, and evaluate() agrees.
    const qdq = await OnnxModel.load(mixed.model);
    const keptNames = new Set(mixed.kept.flatMap((k) => k.nodes));
    for (const n of qdq.nodes.filter((n) => keptNames.has(n.name))) {
      for (const input of n.inputs) expect(input).not.toMatch(/_dequantized$/);
    }
    expect(qdq.nodes.filter((n) => n.opType === 'QuantizeLinear').length).toBeGreaterThan(5);
    const check = await evaluate(modelPath, mixed.model, heldOut(), { compareLayers: false });
    expect(check.top1Agreement).toBeCloseTo(1 - mixed.finalDrop, 10);
  }, 30_000);

  it('keeps nothing out of a good calibration, in two evaluations (held-out data from a Calibrator)', async () => {
    const calibrator = new FashionMnistCalibrator(images.subarray(0, HELD_OUT * IMAGE_SIZE), 500);
    const mixed = await keepInHigherPrecision(modelPath, auto, calibrator);
    expect(mixed).toMatchObject({ kept: [], met: true, evaluations: 2 });
    expect(mixed.finalDrop).toBe(mixed.initialDrop);
    expect(mixed.initialDrop).toBeLessThanOrEqual(0.01);
    expect(Buffer.from(mixed.model).equals(Buffer.from(auto.toQdqModel()))).toBe(true);
  }, 30_000);

  it('takes a metric callback and respects maxEvaluations', async () => {
    // Accuracy against the labels of the first 1,000 held-out images, the batches the callback is handed.
    const labels = (await loadFashionMnist('test')).labels.subarray(0, 1000);
    const metric = async (model: Uint8Array, data: readonly Batch[]) => (await evaluate(modelPath, model, data, { compareLayers: false, labels })).accuracy!.quantized;
    const mixed = await keepInHigherPrecision(modelPath, entropy, testBatches(images, 1000, 500), { metric, maxDrop: 0.005, maxEvaluations: 3 });
    expect(mixed.evaluations).toBe(3);
    expect(mixed.initialDrop).toBeGreaterThan(0.03); // accuracy points lost by plain INT8
    expect(mixed.kept.map((k) => k.tensor)).toEqual(['input']);
    expect(mixed.finalDrop).toBeLessThan(mixed.initialDrop - 0.03);
  }, 30_000);

  it('labels: the drop is of accuracy; the returned calibration is the written model and its cache leaves the kept tensor out', async () => {
    const labels = (await loadFashionMnist('test')).labels.subarray(0, HELD_OUT);
    const mixed = await keepInHigherPrecision(modelPath, entropy, heldOut(), { labels });
    const plain = await evaluate(modelPath, entropy.toQdqModel(), heldOut(), { compareLayers: false, labels });
    expect(mixed.initialDrop).toBeCloseTo(plain.accuracy!.drop, 12);
    expect(mixed.met).toBe(true);
    expect(mixed.kept.map((k) => k.tensor)).toEqual(['input']);
    const after = await evaluate(modelPath, mixed.model, heldOut(), { compareLayers: false, labels });
    expect(mixed.finalDrop).toBeCloseTo(after.accuracy!.drop, 12);
    // The calibration handed back writes the same Q/DQ model, and a cache without the input (no INT8 reader left).
    expect(Buffer.from(mixed.calibration.toQdqModel()).equals(Buffer.from(mixed.model))).toBe(true);
    expect(mixed.calibration.tensors.has('input')).toBe(false);
    expect(mixed.calibration.toTensorRTCache()).not.toMatch(/^input:/m);
    expect(entropy.toTensorRTCache()).toMatch(/^input:/m);
    expect(mixed.calibration.tensors.size).toBe(entropy.tensors.size - 1);

    // Too few labels, labels with a metric: typed errors naming labels.
    const few = await rejection(keepInHigherPrecision(modelPath, entropy, heldOut(), { labels: labels.subarray(0, 10) }));
    expect([few.code, few.input]).toEqual(['ERR_BAD_OPTION', 'labels']);
    expect(String(few.expected)).toContain('at least 1000');
    const both = await rejection(keepInHigherPrecision(modelPath, entropy, heldOut(), { labels, metric: () => 1 }));
    expect([both.code, both.input]).toEqual(['ERR_BAD_OPTION', 'labels']);
  }, 30_000);

  it('refuses bad options and empty data with typed errors', async () => {
    expect((await rejection(keepInHigherPrecision(modelPath, entropy, heldOut(), { maxDrop: -1 }))).code).toBe('ERR_BAD_OPTION');
    expect((await rejection(keepInHigherPrecision(modelPath, entropy, heldOut(), { maxEvaluations: 1 }))).code).toBe('ERR_BAD_OPTION');
    expect((await rejection(keepInHigherPrecision(modelPath, entropy, heldOut(), { outputName: 'nope' }))).code).toBe('ERR_BAD_OPTION');
    expect((await rejection(keepInHigherPrecision(modelPath, entropy, 42 as never))).code).toBe('ERR_BAD_OPTION');
    expect((await rejection(keepInHigherPrecision(42 as never, entropy, heldOut()))).code).toBe('ERR_BAD_OPTION');
    expect((await rejection(keepInHigherPrecision(modelPath, entropy, []))).code).toBe('ERR_EMPTY_DATASET');
    expect((await rejection(keepInHigherPrecision(modelPath, entropy, heldOut(), { metric: () => NaN }))).code).toBe('ERR_BAD_OPTION');
  });
});

describe('keepInHigherPrecision finds a planted sensitive tensor', () => {
  it('keeps exactly the reader of the clipped tensor in float', async () => {
    // relu1's range at its 80th percentile (a fifth of its values clipped), every other tensor min-max.
    const model = smallCnn();
    const result = await calibrate(model, calibratorFromBatches(cnnBatches(8, 16), { algorithm: 'minmax' }), {
      tensorAlgorithms: { relu1: { kind: 'percentile', percentile: 80 } },
    });
    const mixed = await keepInHigherPrecision(model, result, cnnBatches(8, 64, 500), { maxDrop: 0.02 });
    expect(mixed.initialDrop).toBeGreaterThan(0.2); // 25.8 % of 512 samples change class
    expect(mixed.finalDrop).toBeLessThanOrEqual(0.02);
    expect(mixed.met).toBe(true);
    expect(mixed.kept.map((k) => [k.tensor, k.nodes])).toEqual([['relu1', ['conv2_node']]]);
    expect(mixed.kept[0]!.measuredGain).toBeGreaterThan(0.2);
    expect(mixed.evaluations).toBeLessThanOrEqual(2 + 2 * 4);
  });
});
