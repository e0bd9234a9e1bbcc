/**
 * ImageCalibrator: a dataset of image files + the preprocessor used at inference + an algorithm, as a
 * Calibrator that calibrate() and the TensorRT back end both take. Images are decoded one at a time as
 * TensorRT (or calibrate()) asks for batches.
 */
import { TrtInt8Error } from '../core/errors.js';
import { Calibrator, type CalibratorOptions } from '../calibrators/calibrator.js';
import { calibratorFromBatches } from '../calibrators/from-batches.js';
import type { AlgorithmInput } from '../core/algorithm.js';
import type { Batch, BatchContext } from '../core/batch.js';
import { openDataset, type Dataset, type DatasetOptions, type DatasetReport, type DatasetSource, type Remainder } from '../data/dataset.js';
import { createImagePreprocessor, type ImagePreprocessor, type ImagePreprocessorOptions } from './preprocess.js';

export interface ImageCalibratorOptions extends CalibratorOptions, Omit<DatasetOptions, 'decodeFile'> {
  /** A folder of images, a list file, or an (async) iterable of image paths. */
  readonly data: DatasetSource;
  /** The preprocessor used at inference (preferred), or its options. */
  readonly preprocess: ImagePreprocessor | ImagePreprocessorOptions;
  /** Default 'auto' (per tensor, the range of least quantization error). */
  readonly algorithm?: AlgorithmInput;
  readonly batchSize: number;
  /** Default 'drop' (TensorRT calibrates on full batches); see BatchOptions.remainder. */
  readonly remainder?: Remainder;
  /** The model input to feed (default: the first input). */
  readonly inputName?: string;
}

export class ImageCalibrator extends Calibrator {
  readonly dataset: Dataset;
  readonly preprocess: ImagePreprocessor;
  readonly batchSize: number;
  readonly remainder: Remainder;
  readonly #inputName: string | undefined;
  /** The dataset's batches as a calibratorFromBatches: it iterates, stops on abort and closes. */
  readonly #batches: Calibrator;
  /** Fixed by the first getBatch, which is the first time the model's inputs are known. */
  #batchOptions: { inputName: string; signal: AbortSignal } | undefined;

  /** Use ImageCalibrator.create (opening the dataset lists files, which is asynchronous). */
  private constructor(options: ImageCalibratorOptions, dataset: Dataset, preprocess: ImagePreprocessor, batchCount: number | undefined) {
    const { cachePath, nonFinite, onWarning } = options;
    super(options.algorithm ?? 'auto', { cachePath, nonFinite, onWarning, ...(batchCount ? { batchCount } : {}) });
    this.dataset = dataset;
    this.preprocess = preprocess;
    this.batchSize = options.batchSize;
    this.remainder = options.remainder ?? 'drop';
    this.#inputName = options.inputName;
    // The iterable is only iterated on the first getBatch, after #batchOptions is set.
    const batches: AsyncIterable<Batch> = {
      [Symbol.asyncIterator]: () => dataset.batches({ batchSize: this.batchSize, remainder: this.remainder, ...this.#batchOptions! }),
    };
    this.#batches = calibratorFromBatches(batches, { algorithm: this.algorithm });
  }

  /** Opens the dataset (lists the files; a missing or empty source fails here) and builds the calibrator. */
  static async create(options: ImageCalibratorOptions): Promise<ImageCalibrator> {
    if (options === null || typeof options !== 'object') {
      throw new TrtInt8Error('ERR_BAD_OPTION', 'ImageCalibrator needs an options object.', { input: 'options', expected: '{ data, preprocess, batchSize, ... }', actual: options });
    }
    const { data, batchSize, remainder = 'drop', extensions, shuffle, limit, strict } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new TrtInt8Error('ERR_BAD_OPTION', 'Invalid ImageCalibrator option batchSize.', { input: 'batchSize', expected: 'an integer >= 1', actual: batchSize });
    }
    if (!['drop', 'pad-last', 'keep'].includes(remainder)) {
      throw new TrtInt8Error('ERR_BAD_OPTION', 'Invalid ImageCalibrator option remainder.', { input: 'remainder', expected: 'drop | pad-last | keep', actual: remainder });
    }
    const preprocess = typeof options.preprocess === 'function' ? options.preprocess : createImagePreprocessor(options.preprocess);
    const dataset = await openDataset(data, { decodeFile: preprocess, extensions, shuffle, limit, strict });
    const count = dataset.batchCount(batchSize, remainder);
    if (count === 0) {
      throw new TrtInt8Error('ERR_EMPTY_DATASET', `The dataset ${dataset.source} has ${dataset.size} image(s), fewer than one batch of ${batchSize}.`, {
        input: dataset.source,
        expected: `at least ${batchSize} images`,
        actual: dataset.size,
        fixes: ['Use a smaller batchSize.', "Or remainder: 'pad-last'."],
      });
    }
    return new ImageCalibrator(options, dataset, preprocess, count);
  }

  /** What the latest calibration pass used and skipped (final once getBatch returned null). */
  get report(): DatasetReport {
    return this.dataset.report;
  }

  async getBatch(ctx: BatchContext): Promise<Batch | null> {
    this.#batchOptions ??= { inputName: this.#modelInputName(ctx), signal: ctx.signal };
    return this.#batches.getBatch(ctx);
  }

  override async close(): Promise<void> {
    await this.#batches.close();
  }

  /** The input the images feed: the inputName option (checked against the model), else the model's first input. */
  #modelInputName(ctx: BatchContext): string {
    const inputName = this.#inputName ?? ctx.inputs[0]?.name;
    if (inputName === undefined || (this.#inputName !== undefined && !ctx.inputs.some((i) => i.name === inputName))) {
      throw new TrtInt8Error('ERR_BAD_OPTION', `ImageCalibrator: the model has no input ${inputName === undefined ? '' : `"${inputName}"`}.`, {
        input: 'inputName',
        expected: ctx.inputs.map((i) => i.name),
        actual: inputName,
      });
    }
    return inputName;
  }
}

/** ImageCalibrator.create, as a function. */
export function createImageCalibrator(options: ImageCalibratorOptions): Promise<ImageCalibrator> {
  return ImageCalibrator.create(options);
}
