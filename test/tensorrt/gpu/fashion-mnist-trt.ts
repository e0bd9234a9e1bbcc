/**
 * The real-TensorRT run of docs/tensorrt.md (not a vitest file: it needs a GPU and TensorRT). Builds FP32,
 * FP16 (10.x only) and INT8 engines of examples/fashion-mnist/model.onnx, INT8 through a TypeScript
 * EntropyCalibrator2 (10.x: TensorRT's own calibration; 11.x: Q/DQ from our statistics engine), runs the
 * 10,000 test images, and prints accuracy, top-1 agreement with FP32 and GPU latency per batch (CUDA events).
 *
 *   npm run setup:example
 *   TENSORRT_ROOT=/path/to/TensorRT npx tsx test/tensorrt/gpu/fashion-mnist-trt.ts [--out results.json] [--model FILE] [--data-dir DIR]
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { EntropyCalibrator2, buildEngine, type Batch, type BatchContext, type Engine, type Precision } from '../../../src/index.js';
import { DEFAULT_DATA_DIR, EXAMPLE_DIR, IMAGE_SIZE, calibrationIndices, loadFashionMnist } from '../../../examples/fashion-mnist/dataset.js';
import { predictClasses } from '../../../examples/fashion-mnist/engine-predictions.js';

const CALIBRATION_BATCH = 32;
const EVAL_BATCH = 256;
const LATENCY_BATCHES = [1, 32, 256];

class FashionCalibrator extends EntropyCalibrator2 {
  constructor(private readonly images: Float32Array) {
    super({ batchCount: Math.floor(images.length / IMAGE_SIZE / CALIBRATION_BATCH) });
  }
  getBatch({ batchIndex }: BatchContext): Batch | null {
    // TensorRT 10 calibrates at the calibration profile's OPT shape: full batches only.
    const start = batchIndex * CALIBRATION_BATCH;
    if ((start + CALIBRATION_BATCH) * IMAGE_SIZE > this.images.length) return null;
    return { input: { data: this.images.subarray(start * IMAGE_SIZE, (start + CALIBRATION_BATCH) * IMAGE_SIZE), shape: [CALIBRATION_BATCH, 1, 28, 28] } };
  }
}

async function latency(engine: Engine, images: Float32Array): Promise<Record<string, { medianMs: number; p90Ms: number }>> {
  const out: Record<string, { medianMs: number; p90Ms: number }> = {};
  for (const n of LATENCY_BATCHES) {
    const { gpuMs } = await engine.infer({ [engine.inputs[0]!.name]: { data: images.subarray(0, n * IMAGE_SIZE), shape: [n, 1, 28, 28] } }, { warmup: 20, repeat: 200 });
    const sorted = [...gpuMs].sort((a, b) => a - b);
    out[`batch${n}`] = { medianMs: sorted[Math.floor(sorted.length / 2)]!, p90Ms: sorted[Math.floor(sorted.length * 0.9)]! };
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string' }, 'data-dir': { type: 'string', default: DEFAULT_DATA_DIR }, model: { type: 'string', default: path.join(EXAMPLE_DIR, 'model.onnx') } } });
  const dataDir = values['data-dir']!;
  const test = await loadFashionMnist('test', { dataDir });
  const calibration = await loadFashionMnist('train', { dataDir, indices: calibrationIndices() });
  const profiles = [{ input: { min: [1, 1, 28, 28], opt: [32, 1, 28, 28], max: [EVAL_BATCH, 1, 28, 28] } }];
  const results: Record<string, unknown> = {};
  let fp32Predictions: Uint8Array | undefined;
  for (const precision of ['fp32', 'fp16', 'int8'] as Precision[]) {
    const started = performance.now();
    let engine: Engine;
    try {
      engine = await buildEngine(values.model!, {
        precision,
        profiles,
        ...(precision === 'int8' ? { calibrator: new FashionCalibrator(calibration.images) } : {}),
        logger: { error: (m) => console.error(`[TRT] ${m}`), warning: (m) => console.error(`[TRT warning] ${m}`) },
      });
    } catch (error) {
      results[precision] = { error: (error as Error).message };
      console.error(`${precision}: ${(error as Error).message}`);
      continue;
    }
    const buildSeconds = (performance.now() - started) / 1000;
    const predictions = await predictClasses(engine, test.images, test.count, EVAL_BATCH);
    fp32Predictions ??= precision === 'fp32' ? predictions : undefined;
    let correct = 0;
    let agree = 0;
    for (let i = 0; i < test.count; i++) {
      if (predictions[i] === test.labels[i]) correct++;
      if (fp32Predictions && predictions[i] === fp32Predictions[i]) agree++;
    }
    const layers = engine.inspect().Layers;
    results[precision] = {
      tensorrt: engine.tensorrtVersion,
      buildSeconds,
      engineBytes: engine.serialize().byteLength,
      accuracy: correct / test.count,
      top1AgreementWithFp32: fp32Predictions ? agree / test.count : null,
      latency: await latency(engine, test.images),
      layers: layers.length,
    };
    console.log(precision, JSON.stringify(results[precision]));
    engine.dispose();
  }
  const text = JSON.stringify(results, null, 2);
  if (values.out) await writeFile(values.out, text);
  else console.log(text);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
