/**
 * Fashion-MNIST for the GPU scripts: the 10,000 test images, the 1,024 calibration images of
 * examples/fashion-mnist/dataset.ts, one calibrator per algorithm class over them, predictions and latency.
 *
 * On the GPU machine the 26 MB training file does not travel: scripts/device/pack.sh writes the calibration
 * images alone as an IDX file (CALIBRATION_FILE, [1024, 28, 28] uint8, the same images in the same order).
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  EntropyCalibrator,
  EntropyCalibrator2,
  LegacyCalibrator,
  MinMaxCalibrator,
  PercentileCalibrator,
  type Batch,
  type BatchContext,
  Calibrator,
  type CalibratorOptions,
  type Engine,
} from '../../../../src/index.js';
import { IMAGE_SIZE, calibrationIndices, loadFashionMnist, normalizePixels, type FashionMnistSplit } from '../../../../examples/fashion-mnist/dataset.js';
import { readIdx } from '../../../../examples/fashion-mnist/idx.js';
import { argmaxRows, summarizeLatency, type LatencySummary } from './stats.js';

/** The calibration images alone, written by scripts/device/fashion-calibration-subset.ts. */
export const CALIBRATION_FILE = 'calibration-images-idx3-ubyte.gz';
export const CALIBRATION_BATCH = 32;
export const EVAL_BATCH = 256;
export const FASHION_PROFILE = { input: { min: [1, 1, 28, 28], opt: [CALIBRATION_BATCH, 1, 28, 28], max: [EVAL_BATCH, 1, 28, 28] } } as const;

export interface FashionData {
  readonly test: FashionMnistSplit;
  /** Normalised calibration images, [1024, 1, 28, 28]. */
  readonly calibration: Float32Array;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false);
}

/** Test split plus calibration images, from the packed subset when present, else from the training file. */
export async function loadFashionData(dataDir: string): Promise<FashionData> {
  const test = await loadFashionMnist('test', { dataDir });
  const subset = path.join(dataDir, CALIBRATION_FILE);
  if (await exists(subset)) {
    const idx = await readIdx(subset);
    if (idx.dims[0] !== calibrationIndices().length || idx.dims[1] !== 28 || idx.dims[2] !== 28) {
      throw new Error(`${subset}: expected [${calibrationIndices().length}, 28, 28], found [${idx.dims.join(', ')}]; re-run scripts/device/pack.sh`);
    }
    return { test, calibration: normalizePixels(idx.data) };
  }
  const train = await loadFashionMnist('train', { dataDir, indices: calibrationIndices() });
  return { test, calibration: train.images };
}

export type CalibratorKind = 'entropy2' | 'entropy' | 'minmax' | 'legacy' | 'percentile' | 'auto';

type CalibratorClass = abstract new (options?: CalibratorOptions) => Calibrator;
const CALIBRATOR_CLASSES: Record<CalibratorKind, CalibratorClass> = {
  entropy2: EntropyCalibrator2,
  entropy: EntropyCalibrator,
  minmax: MinMaxCalibrator,
  legacy: LegacyCalibrator,
  percentile: PercentileCalibrator,
  // The library's default: per tensor the range with the least quantization error.
  auto: class extends Calibrator {
    constructor(options: CalibratorOptions = {}) {
      super(options);
    }
    getBatch(): Batch | null {
      return null;
    }
  },
};

/** Ways a calibrator can misbehave on purpose, for the error rows. */
export interface CalibratorBehaviour {
  /** getBatch awaits a timer before answering (an async data source). */
  readonly async?: boolean;
  /** At this batch index getBatch throws `error` (sync) ... */
  readonly throwAt?: number;
  /** ... or returns a rejected promise with `error`. */
  readonly rejectAt?: number;
  /** At this batch index getBatch returns a batch of the wrong shape. */
  readonly badShapeAt?: number;
  readonly error?: Error;
  /** Called before each getBatch answer (counting calls, aborting mid-calibration). */
  readonly onGetBatch?: (ctx: BatchContext) => void;
  /** Stop after this many batches (default: all 1,024 images / 32). */
  readonly batches?: number;
}

/** A calibrator of the given algorithm class over the calibration images, in full batches of 32. */
export function fashionCalibrator(kind: CalibratorKind, images: Float32Array, options: CalibratorOptions = {}, behaviour: CalibratorBehaviour = {}): Calibrator {
  const total = Math.floor(images.length / IMAGE_SIZE / CALIBRATION_BATCH);
  const batches = Math.min(total, behaviour.batches ?? total);
  const Base = CALIBRATOR_CLASSES[kind];
  class FashionCalibrator extends Base {
    override getBatch(ctx: BatchContext): Batch | null | Promise<Batch | null> {
      behaviour.onGetBatch?.(ctx);
      const i = ctx.batchIndex;
      if (i === behaviour.throwAt) throw behaviour.error ?? new Error(`getBatch failed on purpose at batch ${i}`);
      if (i === behaviour.rejectAt) return Promise.reject(behaviour.error ?? new Error(`getBatch rejected on purpose at batch ${i}`));
      // TensorRT 10 calibrates at the calibration profile's OPT shape: full batches only.
      const batch: Batch | null =
        i >= batches
          ? null
          : i === behaviour.badShapeAt
            ? { input: { data: images.subarray(0, CALIBRATION_BATCH * IMAGE_SIZE), shape: [CALIBRATION_BATCH, 1, 14, 56] } }
            : { input: { data: images.subarray(i * CALIBRATION_BATCH * IMAGE_SIZE, (i + 1) * CALIBRATION_BATCH * IMAGE_SIZE), shape: [CALIBRATION_BATCH, 1, 28, 28] } };
      return behaviour.async ? sleep(2).then(() => batch) : batch;
    }
  }
  return new FashionCalibrator({ batchCount: batches, ...options });
}

/** The predicted class of every test image, EVAL_BATCH at a time. */
export async function predictAll(engine: Engine, split: FashionMnistSplit): Promise<Uint32Array> {
  const input = engine.inputs[0]!.name;
  const output = engine.outputs[0]!.name;
  const predictions = new Uint32Array(split.count);
  for (let start = 0; start < split.count; start += EVAL_BATCH) {
    const n = Math.min(EVAL_BATCH, split.count - start);
    const { outputs } = await engine.infer({ [input]: { data: split.images.subarray(start * IMAGE_SIZE, (start + n) * IMAGE_SIZE), shape: [n, 1, 28, 28] } });
    predictions.set(argmaxRows(outputs[output]!.data as Float32Array, 10), start);
  }
  return predictions;
}

export function accuracy(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct++;
  return correct / labels.length;
}

/** Median / p90 GPU time per batch (CUDA events in engine.infer) for batches of 1, 32 and 256. */
export async function fashionLatency(engine: Engine, images: Float32Array, batches: readonly number[] = [1, 32, 256]): Promise<Record<string, LatencySummary>> {
  const out: Record<string, LatencySummary> = {};
  for (const n of batches) {
    const { gpuMs } = await engine.infer({ [engine.inputs[0]!.name]: { data: images.subarray(0, n * IMAGE_SIZE), shape: [n, 1, 28, 28] } }, { warmup: 20, repeat: 100 });
    out[`batch${n}`] = summarizeLatency(gpuMs);
  }
  return out;
}
