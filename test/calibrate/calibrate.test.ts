/**
 * calibrate() end to end on a real CNN with onnxruntime-node: ranges against a direct computation,
 * cache round trip and reuse, Q/DQ model, memory-bounded mode, abort, progress, and typed errors.
 * Needs the native statistics module: TRT_INT8_ADDON_PATH or a built addon.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { calibrate, CalibrationResult } from '../../src/calibrate/index.js';
import { runParallelism } from '../../src/calibrate/onnxruntime.js';
import { Calibrator, EntropyCalibrator2, calibratorFromBatches } from '../../src/calibrators/index.js';
import type { Batch, BatchContext } from '../../src/core/batch.js';
import { parseCalibrationCache, formatCalibrationCache } from '../../src/cache/index.js';
import { HistogramCollector, computeAmax } from '../../src/stats/index.js';
import { OnnxModel, onnxProto as onnx, planQuantization } from '../../src/onnx/index.js';
import { TrtInt8Error } from '../../src/core/errors.js';
import * as ort from 'onnxruntime-node';
import { runModel, cosine } from '../onnx/helpers.js';
import { cnnBatches, smallCnn, tempDir } from './helpers.js';

const modelBytes = smallCnn();
const model = OnnxModel.fromBytes(modelBytes);
const planned = planQuantization(model).activationNames;
const batches = cnnBatches(4, 5);

/**
 * Every planned activation of every batch, computed by running the model directly with onnxruntime
 * (same default session options as calibrate(), so the float values are bit-identical).
 */
