/**
 * 'auto''s whole-model check (src/calibrate/model-check.ts): the per-tensor ranges against uniform percentile sets,
 * by the model's output error against FP32 on a fixed subset of the calibration samples.
 */
import { describe, expect, it, vi } from 'vitest';
import { calibrate, type CalibrationProgress } from '../../src/calibrate/index.js';
import { calibratorFromBatches } from '../../src/calibrators/index.js';
import { chooseRange, percentileAmax } from '../../src/stats/index.js';
import fs from 'node:fs';
import path from 'node:path';
import { sensitivityReport, sensitivityReportHtml, writeSensitivityReport } from '../../src/calibrate/sensitivity-report.js';
import { tempDir } from './helpers.js';
import { CheckSamples, MODEL_CHECK_MAX_SAMPLES } from '../../src/calibrate/model-check.js';
import type { Batch } from '../../src/core/batch.js';
import { buildModel, initializer, node, valueInfo } from '../onnx/helpers.js';
import { laplaceArray, normalArray } from '../stats/prng.js';

const onnxruntime = vi.hoisted(() => ({ fail: false, loads: 0, failAfter: Infinity }));
vi.mock('../../src/calibrate/onnxruntime.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/calibrate/onnxruntime.js')>();
  return {
    ...original,
    loadOnnxRuntime: (...args: Parameters<typeof original.loadOnnxRuntime>) => {
      if (onnxruntime.fail) throw new Error('onnxruntime-node is not installed (test)');
      // One load per model run: failAfter lets that many runs through, then fails (a run failing mid-check).
      if (++onnxruntime.loads > onnxruntime.failAfter) throw new Error('simulated onnxruntime failure (test)');
      return original.loadOnnxRuntime(...args);
    },
  };
});

const FEATURES = 64;

/** x [N, 64] -> MatMul(W [64, 8]) -> y [N, 8]: only x is calibrated (W is a weight). */
function linearModel(weights: Float32Array): Uint8Array {
  return buildModel({
    inputs: [valueInfo('x', ['N', FEATURES])],
    outputs: [valueInfo('y', ['N', 8])],
    initializers: [initializer('w', [FEATURES, 8], weights)],
    nodes: [node('MatMul', ['x', 'w'], ['y'], {}, 'matmul')],
  });
}

function batchesOf(values: Float32Array, batchSize: number): Batch[] {
  const batches: Batch[] = [];
  for (let i = 0; i * batchSize * FEATURES < values.length; i++) {
    batches.push({ x: { data: values.slice(i * batchSize * FEATURES, (i + 1) * batchSize * FEATURES), shape: [batchSize, FEATURES] } });
  }
  return batches;
}

/**
 * Feature 0 is 8x wider than the other 63 and alone reaches the output. Pooled over all features, its values are a
 * 1/64 share of the histogram, and the MSE-optimal range clips part of them to refine the step of the other 63: the
 * least error on the tensor, but the output reads only the clipped feature. A percentile set keeps its tail.
 */
function tailDecides(): { model: Uint8Array; batches: Batch[] } {
  const x = normalArray(8 * 32 * FEATURES, 7);
  for (let i = 0; i < x.length; i += FEATURES) x[i]! *= 8;
  const w = new Float32Array(FEATURES * 8);
  for (let j = 0; j < 8; j++) w[j] = 1 + j / 8; // row 0 only
  return { model: linearModel(w), batches: batchesOf(x, 32) };
}

/**
 * Every feature alike (log-normal magnitudes: a long, thin tail) and every feature reaches the output alike: the
 * output error is the tensor's error spread by W, so the per-tensor MSE-optimal range is the right one, and the
 * percentiles, far out in the tail, make every step coarser.
 */
function everyValueAlike(): { model: Uint8Array; batches: Batch[] } {
  const g = normalArray(8 * 32 * FEATURES, 11);
  const signs = laplaceArray(g.length, 13);
  const x = g.map((v, i) => Math.sign(signs[i]!) * Math.exp(1.5 * v));
  const w = normalArray(FEATURES * 8, 12, 0, 0.2);
  return { model: linearModel(w), batches: batchesOf(x, 32) };
}

/**
 * Two calibrated inputs, y = x1 W1 + x2 W2: x1 is tailDecides' tensor (the output reads its one wide feature, so a
 * percentile range is better for it), x2 is everyValueAlike's (its per-tensor MSE range is better). Whichever whole
 * set the check keeps is wrong for one of them; the per-tensor step is what can give each its own.
 */
