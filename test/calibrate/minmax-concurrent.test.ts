/**
 * Issue #16, min-max at onnxruntime-Python's cost: a min-max calibration keeps only each tensor's min and max (no
 * histograms) unless asked, with the amax, min and max of the histogram path exactly; what reads histograms refuses
 * such a result with the fix. And several batches' runs in flight at once (TRT_INT8_CALIBRATE_CONCURRENT_RUNS) give
 * the histograms of one run at a time, value for value, whichever run finishes first.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { calibrate, measureEndToEnd, sensitivityReport, writeWorstLayerPlots, type CalibrationResult } from '../../src/calibrate/index.js';
import { recordCalibrationTimings, type CalibrationTimings } from '../../src/calibrate/calibrate.js';
import { CONCURRENT_RUNS_ENV, SPLIT_BATCHES_ENV, SUMMARY_OPS_ENV, TENSOR_SUMMARY_OP, runParallelism } from '../../src/calibrate/onnxruntime.js';
import { OnnxModel } from '../../src/onnx/index.js';
import { calibratorFromBatches } from '../../src/calibrators/index.js';
import type { Batch } from '../../src/core/batch.js';
import { TrtInt8Error } from '../../src/core/errors.js';
import { CALIBRATION_SEED, EXAMPLE_DIR, IMAGE_SIZE, calibrationIndices, isFashionMnistPresent, loadFashionMnist } from '../../examples/fashion-mnist/dataset.js';
import { cnnBatches, smallCnn } from './helpers.js';
import { rejection } from '../caught.js';

const present = await isFashionMnistPresent();
const skipped = present ? '' : ' (skipped: examples/fashion-mnist/data is not there; npm run setup:example)';
const FASHION_MODEL = `${EXAMPLE_DIR}/model.onnx`;

afterEach(() => {
  delete process.env[CONCURRENT_RUNS_ENV];
  delete process.env[SPLIT_BATCHES_ENV];
  delete process.env[SUMMARY_OPS_ENV];
  recordCalibrationTimings(undefined);
});

async function fashionBatches(): Promise<() => Generator<Batch>> {
  const calibration = await loadFashionMnist('train', { indices: calibrationIndices(256, CALIBRATION_SEED) });
  return function* () {
    for (let start = 0; start < calibration.count; start += 32) {
      yield { input: { data: calibration.images.subarray(start * IMAGE_SIZE, (start + 32) * IMAGE_SIZE), shape: [32, 1, 28, 28] } };
    }
  };
}

/** calibrate() with `runs` batches in flight; the runner it used and its session runs. */
async function calibrateWith(runs: number, model: Uint8Array | string, batches: Iterable<Batch>, algorithm: 'minmax' | 'entropy2', options: Parameters<typeof calibrate>[2] = {}) {
  process.env[CONCURRENT_RUNS_ENV] = String(runs);
  const timings: CalibrationTimings = { loadMs: 0, runMs: 0, countMs: 0, rangeMs: 0, activationBytes: 0 };
  recordCalibrationTimings(timings);
  const result = await calibrate(model, calibratorFromBatches(batches, { algorithm }), options);
  recordCalibrationTimings(undefined);
  return { result, runner: timings.runner, activationBytes: timings.activationBytes };
}

function measured(result: CalibrationResult) {
  return [...result.tensors.values()].map((t) => ({ name: t.name, amax: t.amax, min: t.min, max: t.max, histogram: t.histogram }));
}


