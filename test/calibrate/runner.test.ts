import { describe, expect, it } from 'vitest';
import { OnnxModel } from '../../src/onnx/index.js';
import { validateBatch } from '../../src/core/batch.js';
import { loadOnnxRuntime, createSession } from '../../src/calibrate/onnxruntime.js';
import { GroupedRunner, batchToFeeds, outputAsFloat32 } from '../../src/calibrate/runner.js';
import { TrtInt8Error } from '../../src/core/errors.js';
import { cnnBatches, smallCnn } from './helpers.js';

const tensors = ['conv1', 'relu1', 'conv2', 'relu2', 'flat'];

describe('GroupedRunner', () => {
  it('returns the same activations in memory-bounded groups as in one run, within the byte budget', async () => {
    const model = OnnxModel.fromBytes(smallCnn());
    const ort = loadOnnxRuntime();
    const session = await createSession(ort, model.withExtraOutputs(tensors), ['cpu'], 'cnn');
    try {
      const batchSize = 3;
      const perTensorBytes = batchSize * 256 * 4; // every tensor here is [3, 4, 8, 8] or [3, 256] float32
      const limit = 2 * perTensorBytes;
      const onePass = new GroupedRunner(session, tensors);
      const bounded = new GroupedRunner(session, tensors, { maxOutputBytesPerRun: limit });
      for (const [index, raw] of cnnBatches(3, batchSize).entries()) {
        const feeds = batchToFeeds(ort, validateBatch(raw, model.inputs(), { batchIndex: index }));
        const whole = new Map<string, Float32Array>();
        await onePass.run(feeds, batchSize, (outputs) => {
          for (const [k, v] of outputs) whole.set(k, v);
        });
        const grouped = new Map<string, Float32Array>();
        const groupBytes: number[] = [];
        await bounded.run(feeds, batchSize, (outputs) => {
          groupBytes.push([...outputs.values()].reduce((sum, v) => sum + v.byteLength, 0));
          for (const [k, v] of outputs) grouped.set(k, v);
        });
        expect([...grouped.keys()].sort()).toEqual([...tensors].sort());
        for (const name of tensors) expect(Array.from(grouped.get(name)!)).toEqual(Array.from(whole.get(name)!));
        for (const bytes of groupBytes) expect(bytes).toBeLessThanOrEqual(limit);
        // First batch measures tensor by tensor; afterwards they pack two per run.
        expect(groupBytes.length).toBe(index === 0 ? 5 : 3);
      }
      expect(onePass.runCount).toBe(3);
      expect(bounded.runCount).toBe(5 + 3 + 3);
    } finally {
      await session.release();
    }
  });

  it('rejects a non-positive byte budget and converts float16 and float64 outputs', () => {
    expect(() => new GroupedRunner({} as never, tensors, { maxOutputBytesPerRun: 0 })).toThrow(TrtInt8Error);
    // 0x3c00 = 1, 0xc000 = -2, 0x7bff = 65504 (largest half), 0x0001 = 2^-24 (smallest subnormal), 0x7c00 = Infinity.
    const half = outputAsFloat32({ type: 'float16', dims: [5], size: 5, data: Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00]) });
    expect(Array.from(half!)).toEqual([1, -2, 65504, 2 ** -24, Infinity]);
    expect(Array.from(outputAsFloat32({ type: 'float64', dims: [2], size: 2, data: Float64Array.from([0.5, -1]) })!)).toEqual([0.5, -1]);
    expect(outputAsFloat32({ type: 'int64', dims: [1], size: 1, data: BigInt64Array.from([1n]) })).toBeUndefined();
  });
});

describe('loadOnnxRuntime', () => {
  it('says how to install onnxruntime-node when it cannot be loaded', () => {
    try {
      loadOnnxRuntime('onnxruntime-node-that-is-not-installed');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(TrtInt8Error);
      expect((error as TrtInt8Error).code).toBe('ERR_ONNXRUNTIME_NOT_FOUND');
      expect((error as TrtInt8Error).fixes[0]).toContain('ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node');
    }
    expect(typeof loadOnnxRuntime().InferenceSession.create).toBe('function');
  });
});
