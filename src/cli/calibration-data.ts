/** The calibrator a command reads --data through (shared by `calibrate` and `build`): images with --image-size, NumPy arrays otherwise. */
import type { AlgorithmKind } from '../core/algorithm.js';
import type { NonFinitePolicy } from '../core/batch.js';
import type { InputSpec } from '../core/tensor.js';
import type { Remainder } from '../data/dataset.js';
import { calibratorFromBatches } from '../calibrators/index.js';
import type { Calibrator } from '../calibrators/calibrator.js';
import { openNpyDataset } from '../data/npy-dataset.js';
import { ImageCalibrator } from '../images/image-calibrator.js';
import { describeReport, type ImageOptions } from './images.js';
import type { CliIO } from './io.js';

export interface CalibrationDataPlan {
  readonly data: string;
  /** undefined: the library's default. */
  readonly algorithm?: AlgorithmKind;
  readonly percentile?: number;
  readonly batchSize: number;
  readonly limit?: number;
  readonly nonFinite?: NonFinitePolicy;
}

export interface OpenedCalibrator {
  readonly calibrator: Calibrator;
  /** Tells what the data gave (images used and skipped, samples dropped); call after calibration. */
  readonly describe: () => void;
}

export interface OpenCalibratorOptions {
  readonly images?: ImageOptions;
  readonly cachePath?: string;
  readonly remainder: Remainder;
}

function algorithmInput(plan: CalibrationDataPlan) {
  if (plan.algorithm === undefined) return undefined;
  return plan.algorithm === 'percentile' ? { kind: 'percentile' as const, percentile: plan.percentile } : plan.algorithm;
}

export async function openCalibrator(plan: CalibrationDataPlan, inputs: readonly InputSpec[], io: CliIO, options: OpenCalibratorOptions): Promise<OpenedCalibrator> {
  const { images, cachePath, remainder } = options;
  const common = {
    ...(cachePath ? { cachePath } : {}),
    ...(plan.nonFinite ? { nonFinite: plan.nonFinite } : {}),
    onWarning: (w: { message: string }) => io.stderr(`warning: ${w.message}`),
  };
  if (images) {
    const calibrator = await ImageCalibrator.create({
      data: plan.data,
      preprocess: images.preprocess,
      batchSize: plan.batchSize,
      remainder,
      ...(plan.algorithm ? { algorithm: algorithmInput(plan) } : {}),
      strict: images.strict,
      ...(images.seed !== undefined ? { shuffle: { seed: images.seed } } : {}),
      ...(plan.limit ? { limit: plan.limit } : {}),
      ...common,
    });
    return { calibrator, describe: () => describeReport(calibrator.report, io) };
  }
  const dataset = await openNpyDataset(plan.data, { inputs, batchSize: plan.batchSize, limit: plan.limit });
  const calibrator = calibratorFromBatches(dataset, { algorithm: algorithmInput(plan), batchCount: dataset.batchCount, ...common });
  const describe = () => {
    if (dataset.droppedSamples > 0) io.stderr(`note: the model's batch size is fixed, so the last ${dataset.droppedSamples} sample(s) (less than one batch) were not used.`);
  };
  return { calibrator, describe };
}

/** A calibrator with no data that only reads `cachePath` (TensorRT takes the ranges from the cache). */
export function cacheOnlyCalibrator(algorithm: AlgorithmKind | undefined, cachePath: string): Calibrator {
  return calibratorFromBatches([], { ...(algorithm ? { algorithm } : {}), cachePath, batchCount: 0 });
}