describe('min-max without histograms', () => {
  it.skipIf(!present)(`gives the histogram path's amax, min and max exactly on Fashion-MNIST, and the same cache and Q/DQ model${skipped}`, async () => {
    const batches = await fashionBatches();
    const summarized = await calibrateWith(2, FASHION_MODEL, batches(), 'minmax');
    const plain = summarized.result;
    const withHistograms = (await calibrateWith(1, FASHION_MODEL, batches(), 'minmax', { histograms: true })).result;
    // Summarized inside the graph: only 4 values per tensor and run leave onnxruntime; the 2 runs in flight share each
    // batch, 16 samples each.
    expect(summarized.runner).toBe('native');
    expect(plain.summary.sessionRuns).toBe(2 * plain.summary.batches);
    expect(summarized.activationBytes).toBe(plain.summary.sessionRuns * (plain.tensors.size - 1) * 4 * 4);
    // Held as outputs and summarized after each run (TRT_INT8_CALIBRATE_SUMMARY_OPS=0): the same ranges.
    process.env[SUMMARY_OPS_ENV] = '0';
    const afterRuns = (await calibrateWith(1, FASHION_MODEL, batches(), 'minmax')).result;
    delete process.env[SUMMARY_OPS_ENV];
    expect(measured(afterRuns)).toEqual(measured(plain));
    expect(plain.parameters.histograms).toBe(false);
    expect(withHistograms.parameters.histograms).toBe(true);
    expect(plain.tensors.size).toBeGreaterThan(5);
    for (const [name, t] of plain.tensors) {
      const h = withHistograms.tensors.get(name)!;
      expect(t.histogram).toBeUndefined();
      expect(h.histogram!.count).toBeGreaterThan(0);
      expect({ amax: t.amax, min: t.min, max: t.max }).toEqual({ amax: h.amax, min: h.min, max: h.max });
      expect(t.amax).toBe(Math.max(-t.min!, t.max!));
    }
    expect(plain.toTensorRTCache()).toBe(withHistograms.toTensorRTCache());
    expect(Buffer.from(plain.toQdqModel()).equals(Buffer.from(withHistograms.toQdqModel()))).toBe(true);
  });

  it('refuses what reads histograms with the option that keeps them, and histograms: false where the algorithm needs them', async () => {
    const result = (await calibrateWith(1, smallCnn(), cnnBatches(3, 4), 'minmax')).result;
    expect(result.parameters.histograms).toBe(false);
    for (const failing of [
      Promise.resolve().then(() => sensitivityReport(result)),
      measureEndToEnd(smallCnn(), result, cnnBatches(1, 4)),
      writeWorstLayerPlots(fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-plots-')), { worstLayers: [] } as never, result),
    ]) {
      const error = await rejection(failing);
      expect(error.code).toBe('ERR_BAD_OPTION');
      expect(error.message).toMatch(/calibrated without them/);
      expect(JSON.stringify(error.fixes)).toContain('histograms: true');
    }
    // With them, the report is there.
    const kept = (await calibrateWith(1, smallCnn(), cnnBatches(3, 4), 'minmax', { histograms: true })).result;
    expect(sensitivityReport(kept).tensors.length).toBe(kept.tensors.size);

    const refused = await rejection(calibrateWith(1, smallCnn(), cnnBatches(3, 4), 'entropy2', { histograms: false }));
    expect(refused.code).toBe('ERR_BAD_OPTION');
    expect(refused.input).toBe('histograms');
    // One tensor on entropy is enough to need them; the others on min-max then keep them too.
    const mixed = (await calibrateWith(1, smallCnn(), cnnBatches(3, 4), 'minmax', { tensorAlgorithms: ({ isGraphInput }) => (isGraphInput ? 'entropy2' : undefined) })).result;
    expect(mixed.parameters.histograms).toBe(true);
    expect([...mixed.tensors.values()].every((t) => t.histogram !== undefined)).toBe(true);
  });

  it('still refuses a tensor with no finite value, as the histogram path does', async () => {
    const nan = [{ input: { data: new Float32Array(4 * 64).fill(Number.NaN), shape: [4, 1, 8, 8] } }];
    const withHistograms = await rejection(calibrateWith(1, smallCnn(), nan, 'minmax', { histograms: true }));
    const without = await rejection(calibrateWith(1, smallCnn(), nan, 'minmax'));
    expect(without.code).toBe(withHistograms.code);
    expect(without.message).toBe(withHistograms.message);
  });
});

describe('several runs in flight', () => {
  it('summarizes float tensors in the graph after the rest of it, the first tensor last (onnxruntime then runs each right after its tensor)', async () => {
    const model = await OnnxModel.load(smallCnn());
    const tensors = ['input', 'conv1', 'relu1', 'conv2'];
    const { bytes, fetches, summarized } = model.withTensorSummaries(tensors, TENSOR_SUMMARY_OP);
    // The graph input is not summarized (calibrate() reads it from the batch); it is fetched as it is.
    expect(summarized).toEqual([false, true, true, true]);
    expect(fetches).toEqual(['input', ...tensors.slice(1).map((t) => t + TENSOR_SUMMARY_OP.suffix)]);
    const written = OnnxModel.fromBytes(bytes);
    const tail = written.nodes.slice(-3);
    expect(tail.map((n) => [n.opType, n.inputs[0]])).toEqual([['TensorSummary', 'conv2'], ['TensorSummary', 'relu1'], ['TensorSummary', 'conv1']]);
    expect(written.proto.opsetImport!.some((o) => o.domain === TENSOR_SUMMARY_OP.domain)).toBe(true);
    expect(written.outputs().map((o) => o.name)).toEqual(['logits', ...fetches.slice(1), 'input'].filter((n, i, all) => all.indexOf(n) === i));
    expect(model.nodes.length).toBe(written.nodes.length - 3); // the model itself is unchanged
  });

  it('runs one batch at a time on all cores unless asked or summarizing in the graph, then splits the cores between the runs', () => {
    expect(runParallelism(2)).toEqual({ concurrentRuns: 1, intraOpThreads: 0 });
    expect(runParallelism(2, { summaries: true })).toEqual({ concurrentRuns: 2, intraOpThreads: 1 });
    expect(runParallelism(1, { summaries: true })).toEqual({ concurrentRuns: 1, intraOpThreads: 0 });
    process.env[CONCURRENT_RUNS_ENV] = '2';
    expect(runParallelism(2)).toEqual({ concurrentRuns: 2, intraOpThreads: 1 });
    expect(runParallelism(16)).toEqual({ concurrentRuns: 2, intraOpThreads: 8 });
    process.env[CONCURRENT_RUNS_ENV] = '3';
    expect(runParallelism(2)).toEqual({ concurrentRuns: 3, intraOpThreads: 1 });
  });

  it('gives the sequential histograms, value for value, when every batch widens the range (entropy and min-max)', async () => {
    // cnnBatches' values grow batch by batch: each batch appends bins, so the histograms depend on the batch order.
    const batches = cnnBatches(12, 16, 500);
    for (const [algorithm, options] of [['entropy2', {}], ['minmax', { histograms: true }], ['minmax', {}]] as const) {
      const sequential = await calibrateWith(1, smallCnn(), batches, algorithm, options);
      for (const runs of [2, 3]) {
        const concurrent = await calibrateWith(runs, smallCnn(), batches, algorithm, options);
        expect(concurrent.runner).toBe('native');
        expect(measured(concurrent.result)).toEqual(measured(sequential.result));
        // Min-max summarized in the graph: the runs in flight share each batch of 16, one slice each.
        const slices = algorithm === 'minmax' && !('histograms' in options) ? runs : 1;
        expect(concurrent.result.summary.sessionRuns).toBe(sequential.result.summary.sessionRuns * slices);
        expect(concurrent.activationBytes).toBe(sequential.activationBytes * slices);
      }
    }
  });

  it('shares each batch between the runs in flight, one slice of its samples each, with the ranges of whole batches; a fixed batch size runs whole', async () => {
    // The memory of two runs at once is that of one batch (docs/calibration-speed.md): 16 batches of 7 samples, cut
    // into 4 + 3 for 2 runs, 3 + 2 + 2 for 3.
    const batches = cnnBatches(16, 7, 500);
    process.env[SPLIT_BATCHES_ENV] = '0';
    const whole = await calibrateWith(2, smallCnn(), batches, 'minmax');
    delete process.env[SPLIT_BATCHES_ENV];
    expect(whole.runner).toBe('native');
    expect(whole.result.summary.sessionRuns).toBe(16);
    const sequential = await calibrateWith(1, smallCnn(), batches, 'minmax');
    expect(sequential.result.summary.sessionRuns).toBe(16);
    for (const runs of [2, 3]) {
      const shared = await calibrateWith(runs, smallCnn(), batches, 'minmax');
      expect(shared.result.summary.sessionRuns).toBe(16 * runs);
      expect(shared.result.summary.samples).toBe(16 * 7);
      expect(measured(shared.result)).toEqual(measured(whole.result));
      expect(measured(shared.result)).toEqual(measured(sequential.result));
    }
    // Histograms (which depend on how values are grouped) are never cut: one run per batch.
    const histograms = await calibrateWith(2, smallCnn(), batches, 'minmax', { histograms: true });
    expect(histograms.result.summary.sessionRuns).toBe(16);
    // A model whose batch dimension is fixed runs each batch whole.
    const fixed = await OnnxModel.load(smallCnn());
    fixed.proto.graph!.input![0]!.type!.tensorType!.shape!.dim![0] = { dimValue: 7 };
    const fixedRuns = await calibrateWith(2, fixed.toBytes(), batches, 'minmax');
    expect(fixedRuns.result.summary.sessionRuns).toBe(16);
    expect(measured(fixedRuns.result)).toEqual(measured(whole.result));
    // A batch of one sample is not cut.
    const single = await calibrateWith(2, smallCnn(), cnnBatches(5, 1, 500), 'minmax');
    expect(single.result.summary.sessionRuns).toBe(5);
  });

  it('keeps batches whole for a model that fixes its batch size inside (a Reshape to a constant batch): the probe on the first batch finds it', async () => {
    // The input says [N, 1, 8, 8], but the Flatten became Reshape(relu2, [7, 256]): it runs on batches of 7 only.
    const model = await OnnxModel.load(smallCnn());
    const graph = model.proto.graph!;
    const flatten = graph.node!.findIndex((n) => n.opType === 'Flatten');
    graph.node![flatten] = { name: 'reshape_node', opType: 'Reshape', input: ['relu2', 'fixed_shape'], output: ['flat'], attribute: [] };
    model.addInt64Initializer('fixed_shape', [2], [7, 256]);
    const batches = cnnBatches(6, 7, 500);
    const result = await calibrateWith(2, model.toBytes(), batches, 'minmax');
    // The probe's run is counted nowhere; the batches ran whole, with the ranges of one run at a time.
    expect(result.result.summary.sessionRuns).toBe(6);
    const sequential = await calibrateWith(1, model.toBytes(), batches, 'minmax');
    expect(measured(result.result)).toEqual(measured(sequential.result));
  });

  it.skipIf(!present)(`gives the sequential ranges and histograms on Fashion-MNIST (entropy)${skipped}`, async () => {
    const batches = await fashionBatches();
    const sequential = await calibrateWith(1, FASHION_MODEL, batches(), 'entropy2');
    const concurrent = await calibrateWith(2, FASHION_MODEL, batches(), 'entropy2');
    expect(measured(concurrent.result)).toEqual(measured(sequential.result));
  });

  it('reports a run onnxruntime refuses, and an abort, with runs in flight', async () => {
    process.env[CONCURRENT_RUNS_ENV] = '2';
    // The first batches run; a later one has 4x4 images, which the Gemm after Flatten refuses.
    const { OnnxModel } = await import('../../src/onnx/index.js');
    const model = await OnnxModel.load(smallCnn());
    const dims = model.proto.graph!.input![0]!.type!.tensorType!.shape!.dim!;
    dims[2] = { dimParam: 'H' };
    dims[3] = { dimParam: 'W' };
    const batches = [...cnnBatches(3, 4), { input: { data: new Float32Array(2 * 16), shape: [2, 1, 4, 4] } }, ...cnnBatches(3, 4)];
    const failed = await rejection(calibrate(model.toBytes(), calibratorFromBatches(batches, { algorithm: 'minmax' })));
    expect(failed.code).toBe('ERR_BAD_MODEL');
    expect(JSON.stringify(failed.fixes)).toContain('input [2, 1, 4, 4] float32');

    const controller = new AbortController();
    const reason = new Error('stop now');
    let calls = 0;
    const aborted = calibrate(smallCnn(), calibratorFromBatches(cnnBatches(50, 64, 700), { algorithm: 'entropy2' }), {
      signal: controller.signal,
      onProgress: () => {
        if (++calls === 3) controller.abort(reason);
      },
    });
    await expect(aborted).rejects.toBe(reason);
  });
});