function oneOfEach(): { model: Uint8Array; batches: Batch[] } {
  const tail = tailDecides().batches;
  const alike = everyValueAlike().batches;
  const w1 = new Float32Array(FEATURES * 8);
  for (let j = 0; j < 8; j++) w1[j] = 1 + j / 8;
  const w2 = normalArray(FEATURES * 8, 12, 0, 0.2);
  const model = buildModel({
    inputs: [valueInfo('x1', ['N', FEATURES]), valueInfo('x2', ['N', FEATURES])],
    outputs: [valueInfo('y', ['N', 8])],
    initializers: [initializer('w1', [FEATURES, 8], w1), initializer('w2', [FEATURES, 8], w2)],
    nodes: [node('MatMul', ['x1', 'w1'], ['y1'], {}, 'matmul1'), node('MatMul', ['x2', 'w2'], ['y2'], {}, 'matmul2'), node('Add', ['y1', 'y2'], ['y'], {}, 'add')],
  });
  return { model, batches: tail.map((b, i) => ({ x1: b.x!, x2: alike[i]!.x! })) };
}

describe("'auto''s whole-model check", () => {
  it('keeps a uniform percentile set when its output error is lower (the per-tensor MSE clips the tail the output reads)', async () => {
    const { model, batches } = tailDecides();
    const result = await calibrate(model, calibratorFromBatches(batches));
    const check = result.modelCheck!;
    expect(check.skipped).toBeUndefined();
    expect(check.samples).toBe(MODEL_CHECK_MAX_SAMPLES);
    expect(check.batches).toBe(8);
    expect(check.evaluations).toBe(4);
    expect(check.candidates.map((c) => c.set)).toEqual(['auto', 'percentile-99.99', 'percentile-99.999']);
    const [auto, ...uniform] = check.candidates;
    const best = uniform.reduce((a, b) => (b.outputError < a.outputError ? b : a));
    expect(best.outputError).toBeLessThan(auto!.outputError * 0.5);
    expect(check.chosen).toBe(best.set);
    // The ranges are the chosen set's, from the same histogram, and the result says so per tensor.
    const x = result.tensors.get('x')!;
    const percentile = Number(best.set.slice('percentile-'.length));
    expect(x.amax).toBe(percentileAmax(x.histogram!, percentile));
    expect(x.amax).toBeGreaterThan(chooseRange(x.histogram!).amax);
    expect(x.algorithm).toEqual({ kind: 'percentile', percentile });
    // Visible in the JSON and in the report.
    expect((result.toJSON().modelCheck as { chosen: string }).chosen).toBe(best.set);
    expect(sensitivityReport(result).modelCheck?.chosen).toBe(best.set);
    expect(sensitivityReportHtml(sensitivityReport(result), result)).toContain(`Kept: <b>${best.set}</b>`);
    // calibrate --report writes this report: report.json carries the check.
    const dir = tempDir();
    await writeSensitivityReport(result, dir);
    const written = JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8')) as { modelCheck: { chosen: string; candidates: unknown[] } };
    expect(written.modelCheck.chosen).toBe(best.set);
    expect(written.modelCheck.candidates).toHaveLength(3);
  });

  it('keeps the per-tensor set when it has the lower output error', async () => {
    const { model, batches } = everyValueAlike();
    const result = await calibrate(model, calibratorFromBatches(batches));
    const check = result.modelCheck!;
    expect(check.skipped).toBeUndefined();
    expect(check.chosen).toBe('auto');
    const [auto, ...uniform] = check.candidates;
    for (const c of uniform) expect(c.outputError).toBeGreaterThan(auto!.outputError);
    const x = result.tensors.get('x')!;
    expect(x.amax).toBe(chooseRange(x.histogram!).amax);
    expect(x.algorithm).toBeUndefined();
  });

  it('then gives each tensor the contender the model prefers, where the per-tensor and uniform ranges disagree', async () => {
    const { model, batches } = oneOfEach();
    const events: CalibrationProgress[] = [];
    const result = await calibrate(model, calibratorFromBatches(batches), { onProgress: (p) => events.push(p) });
    const check = result.modelCheck!;
    expect(check.skipped).toBeUndefined();
    const x1 = result.tensors.get('x1')!;
    const x2 = result.tensors.get('x2')!;
    // The best uniform set is the rival; both tensors are contested (their two ranges differ by more than 2 %).
    const rival = check.candidates.slice(1).reduce((a, b) => (b.outputError < a.outputError ? b : a));
    const percentile = Number(rival.set.slice('percentile-'.length));
    const steps = check.tensorSteps!;
    expect(steps.contested).toBe(2);
    expect(steps.evaluations).toBe(2);
    expect([steps.minDifference, steps.margin]).toEqual([0.02, 0.01]);
    // Whatever the set kept, each tensor ends with its better contender: x1 the percentile, x2 its MSE range.
    expect(x1.amax).toBe(percentileAmax(x1.histogram!, percentile));
    expect(x1.algorithm).toEqual({ kind: 'percentile', percentile });
    expect(x2.amax).toBe(chooseRange(x2.histogram!).amax);
    expect(x2.algorithm).toBeUndefined();
    // Exactly one of them moved (the one the kept set had wrong), lowering the error below both whole sets'.
    expect(steps.kept).toHaveLength(1);
    const moved = steps.kept[0]!;
    expect(moved.tensor).toBe(check.chosen === 'auto' ? 'x1' : 'x2');
    expect(moved.to).toBe(result.tensors.get(moved.tensor)!.amax);
    expect(steps.outputError).toBe(moved.outputError);
    for (const c of check.candidates) expect(steps.outputError).toBeLessThan(c.outputError * 0.99);
    // Progress after the 8 batches: one event per model run (FP32, the sets, the step), the last one done as planned.
    const checking = events.filter((e) => e.modelCheck !== undefined).map((e) => e.modelCheck!);
    expect(events.slice(0, 8).every((e) => e.modelCheck === undefined)).toBe(true);
    expect(checking.map((c) => c.evaluations)).toEqual(checking.map((_, i) => i + 1));
    expect(checking.at(-1)).toEqual({ evaluations: check.evaluations + steps.evaluations, planned: check.evaluations + steps.evaluations });
    // Reported in the page and the JSON; confirmTensors: false keeps the set as chosen.
    expect(sensitivityReportHtml(sensitivityReport(result), result)).toContain(`Then per tensor: 2 tensors`);
    expect((result.toJSON().modelCheck as { tensorSteps: { kept: unknown[] } }).tensorSteps.kept).toHaveLength(1);
    const setOnly = await calibrate(model, calibratorFromBatches(batches), { modelCheck: { confirmTensors: false } });
    expect(setOnly.modelCheck!.tensorSteps).toBeUndefined();
    expect(setOnly.modelCheck!.chosen).toBe(check.chosen);
    expect(setOnly.tensors.get(moved.tensor)!.amax).toBe(moved.from);
    await expect(calibrate(model, calibratorFromBatches(batches), { modelCheck: { confirmTensors: 'yes' as unknown as boolean } })).rejects.toMatchObject({ code: 'ERR_BAD_OPTION', input: 'modelCheck.confirmTensors' });
  });

  it('a model run failing in the per-tensor step keeps the set choice and the changes made; a throwing onProgress is the caller\'s error', async () => {
    const { model, batches } = oneOfEach();
    const full = await calibrate(model, calibratorFromBatches(batches));
    // FP32 and the three sets run (4), the step's first run too, then runs fail.
    onnxruntime.loads = 0;
    onnxruntime.failAfter = 5;
    let partial;
    try {
      partial = await calibrate(model, calibratorFromBatches(batches));
    } finally {
      onnxruntime.failAfter = Infinity;
    }
    const check = partial.modelCheck!;
    expect(check.skipped).toBeUndefined();
    expect(check.chosen).toBe(full.modelCheck!.chosen);
    expect(check.candidates).toEqual(full.modelCheck!.candidates);
    expect(check.tensorSteps!.stopped).toMatch(/simulated onnxruntime failure/);
    expect(check.tensorSteps!.evaluations).toBe(1);
    expect(check.tensorSteps!.contested).toBe(2);
    // The first contested tensor's decision stands, the second kept the set's range.
    const fullKept = full.modelCheck!.tensorSteps!.kept;
    expect(check.tensorSteps!.kept.length).toBeLessThanOrEqual(fullKept.length);
    for (const k of check.tensorSteps!.kept) expect(partial.tensors.get(k.tensor)!.amax).toBe(k.to);

    const failing = calibrate(model, calibratorFromBatches(batches), {
      onProgress: (p) => {
        if (p.modelCheck?.evaluations === 2) throw new Error('progress callback bug');
      },
    });
    await expect(failing).rejects.toThrow('progress callback bug');
  });

  it('per-tensor overrides keep their range in every set', async () => {
    const { model, batches } = tailDecides();
    const result = await calibrate(model, calibratorFromBatches(batches), { tensorAlgorithms: { x: 'auto' } });
    // The only calibrated tensor is overridden: no set differs from the per-tensor one.
    expect(result.modelCheck!.chosen).toBe('auto');
    expect(result.modelCheck!.candidates.slice(1).map((c) => c.tensorsChanged)).toEqual([0, 0]);
    expect(result.modelCheck!.evaluations).toBe(2);
    expect(result.tensors.get('x')!.amax).toBe(chooseRange(result.tensors.get('x')!.histogram!).amax);
  });

  it('modelCheck: false turns it off (the per-tensor ranges, no record); other algorithms never run it', async () => {
    const { model, batches } = tailDecides();
    const off = await calibrate(model, calibratorFromBatches(batches), { modelCheck: false });
    expect(off.modelCheck).toBeUndefined();
    const x = off.tensors.get('x')!;
    expect(x.amax).toBe(chooseRange(x.histogram!).amax);
    const entropy = await calibrate(model, calibratorFromBatches(batches, { algorithm: 'entropy2' }));
    expect(entropy.modelCheck).toBeUndefined();
    await expect(calibrate(model, calibratorFromBatches(batches), { modelCheck: { maxSamples: 0 } })).rejects.toMatchObject({ code: 'ERR_BAD_OPTION' });
  });

  it('runs on the samples of smallest content hash within its bounds: the same samples whatever their order', async () => {
    const { model, batches } = tailDecides();
    const result = await calibrate(model, calibratorFromBatches(batches), { modelCheck: { maxSamples: 40 } });
    expect([result.modelCheck!.batches, result.modelCheck!.samples]).toEqual([1, 32]); // 40 kept, used in whole batches of 32
    // The same 256 samples in reverse and re-batched by 16: the check sees the same samples, so the same errors.
    const samples = batches.flatMap((b) => {
      const x = b.x as { data: Float32Array };
      return Array.from({ length: 32 }, (_, i) => x.data.slice(i * FEATURES, (i + 1) * FEATURES));
    });
    const reordered = [...samples].reverse();
    const rebatched: Batch[] = [];
    for (let i = 0; i < reordered.length; i += 32) {
      const data = new Float32Array(32 * FEATURES);
      reordered.slice(i, i + 32).forEach((sample, k) => data.set(sample, k * FEATURES));
      rebatched.push({ x: { data, shape: [32, FEATURES] } });
    }
    const kept = (order: Batch[]) => {
      const check = new CheckSamples(100, 2 ** 20);
      for (const batch of order) {
        const x = batch.x as { data: Float32Array; shape: number[] };
        check.offer(new Map([['x', { name: 'x', dtype: 'float32', shape: x.shape, data: x.data }]]), x.shape[0]!);
      }
      return check.batches.map((b) => Array.from((b.x as { data: Float32Array }).data));
    };
    const forward = kept(batches);
    expect(forward.length).toBe(3); // 100 kept, used as 3 whole batches of 32
    expect(kept(rebatched)).toEqual(forward);
    expect(kept([...batches].reverse())).toEqual(forward);
    // Not the first samples: the subset is spread over the data (the first 96 would all come from batches 0-2).
    const firstBatches = new Set(batches.slice(0, 3).flatMap((b) => Array.from({ length: 32 }, (_, i) => (b.x as { data: Float32Array }).data[i * FEATURES])));
    const keptFirstValues = forward.flatMap((b) => Array.from({ length: 32 }, (_, i) => b[i * FEATURES]!));
    expect(keptFirstValues.filter((v) => firstBatches.has(v)).length).toBeLessThan(70);
    // End to end, the ranges differ a little with the order (histograms re-bin), the choice does not.
    const a = await calibrate(model, calibratorFromBatches(batches));
    const b = await calibrate(model, calibratorFromBatches(rebatched));
    expect(b.modelCheck!.samples).toBe(a.modelCheck!.samples);
    expect(b.modelCheck!.chosen).toBe(a.modelCheck!.chosen);

    const tooLarge = await calibrate(model, calibratorFromBatches(batches), { modelCheck: { maxBytes: 1000 } });
    expect(tooLarge.modelCheck!.skipped).toMatch(/a calibration batch is larger than the 1000 bytes/);
    expect(tooLarge.modelCheck!.chosen).toBe('auto');
  });

  it('never fails calibration: without onnxruntime-node it keeps the per-tensor ranges and says why', async () => {
    const { model, batches } = tailDecides();
    onnxruntime.fail = true;
    try {
      const result = await calibrate(model, calibratorFromBatches(batches));
      expect(result.modelCheck!.chosen).toBe('auto');
      expect(result.modelCheck!.skipped).toMatch(/could not run: onnxruntime-node is not installed \(test\)/);
      const x = result.tensors.get('x')!;
      expect(x.amax).toBe(chooseRange(x.histogram!).amax);
      expect(sensitivityReport(result).modelCheck?.skipped).toMatch(/could not run/);
    } finally {
      onnxruntime.fail = false;
    }
  });
});