async function directActivations(): Promise<Map<string, Float32Array[]>> {
  const inputs = new Set(model.inputs().map((i) => i.name));
  const fetched = planned.filter((t) => !inputs.has(t));
  const session = await ort.InferenceSession.create(model.withExtraOutputs(fetched));
  const out = new Map<string, Float32Array[]>(planned.map((t) => [t, []]));
  try {
    for (const batch of batches) {
      const input = batch.input as { data: Float32Array; shape: number[] };
      const results = await session.run({ input: new ort.Tensor('float32', input.data, input.shape) });
      for (const t of planned) out.get(t)!.push(inputs.has(t) ? input.data : (results[t]!.data as Float32Array));
    }
  } finally {
    await session.release();
  }
  return out;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

function expectTyped(error: unknown, code: string): TrtInt8Error {
  expect(error).toBeInstanceOf(TrtInt8Error);
  expect((error as TrtInt8Error).code).toBe(code);
  return error as TrtInt8Error;
}

describe('calibrate', () => {
  it('plans the input and the activations read by Conv/Gemm', () => {
    expect(planned).toContain('input');
    expect(planned.length).toBeGreaterThanOrEqual(3);
  });

  it('minmax: amax, min and max equal those of the activations computed directly, with or without histograms', async () => {
    const direct = await directActivations();
    const result = await calibrate(modelBytes, calibratorFromBatches(batches, { algorithm: 'minmax' }));
    const withHistograms = await calibrate(modelBytes, calibratorFromBatches(batches, { algorithm: 'minmax' }), { histograms: true });
    expect([...result.tensors.keys()]).toEqual(planned);
    for (const [name, chunks] of direct) {
      let min = Infinity;
      let max = -Infinity;
      for (const chunk of chunks) for (const v of chunk) (min = Math.min(min, v)), (max = Math.max(max, v));
      for (const t of [result.tensors.get(name)!, withHistograms.tensors.get(name)!]) {
        expect(t.min).toBe(min);
        expect(t.max).toBe(max);
        expect(t.amax).toBe(Math.fround(Math.max(-min, max)));
      }
      expect(result.tensors.get(name)!.histogram).toBeUndefined();
      expect(withHistograms.tensors.get(name)!.histogram!.count).toBe(chunks.reduce((n, c) => n + c.length, 0));
    }
    expect(result.summary).toMatchObject({ batches: 4, samples: 20, source: 'collected' });
    // Min-max summarized in the graph: each batch of 5 is shared by the runs in flight, one slice each.
    expect(result.summary.sessionRuns).toBe(4 * runParallelism(undefined, { summaries: true }).concurrentRuns);
    expect(withHistograms.summary.sessionRuns).toBe(4);
    expect(result.summary.samplesPerSecond).toBeGreaterThan(0);
  });

  it('entropy2: amax equals the statistics engine applied to the directly computed activations', async () => {
    const direct = await directActivations();
    const result = await calibrate(model, calibratorFromBatches(batches, { algorithm: 'entropy2' }), { numBins: 512 });
    const collector = new HistogramCollector({ numBins: 512 });
    for (let b = 0; b < batches.length; b++) await collector.add(new Map([...direct].map(([name, chunks]) => [name, chunks[b]!])));
    const reference = collector.histograms();
    for (const name of planned) {
      const expected = reference.get(name)!;
      const got = result.tensors.get(name)!;
      expect(Array.from(got.histogram!.counts)).toEqual(Array.from(expected.counts));
      expect(got.amax).toBe(computeAmax(expected, { kind: 'entropy2' }));
      // Entropy clips the tail: the range never exceeds max |x|.
      expect(got.amax).toBeLessThanOrEqual(expected.absMax * (1 + 1e-6));
    }
    expect(result.parameters.numBins).toBe(512);
  });

  it('tensorAlgorithms: the graph input takes min-max while activations keep the calibrator\'s entropy', async () => {
    const direct = await directActivations();
    const result = await calibrate(model, calibratorFromBatches(batches, { algorithm: 'entropy2' }), {
      numBins: 512,
      tensorAlgorithms: ({ isGraphInput }) => (isGraphInput ? 'minmax' : undefined),
    });
    const collector = new HistogramCollector({ numBins: 512 });
    for (let b = 0; b < batches.length; b++) await collector.add(new Map([...direct].map(([name, chunks]) => [name, chunks[b]!])));
    const reference = collector.histograms();
    const input = result.tensors.get('input')!;
    expect(input.amax).toBe(reference.get('input')!.absMax);
    expect(input.algorithm).toEqual({ kind: 'minmax' });
    expect(computeAmax(reference.get('input')!, { kind: 'entropy2' })).toBeLessThan(input.amax); // so the override mattered
    for (const name of planned.filter((n) => n !== 'input')) {
      expect(result.tensors.get(name)!.amax).toBe(computeAmax(reference.get(name)!, { kind: 'entropy2' }));
      expect(result.tensors.get(name)!.algorithm).toBeUndefined();
    }
    // The map form, and its check of names.
    const byName = await calibrate(model, calibratorFromBatches(batches, { algorithm: 'entropy2' }), { numBins: 512, tensorAlgorithms: { input: { kind: 'percentile', percentile: 99 } } });
    expect(byName.tensors.get('input')!.amax).toBe(computeAmax(reference.get('input')!, { kind: 'percentile', percentile: 99 }));
    await expect(calibrate(model, calibratorFromBatches(batches), { tensorAlgorithms: { nope: 'minmax' } })).rejects.toMatchObject({ code: 'ERR_BAD_OPTION', input: 'tensorAlgorithms' });
  });

  it('calibrates a model whose weights live in an external data file (inlined for onnxruntime)', async () => {
    const dir = tempDir();
    const model = OnnxModel.fromBytes(modelBytes);
    const external = new Map<string, Float32Array>();
    let offset = 0;
    const chunks: Buffer[] = [];
    for (const init of model.graph.initializer!) {
      const values = model.tensorWeights(init.name!);
      external.set(init.name!, values);
      chunks.push(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
      init.rawData = new Uint8Array(0);
      init.floatData = [];
      init.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      init.externalData = [
        { key: 'location', value: 'weights.bin' },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(values.byteLength) },
      ];
      offset += values.byteLength;
    }
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(chunks));
    fs.writeFileSync(path.join(dir, 'model.onnx'), model.toBytes());
    expect(fs.statSync(path.join(dir, 'model.onnx')).size).toBeLessThan(offset); // the weights really are outside

    const fromFile = await calibrate(path.join(dir, 'model.onnx'), calibratorFromBatches(batches, { algorithm: 'minmax' }));
    const inline = await calibrate(modelBytes, calibratorFromBatches(batches, { algorithm: 'minmax' }));
    for (const [name, t] of inline.tensors) expect(fromFile.tensors.get(name)!.amax).toBe(t.amax);

    // Loaded from bytes there is no folder to find weights.bin in: a typed error naming the tensor.
    const error = await calibrate(fs.readFileSync(path.join(dir, 'model.onnx')), calibratorFromBatches(batches)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrtInt8Error);
    expect((error as TrtInt8Error).code).toBe('ERR_BAD_MODEL');
    expect(external.has((error as TrtInt8Error).input!)).toBe(true);
  });

  it('writes a cache that round-trips through the codec and is reused instead of recalibrating', async () => {
    const dir = tempDir();
    const cachePath = path.join(dir, 'model.cache');
    const first = await calibrate(modelBytes, calibratorFromBatches(batches, { cachePath }), { numBins: 256 });
    const text = fs.readFileSync(cachePath, 'utf8');
    expect(text).toBe(first.toTensorRTCache());
    const parsed = parseCalibrationCache(text, { version: '10.16.0', algorithm: 'entropy2' });
    expect(parsed.versionCode).toBe(101600);
    expect([...parsed.scales.keys()]).toEqual(planned);
    for (const [name, scale] of parsed.scales) expect(scale * 127).toBeCloseTo(first.tensors.get(name)!.amax, 5);
    expect(first.toTensorRTCache('8.6.1', { algorithm: 'minmax' }).split('\n')[0]).toBe('TRT-8601-MinMaxCalibration');

    // Reuse: TensorRT-style, a matching cache skips collection entirely.
    let asked = 0;
    class CountingCalibrator extends EntropyCalibrator2 {
      getBatch(ctx: BatchContext): Batch | null {
        asked++;
        return batches[ctx.batchIndex] ?? null;
      }
    }
    const reused = await calibrate(modelBytes, new CountingCalibrator({ cachePath }), { numBins: 256 });
    expect(asked).toBe(0);
    expect(reused.summary.source).toBe('cache');
    for (const [name, t] of reused.tensors) {
      expect(t.amax).toBeCloseTo(first.tensors.get(name)!.amax, 5);
      expect(t.histogram).toBeUndefined();
    }

    // A cache for another TensorRT version is not reused (TensorRT would ignore it too), and we say why.
    fs.writeFileSync(cachePath, formatCalibrationCache({ version: '10.3.0', algorithm: 'entropy2', scales: parsed.scales }));
    const recalibrated = await calibrate(modelBytes, new CountingCalibrator({ cachePath }), { numBins: 256 });
    expect(asked).toBe(batches.length + 1);
    expect(recalibrated.summary.source).toBe('collected');
    expect(recalibrated.summary.cacheRejectedBecause).toMatch(/100300|10\.3\.0/);
    expect(fs.readFileSync(cachePath, 'utf8').startsWith('TRT-101600-EntropyCalibration2\n')).toBe(true);
  });

  it('produces a Q/DQ model that onnxruntime runs, close to the float model, with scale = amax / 127', async () => {
    const result = await calibrate(modelBytes, calibratorFromBatches(batches, { algorithm: 'minmax' }), { histograms: true });
    const qdqBytes = result.toQdqModel();
    const qdq = OnnxModel.fromBytes(qdqBytes);
    const quantizeNodes = qdq.nodes.filter((n) => n.opType === 'QuantizeLinear');
    const onInput = quantizeNodes.find((n) => n.inputs[0] === 'input')!;
    expect(onInput).toBeDefined();
    expect(qdq.tensorWeights(onInput.inputs[1]!)[0]).toBeCloseTo(result.tensors.get('input')!.amax / 127, 7);
    const input = batches[0]!.input as { data: Float32Array; shape: number[] };
    const float = (await runModel(modelBytes, { input: { data: input.data, dims: input.shape } })).get('logits')!;
    const quantized = (await runModel(qdqBytes, { input: { data: input.data, dims: input.shape } })).get('logits')!;
    expect(cosine(float, quantized)).toBeGreaterThan(0.99);
    expect(Array.from(quantized)).not.toEqual(Array.from(float));

    const dir = tempDir();
    await result.writeQdqModel(path.join(dir, 'm.qdq.onnx'));
    expect(Buffer.from(qdqBytes).equals(fs.readFileSync(path.join(dir, 'm.qdq.onnx')))).toBe(true);
    const json = JSON.parse(JSON.stringify(result)) as { tensors: { name: string; amax: number; histogram: { counts: number[] } }[] };
    expect(json.tensors.map((t) => t.name)).toEqual(planned);
    expect(json.tensors[0]!.histogram.counts.reduce((a, b) => a + b, 0)).toBe(result.tensors.get(planned[0]!)!.histogram!.count);
  });

  it('memory-bounded mode gives identical histograms with more, smaller runs', async () => {
    const onePass = await calibrate(modelBytes, calibratorFromBatches(batches, { algorithm: 'percentile' }));
    // One [5, 4, 8, 8] float32 activation is 5 KiB: a 6 KiB budget forces one tensor per run.
    const bounded = await calibrate(modelBytes, calibratorFromBatches(batches, { algorithm: 'percentile' }), { maxOutputBytesPerRun: 6 * 1024 });
    expect(bounded.summary.sessionRuns).toBeGreaterThan(onePass.summary.sessionRuns);
    expect(bounded.summary.sessionRuns).toBe(batches.length * (planned.length - 1));
    for (const [name, t] of onePass.tensors) {
      const b = bounded.tensors.get(name)!;
      expect(Array.from(b.histogram!.counts)).toEqual(Array.from(t.histogram!.counts));
      expect(b.histogram!.binWidth).toBe(t.histogram!.binWidth);
      expect(b.amax).toBe(t.amax);
    }
  });

  it('reports progress after every batch, with the ETA when the batch count is known', async () => {
    const events: { batchesDone: number; samplesDone: number; etaSeconds?: number; batchCount?: number }[] = [];
    await calibrate(modelBytes, calibratorFromBatches(batches, { algorithm: 'minmax' }), { onProgress: (p) => events.push(p) });
    expect(events.map((e) => e.batchesDone)).toEqual([1, 2, 3, 4]);
    expect(events.map((e) => e.samplesDone)).toEqual([5, 10, 15, 20]);
    expect(events.every((e) => e.batchCount === 4 && typeof e.etaSeconds === 'number')).toBe(true);
    expect(events.at(-1)!.etaSeconds).toBe(0);
    function* generated() {
      yield* batches;
    }
    const unknown: { etaSeconds?: number; batchCount?: number }[] = [];
    await calibrate(modelBytes, calibratorFromBatches(generated(), { algorithm: 'minmax' }), { onProgress: (p) => unknown.push(p) });
    expect(unknown.length).toBe(4);
    expect(unknown.every((e) => e.etaSeconds === undefined && e.batchCount === undefined)).toBe(true);
  });

  it("rejects with the signal's reason when aborted mid-calibration, and writes no cache", async () => {
    const dir = tempDir();
    const controller = new AbortController();
    const reason = new Error('user pressed stop');
    let closed = false;
    class Stopping extends EntropyCalibrator2 {
      getBatch(ctx: BatchContext): Batch | null {
        if (ctx.batchIndex === 2) controller.abort(reason);
        return batches[ctx.batchIndex] ?? null;
      }
      override async close() {
        closed = true;
      }
    }
    const error = await rejection(calibrate(modelBytes, new Stopping({ cachePath: path.join(dir, 'c.cache') }), { signal: controller.signal }));
    expect(error).toBe(reason);
    expect(closed).toBe(true);
    expect(fs.readdirSync(dir)).toEqual([]);

    const progressAbort = new AbortController();
    const fromProgress = await rejection(
      calibrate(modelBytes, calibratorFromBatches(batches), { signal: progressAbort.signal, onProgress: (p) => p.batchesDone === 1 && progressAbort.abort('enough') }),
    );
    expect(fromProgress).toBe('enough');
    expect(await rejection(calibrate(modelBytes, calibratorFromBatches(batches), { signal: AbortSignal.abort(reason) }))).toBe(reason);
  });

  it('gives typed errors for each bad input', async () => {
    const notOnnx = await rejection(calibrate(new TextEncoder().encode('this is not an onnx model at all'), calibratorFromBatches(batches)));
    expectTyped(notOnnx, 'ERR_BAD_MODEL');
    expectTyped(await rejection(calibrate('/no/such/model.onnx', calibratorFromBatches(batches))), 'ERR_IO');

    const input = batches[0]!.input!;
    const extra = expectTyped(await rejection(calibrate(modelBytes, calibratorFromBatches([{ input, mask: input }]))), 'ERR_BAD_BATCH');
    expect(extra.message).toContain('mask');

    const wrongShape = expectTyped(
      await rejection(calibrate(modelBytes, calibratorFromBatches([{ input: { data: new Float32Array(2 * 49), shape: [2, 1, 7, 7] } }]))),
      'ERR_BAD_BATCH',
    );
    expect(wrongShape.message).toContain('input');

    expectTyped(await rejection(calibrate(modelBytes, calibratorFromBatches([]))), 'ERR_EMPTY_DATASET');
    expectTyped(await rejection(calibrate(modelBytes, calibratorFromBatches(batches), { numBins: 3 })), 'ERR_BAD_OPTION');
    expectTyped(await rejection(calibrate(modelBytes, calibratorFromBatches(batches), { maxOutputBytesPerRun: -1 })), 'ERR_BAD_OPTION');
    expectTyped(await rejection(calibrate(modelBytes, calibratorFromBatches(batches), { tensorRTVersion: 'ten' })), 'ERR_BAD_OPTION');
    expectTyped(await rejection(calibrate(modelBytes, calibratorFromBatches(batches), { exclude: ['conv1_node'] as never })), 'ERR_BAD_OPTION');
    expectTyped(await rejection(calibrate(modelBytes, calibratorFromBatches(batches), { tensors: ['no_such_tensor'] })), 'ERR_BAD_OPTION');
    expectTyped(await rejection(calibrate(modelBytes, {} as Calibrator)), 'ERR_BAD_OPTION');

    // A user error thrown by getBatch propagates unchanged.
    const own = new RangeError('my data loader broke');
    class Broken extends EntropyCalibrator2 {
      getBatch(): Batch | null {
        throw own;
      }
    }
    expect(await rejection(calibrate(modelBytes, new Broken()))).toBe(own);
  });

  it('fails to write to an unwritable path with ERR_IO and leaves no partial file', async () => {
    const result = await calibrate(modelBytes, calibratorFromBatches(batches.slice(0, 1), { algorithm: 'minmax' }));
    const dir = tempDir();
    const missingFolder = path.join(dir, 'missing', 'out.cache');
    expectTyped(await rejection(result.writeCache(missingFolder)), 'ERR_IO');
    fs.mkdirSync(path.join(dir, 'taken.onnx'));
    const isFolder = expectTyped(await rejection(result.writeQdqModel(path.join(dir, 'taken.onnx'))), 'ERR_IO');
    expect(isFolder.input).toBe(path.join(dir, 'taken.onnx'));
    expect(fs.readdirSync(dir)).toEqual(['taken.onnx']);
    expect(fs.readdirSync(path.join(dir, 'taken.onnx'))).toEqual([]);
    expect(result).toBeInstanceOf(CalibrationResult);
  });
});
