/**
 * calibrate() with the statistics engine's own onnxruntime session (issue #16: activations counted where onnxruntime
 * wrote them) against calibrate() through onnxruntime-node's session.run (TRT_INT8_CALIBRATE_RUNNER=onnxruntime-node,
 * the path before): the same histograms, value for value, on the real Fashion-MNIST model and images, and on a small
 * CNN with the memory bound, overlapped runs, an abort and a run onnxruntime refuses.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { calibrate, type CalibrationResult } from '../../src/calibrate/index.js';
import { recordCalibrationTimings, type CalibrationTimings } from '../../src/calibrate/calibrate.js';
import { OVERLAP_ENV, RUNNER_ENV, onnxRuntimeLibrary, runParallelism } from '../../src/calibrate/onnxruntime.js';
import { calibratorFromBatches } from '../../src/calibrators/index.js';
import type { Batch } from '../../src/core/batch.js';
import { TrtInt8Error } from '../../src/core/errors.js';
import { OnnxModel } from '../../src/onnx/index.js';
import { CALIBRATION_SEED, EXAMPLE_DIR, IMAGE_SIZE, calibrationIndices, isFashionMnistPresent, loadFashionMnist } from '../../examples/fashion-mnist/dataset.js';
import { cnnBatches, smallCnn } from './helpers.js';

const present = await isFashionMnistPresent();
const skipped = present ? '' : ' (skipped: examples/fashion-mnist/data is not there; npm run setup:example)';

afterEach(() => {
  delete process.env[RUNNER_ENV];
  delete process.env[OVERLAP_ENV];
  recordCalibrationTimings(undefined);
});

/** calibrate() through the given runner; returns the result and the runner calibrate() reported using. */
async function calibrateWith(runner: 'native' | 'onnxruntime-node', model: Uint8Array | string, batches: () => Iterable<Batch>, options: Parameters<typeof calibrate>[2] & { algorithm?: 'minmax' | 'entropy2' } = {}) {
  if (runner === 'onnxruntime-node') process.env[RUNNER_ENV] = 'onnxruntime-node';
  else delete process.env[RUNNER_ENV];
  const timings: CalibrationTimings = { loadMs: 0, runMs: 0, countMs: 0, rangeMs: 0, activationBytes: 0 };
  recordCalibrationTimings(timings);
  const { algorithm = 'minmax', ...rest } = options;
  const result = await calibrate(model, calibratorFromBatches(batches(), { algorithm }), rest);
  recordCalibrationTimings(undefined);
  return { result, runner: timings.runner, activationBytes: timings.activationBytes };
}

/** Everything calibrate() measured per tensor: range, min, max, counts and the full histogram. */
function measured(result: CalibrationResult) {
  return [...result.tensors.values()].map((t) => ({ name: t.name, amax: t.amax, min: t.min, max: t.max, histogram: t.histogram }));
}

describe('calibrate() counts activations in onnxruntime memory', () => {
  it('finds onnxruntime-node\'s library and uses its own session on the CPU, onnxruntime-node\'s when asked to', async () => {
    expect(onnxRuntimeLibrary()).toMatch(/onnxruntime/);
    const batches = () => cnnBatches(3, 4);
    expect((await calibrateWith('native', smallCnn(), batches)).runner).toBe('native');
    expect((await calibrateWith('onnxruntime-node', smallCnn(), batches)).runner).toBe('onnxruntime-node');
  });

  it.skipIf(!present)(`gives the histograms of onnxruntime-node's path, value for value, on Fashion-MNIST (min-max and entropy)${skipped}`, async () => {
    const calibration = await loadFashionMnist('train', { indices: calibrationIndices(256, CALIBRATION_SEED) });
    const batches = function* (): Generator<Batch> {
      for (let start = 0; start < calibration.count; start += 32) {
        yield { input: { data: calibration.images.subarray(start * IMAGE_SIZE, (start + 32) * IMAGE_SIZE), shape: [32, 1, 28, 28] } };
      }
    };
    const model = `${EXAMPLE_DIR}/model.onnx`;
    for (const algorithm of ['minmax', 'entropy2'] as const) {
      const native = await calibrateWith('native', model, batches, { algorithm });
      const node = await calibrateWith('onnxruntime-node', model, batches, { algorithm });
      expect(native.runner).toBe('native');
      expect(node.runner).toBe('onnxruntime-node');
      expect(native.result.tensors.size).toBeGreaterThan(5);
      expect(measured(native.result)).toEqual(measured(node.result));
      // Min-max: the runs in flight share each batch of 32, one slice each (runSplit in calibrate.ts).
      const slices = algorithm === 'minmax' ? runParallelism(undefined, { summaries: true }).concurrentRuns : 1;
      expect(native.result.summary.sessionRuns).toBe(node.result.summary.sessionRuns * slices);
      // Min-max summarizes inside the graph: only the 4-value summaries leave onnxruntime.
      if (algorithm === 'minmax') expect(native.activationBytes).toBeLessThan(node.activationBytes / 1000);
      else expect(native.activationBytes).toBe(node.activationBytes);
    }
  });

  it('keeps the memory bound (one run per group), overlapping or not, with the same histograms', async () => {
    const batches = () => cnnBatches(4, 8, 300);
    const unbounded = await calibrateWith('onnxruntime-node', smallCnn(), batches);
    const bounded = await calibrateWith('native', smallCnn(), batches, { maxOutputBytesPerRun: 5000 });
    expect(bounded.result.summary.sessionRuns).toBeGreaterThan(unbounded.result.summary.sessionRuns);
    expect(measured(bounded.result)).toEqual(measured(unbounded.result));
    process.env[OVERLAP_ENV] = '1';
    const overlapped = await calibrateWith('native', smallCnn(), batches);
    expect(overlapped.runner).toBe('native');
    expect(measured(overlapped.result)).toEqual(measured(unbounded.result));
  });

  it("rejects with the signal's reason when aborted mid-calibration", async () => {
    const controller = new AbortController();
    const reason = new Error('stop now');
    const batches = cnnBatches(50, 64, 700);
    let calls = 0;
    const promise = calibrate(smallCnn(), calibratorFromBatches(batches, { algorithm: 'minmax' }), {
      signal: controller.signal,
      onProgress: () => {
        if (++calls === 2) setImmediate(() => controller.abort(reason));
      },
    });
    await expect(promise).rejects.toBe(reason);
  });

  it('reports a run onnxruntime refuses as ERR_BAD_MODEL naming the inputs', async () => {
    // The input is [N, 1, 8, 8] with dynamic sizes declared as such only for N; a 4x4 image passes validation when
    // the model declares H and W dynamic, so declare them: then Flatten gives 64 features to a Gemm of 256.
    const model = await OnnxModel.load(smallCnn());
    const dims = model.proto.graph!.input![0]!.type!.tensorType!.shape!.dim!;
    dims[2] = { dimParam: 'H' };
    dims[3] = { dimParam: 'W' };
    const bad = [{ input: { data: new Float32Array(2 * 16), shape: [2, 1, 4, 4] } }];
    const error = await calibrate(model.toBytes(), calibratorFromBatches(bad, { algorithm: 'minmax' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrtInt8Error);
    expect((error as TrtInt8Error).code).toBe('ERR_BAD_MODEL');
    expect((error as TrtInt8Error).message).toMatch(/failed to run it/);
    expect(JSON.stringify((error as TrtInt8Error).fixes)).toContain('input [2, 1, 4, 4] float32');
  });
});
