/**
 * calibrate() under hostile callers (issue #12): abort wins over a stuck getBatch, batches are copied
 * into memory we own before the statistics engine reads them, and bad inputs give typed errors.
 */
import { describe, expect, it } from 'vitest';
import { calibrate } from '../../src/calibrate/index.js';
import { EntropyCalibrator2, MinMaxCalibrator, calibratorFromBatches } from '../../src/calibrators/index.js';
import type { Batch, BatchContext } from '../../src/core/batch.js';
import { isTrtInt8Error, type ErrorCode } from '../../src/core/errors.js';
import { cnnBatches, smallCnn } from './helpers.js';
import { onnxProto } from '../../src/onnx/index.js';

const modelBytes = smallCnn();
const batches = cnnBatches(3, 4);

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

function expectCode(error: unknown, code: ErrorCode) {
  if (!isTrtInt8Error(error)) throw new Error(`expected a TrtInt8Error ${code}, got ${String(error)}`);
  expect(error.code).toBe(code);
  return error;
}

/** Returns batch 0, then a promise that never settles. */
class Stuck extends EntropyCalibrator2 {
  signals: AbortSignal[] = [];
  constructor(private readonly onStuck: () => void) {
    super();
  }
  getBatch(ctx: BatchContext): Batch | null | Promise<Batch | null> {
    this.signals.push(ctx.signal);
    if (ctx.batchIndex === 0) return batches[0]!;
    setTimeout(this.onStuck, 50);
    return new Promise(() => undefined);
  }
}

describe('calibrate() abort', () => {
  it('rejects with the reason when the signal aborts while getBatch is pending, and hands getBatch that signal', async () => {
    const controller = new AbortController();
    const reason = new Error('stop now');
    const calibrator = new Stuck(() => controller.abort(reason));
    const started = performance.now();
    const error = await rejection(calibrate(modelBytes, calibrator, { signal: controller.signal, numBins: 64 }));
    expect(error).toBe(reason);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(calibrator.signals.length).toBe(2);
    expect(calibrator.signals.every((s) => s === controller.signal)).toBe(true);
  });

  it('a bare abort() rejects with the platform AbortError that is the signal reason', async () => {
    const controller = new AbortController();
    const error = await rejection(calibrate(modelBytes, new Stuck(() => controller.abort()), { signal: controller.signal, numBins: 64 }));
    expect(error).toBe(controller.signal.reason);
    expect((error as Error).name).toBe('AbortError');
  });

  it('the same for a stuck async iterable behind calibratorFromBatches', async () => {
    async function* slow() {
      yield batches[0]!;
      await new Promise(() => undefined);
    }
    const controller = new AbortController();
    setTimeout(() => controller.abort('late'), 50);
    expect(await rejection(calibrate(modelBytes, calibratorFromBatches(slow()), { signal: controller.signal, numBins: 64 }))).toBe('late');
  });
});

describe('calibrate() owns the memory it reads', () => {
  it('a getBatch buffer refilled right after it is returned does not change the statistics', async () => {
    const reference = await calibrate(modelBytes, calibratorFromBatches(batches, { algorithm: 'minmax' }), { numBins: 64 });
    const shared = new Float32Array((batches[0]!.input as { data: Float32Array }).data.length);
    class Reusing extends MinMaxCalibrator {
      getBatch(ctx: BatchContext): Batch | null {
        const next = batches[ctx.batchIndex];
        if (!next) return null;
        shared.set((next.input as { data: Float32Array }).data);
        // The caller's next use of its buffer, before our native threads and onnxruntime have read it.
        setImmediate(() => shared.fill(50));
        return { input: { data: shared, shape: (next.input as { shape: readonly number[] }).shape } };
      }
    }
    const result = await calibrate(modelBytes, new Reusing(), { numBins: 64 });
    for (const [name, tensor] of reference.tensors) expect(result.tensors.get(name)!.amax, name).toBe(tensor.amax);
  });

  it('refuses SharedArrayBuffer, resizable and detached (transferred) buffers with ERR_BAD_BATCH naming the input', async () => {
    const data = (batches[0]!.input as { data: Float32Array; shape: readonly number[] }).data;
    const shape = (batches[0]!.input as { shape: readonly number[] }).shape;
    const onShared = new Float32Array(new SharedArrayBuffer(data.byteLength));
    onShared.set(data);
    const resizable = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer)(data.byteLength, { maxByteLength: data.byteLength * 2 });
    const onResizable = new Float32Array(resizable, 0, data.length);
    onResizable.set(data);
    const detached = new Float32Array(data);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    for (const [what, array] of [['shared', onShared], ['resizable', onResizable], ['detached', detached]] as const) {
      const error = expectCode(await rejection(calibrate(modelBytes, calibratorFromBatches([{ input: { data: array, shape } }]), { numBins: 64 })), 'ERR_BAD_BATCH');
      expect(error.input, what).toBe('input');
      expect(error.message, what).toMatch(what === 'shared' ? /SharedArrayBuffer/ : what === 'resizable' ? /resizable/ : /detached|empty|elements/);
    }
  });
});

describe('calibrate() typed errors (issue #12.10, #12.12)', () => {
  it("executionProviders: ['bogus'] is ERR_BAD_OPTION naming executionProviders", async () => {
    const error = expectCode(await rejection(calibrate(modelBytes, calibratorFromBatches(batches), { executionProviders: ['bogus'] })), 'ERR_BAD_OPTION');
    expect(error.input).toBe('executionProviders');
  });

  it('NaN weights are ERR_BAD_MODEL naming the tensor, not ERR_EMPTY_DATASET', async () => {
    const model = onnxProto.ModelProto.decode(modelBytes);
    for (const t of model.graph!.initializer!) {
      if (t.floatData?.length) t.floatData = t.floatData.map(() => NaN);
      if (t.rawData?.length) t.rawData = new Uint8Array(new Float32Array(t.rawData.length / 4).fill(NaN).buffer);
    }
    const error = expectCode(await rejection(calibrate(onnxProto.ModelProto.encode(model).finish(), calibratorFromBatches(batches))), 'ERR_BAD_MODEL');
    expect(error.message).toMatch(/no finite value/);
  });

  it('a model that loads but fails when run is ERR_BAD_MODEL with onnxruntime\'s message', async () => {
    // A side branch reshaping the [N, 1, 8, 8] input to [-1, 7]: fine for N = 7k, so onnxruntime loads it,
    // but 4 samples (256 values) cannot be cut into rows of 7, so the run fails.
    const model = onnxProto.ModelProto.decode(modelBytes);
    const graph = model.graph!;
    const input = graph.input![0]!.name!;
    graph.initializer!.push(onnxProto.TensorProto.create({ name: 'bad_shape', dataType: 7, dims: [2], int64Data: [-1, 7] }));
    graph.node!.push(onnxProto.NodeProto.create({ opType: 'Reshape', input: [input, 'bad_shape'], output: ['reshaped'], name: 'bad_reshape' }));
    const error = expectCode(await rejection(calibrate(onnxProto.ModelProto.encode(model).finish(), calibratorFromBatches(batches), { numBins: 64, tensors: ['reshaped'] })), 'ERR_BAD_MODEL');
    expect(error.message).toMatch(/failed to run/);
  });
});
