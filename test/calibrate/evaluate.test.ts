/** evaluate() and the worst-layer plots, on the small CNN and Q/DQ models of it. */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { calibrate, evaluate, writeWorstLayerPlots } from '../../src/calibrate/index.js';
import { calibratorFromBatches } from '../../src/calibrators/index.js';
import { OnnxModel, insertQdq } from '../../src/onnx/index.js';
import { argmaxRows } from '../../src/calibrate/metrics.js';
import { TrtInt8Error } from '../../src/core/errors.js';
import { runModel } from '../onnx/helpers.js';
import { cnnBatches, smallCnn, tempDir } from './helpers.js';

const modelBytes = smallCnn();
const model = OnnxModel.fromBytes(modelBytes);
const batches = cnnBatches(4, 5);
const feedOf = (i: number) => {
  const input = batches[i]!.input as { data: Float32Array; shape: number[] };
  return { input: { data: input.data, dims: input.shape } };
};

/** SQNR (dB) of `tensor` between two models over all batches, computed directly. */
async function directSqnr(reference: Uint8Array, test: Uint8Array, tensor: string): Promise<number> {
  const withOutput = (bytes: Uint8Array) => OnnxModel.fromBytes(bytes).withExtraOutputs([tensor]);
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < batches.length; i++) {
    const r = (await runModel(withOutput(reference), feedOf(i))).get(tensor)!;
    const t = (await runModel(withOutput(test), feedOf(i))).get(tensor)!;
    for (let k = 0; k < r.length; k++) {
      signal += r[k]! ** 2;
      noise += (r[k]! - t[k]!) ** 2;
    }
  }
  return 10 * Math.log10(signal / noise);
}

async function rejection(promise: Promise<unknown>): Promise<TrtInt8Error> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(TrtInt8Error);
  return error as TrtInt8Error;
}

describe('evaluate', () => {
  it('measures a calibrated Q/DQ model: agreement, accuracy against labels, output and layer SQNR', async () => {
    // With histograms: the plots below draw them.
    const calibration = await calibrate(modelBytes, calibratorFromBatches(batches, { algorithm: 'minmax' }), { histograms: true });
    const qdq = calibration.toQdqModel();
    // Labels = the float model's own predictions, so float accuracy is 1 and quantized accuracy = agreement.
    const labels: number[] = [];
    for (let i = 0; i < batches.length; i++) labels.push(...argmaxRows((await runModel(modelBytes, feedOf(i))).get('logits')!, 10));
    const result = await evaluate(modelBytes, qdq, batches, { labels });
    expect(result.samples).toBe(20);
    expect(result.accuracy!.float).toBe(1);
    expect(result.accuracy!.quantized).toBeCloseTo(result.top1Agreement, 12);
    expect(result.accuracy!.drop).toBeCloseTo(1 - result.top1Agreement, 12);
    expect(result.top1Agreement).toBeGreaterThan(0.7);
    expect(result.outputs.map((o) => o.name)).toEqual(['logits']);
    expect(result.outputs[0]!.cosine).toBeGreaterThan(0.99);
    expect(result.outputs[0]!.sqnr).toBeCloseTo(await directSqnr(modelBytes, qdq, 'logits'), 3);
    const layerNames = result.worstLayers.map((l) => l.tensor).sort();
    expect(layerNames).toEqual(['conv1', 'conv2', 'flat', 'relu1', 'relu2']);
    const sqnrs = result.worstLayers.map((l) => l.sqnr);
    expect(sqnrs).toEqual([...sqnrs].sort((a, b) => a - b));
    const conv2 = result.worstLayers.find((l) => l.tensor === 'conv2')!;
    expect(conv2.sqnr).toBeCloseTo(await directSqnr(modelBytes, qdq, 'conv2'), 3);

    // Plots of the worst layers that have a calibration histogram (relu1 and flat were calibrated).
    const dir = path.join(tempDir(), 'plots');
    const files = await writeWorstLayerPlots(dir, result, calibration, 2);
    expect(files.length).toBe(2);
    for (const file of files) {
      const svg = fs.readFileSync(file, 'utf8');
      expect(svg).toMatch(/^<svg/);
      expect(svg).toContain('class="amax"');
    }
    expect(fs.readdirSync(dir).sort()).toEqual(files.map((f) => path.basename(f)).sort());
  });

  it('points at the layer whose range is clipped', async () => {
    const calibration = await calibrate(modelBytes, calibratorFromBatches(batches, { algorithm: 'minmax' }));
    const amax = calibration.amax();
    amax.set('relu1', amax.get('relu1')! / 25); // clip relu1 hard: conv2 reads it through Q/DQ
    const clipped = insertQdq(model, { amax }).toBytes();
    const result = await evaluate(modelBytes, clipped, batches);
    const sqnr = new Map(result.worstLayers.map((l) => [l.tensor, l.sqnr]));
    expect(sqnr.get('conv2')!).toBeLessThan(sqnr.get('conv1')! - 15);
    expect(result.worstLayers[0]!.tensor).not.toBe('conv1');
    // Memory-bounded comparison (one tensor per run) measures the same thing.
    const bounded = await evaluate(modelBytes, clipped, batches, { maxOutputBytesPerRun: 6 * 1024 });
    expect(bounded.worstLayers.map((l) => l.tensor)).toEqual(result.worstLayers.map((l) => l.tensor));
    bounded.worstLayers.forEach((l, i) => expect(l.sqnr).toBeCloseTo(result.worstLayers[i]!.sqnr, 9));
    expect(bounded.top1Agreement).toBe(result.top1Agreement);
  });

  it('finds a model identical to itself, and accepts async iterables', async () => {
    async function* data() {
      yield* batches;
    }
    const result = await evaluate(modelBytes, modelBytes, data(), { compareLayers: false });
    expect(result.top1Agreement).toBe(1);
    expect(result.outputs[0]).toEqual({ name: 'logits', cosine: expect.closeTo(1, 9), sqnr: Infinity });
    expect(result.worstLayers).toEqual([]);
  });

  it('gives typed errors for empty data, too few labels and an unknown output', async () => {
    expect((await rejection(evaluate(modelBytes, modelBytes, []))).code).toBe('ERR_EMPTY_DATASET');
    expect((await rejection(evaluate(modelBytes, modelBytes, batches, { labels: [1, 2, 3] }))).input).toBe('labels');
    expect((await rejection(evaluate(modelBytes, modelBytes, batches, { outputName: 'probs' }))).input).toBe('outputName');
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(evaluate(modelBytes, modelBytes, batches, { signal: controller.signal })).rejects.toThrow('stop');
  });
});
