/**
 * `trt-int8 calibrate <model.onnx> --data <npy|npz|list|dir> ...`: calibrates with the CPU statistics
 * engine (onnxruntime runs the model) and writes a TensorRT cache, a Q/DQ model and/or a JSON report.
 */
import { parseArgs } from 'node:util';
import { TrtInt8Error } from '../core/errors.js';
import { ALGORITHM_KINDS } from '../core/algorithm.js';
import { calibratorFromBatches } from '../calibrators/index.js';
import type { AlgorithmKind } from '../core/algorithm.js';
import { writeFileAtomic } from '../core/files.js';
import { OnnxModel } from '../onnx/index.js';
import { calibrate } from '../calibrate/calibrate.js';
import { DEFAULT_TENSORRT_VERSION } from '../calibrate/result.js';
import { openNpyDataset } from '../data/npy-dataset.js';
import type { InputSpec } from '../core/tensor.js';
import type { DatasetReport, Remainder } from '../data/dataset.js';
import { ImageCalibrator } from '../images/image-calibrator.js';
import type { ImagePreprocessorOptions } from '../images/preprocess.js';
import type { CalibrationProgress } from '../calibrate/progress.js';

import type { CliIO } from './doctor.js';

/** Where the in-place progress bar is drawn when it is a terminal (process.stderr by default). */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

/** The image flags shared by `calibrate` and `evaluate`. */
export const IMAGE_USAGE = `Images (--data is a folder of .png/.jpg/.jpeg, recursive, or a list file of them):
  --image-size <WxH>      turns image mode on: decode, resize to W x H, normalise
  --resize <mode>         stretch (default), letterbox, center-crop
  --channels <order>      rgb (default), bgr, gray
  --layout <layout>       nchw (default), nhwc
  --scale <s>             pixel multiplier (default 1/255; accepts a fraction like 1/127.5)
  --mean <m[,m,m]>        subtracted after scaling (default 0), one value or one per channel
  --std <s[,s,s]>         divides after the mean (default 1)
  --decoder <name>        js (default: jpeg-js + pngjs) or sharp (faster; npm install sharp)
  --seed <n>              shuffle the images with this seed (default: file order)
  --strict                fail on the first unreadable or non-image file instead of skipping it
`;

export const IMAGE_FLAGS = {
  'image-size': { type: 'string' },
  resize: { type: 'string' },
  channels: { type: 'string' },
  layout: { type: 'string' },
  scale: { type: 'string' },
  mean: { type: 'string' },
  std: { type: 'string' },
  seed: { type: 'string' },
  decoder: { type: 'string' },
  strict: { type: 'boolean', default: false },
} as const;

function numberFlag(value: string, flag: string): number {
  const fraction = /^\s*(-?[\d.e+-]+)\s*\/\s*([\d.e+-]+)\s*$/i.exec(value);
  const n = fraction ? Number(fraction[1]) / Number(fraction[2]) : value.trim() === '' ? Number.NaN : Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`${flag} needs a number, got "${value}".`);
  return n;
}

export interface ImageFlagValues {
  readonly 'image-size'?: string;
  readonly resize?: string;
  readonly channels?: string;
  readonly layout?: string;
  readonly scale?: string;
  readonly mean?: string;
  readonly std?: string;
  readonly seed?: string;
  readonly decoder?: string;
  readonly strict?: boolean;
}

/** The preprocessor options of the image flags, or undefined without --image-size (NumPy data). */
export function imageOptionsFromFlags(values: ImageFlagValues): { preprocess: ImagePreprocessorOptions; seed?: number; strict: boolean } | undefined {
  const size = values['image-size'];
  const imageOnly = (['resize', 'channels', 'layout', 'scale', 'mean', 'std', 'seed', 'decoder'] as const).filter((k) => values[k] !== undefined);
  if (size === undefined) {
    if (imageOnly.length > 0 || values.strict) throw new UsageError(`--${imageOnly[0] ?? 'strict'} only applies to images: add --image-size WxH.`);
    return undefined;
  }
  const match = /^(\d+)x(\d+)$/i.exec(size.trim());
  if (!match) throw new UsageError(`--image-size needs WIDTHxHEIGHT, e.g. 224x224, got "${size}".`);
  const list = (v: string | undefined, flag: string) => (v === undefined ? undefined : v.split(',').map((x) => numberFlag(x, flag)));
  const mean = list(values.mean, '--mean');
  const std = list(values.std, '--std');
  let seed: number | undefined;
  if (values.seed !== undefined) {
    if (!/^\d+$/.test(values.seed)) throw new UsageError(`--seed needs a non-negative integer, got "${values.seed}".`);
    seed = Number(values.seed);
  }
  const preprocess: ImagePreprocessorOptions = {
    width: Number(match[1]),
    height: Number(match[2]),
    ...(values.resize !== undefined ? { resize: values.resize as ImagePreprocessorOptions['resize'] } : {}),
    ...(values.channels !== undefined ? { channels: values.channels as ImagePreprocessorOptions['channels'] } : {}),
    ...(values.layout !== undefined ? { layout: values.layout as ImagePreprocessorOptions['layout'] } : {}),
    ...(values.decoder !== undefined ? { decoder: values.decoder as ImagePreprocessorOptions['decoder'] } : {}),
    ...(values.scale !== undefined ? { scale: numberFlag(values.scale, '--scale') } : {}),
    ...(mean ? { mean: mean.length === 1 ? mean[0]! : mean } : {}),
    ...(std ? { std: std.length === 1 ? std[0]! : std } : {}),
  };
  return { preprocess, ...(seed !== undefined ? { seed } : {}), strict: Boolean(values.strict) };
}

/** A model with a fixed batch dimension needs full batches; a dynamic one takes a short last batch. */
export function remainderFor(inputs: readonly InputSpec[]): Remainder {
  return inputs.some((i) => (i.shape[0] ?? -1) > 0) ? 'drop' : 'keep';
}

export function describeReport(report: DatasetReport, io: CliIO): void {
  const parts = [`${report.used} image(s) used`];
  if (report.padded) parts.push(`${report.padded} padding copies`);
  if (report.dropped) parts.push(`${report.dropped} dropped (less than one batch)`);
  if (report.skipped.length) parts.push(`${report.skipped.length} skipped`);
  io.stderr(`data: ${parts.join(', ')}.`);
  for (const s of report.skipped.slice(0, 10)) io.stderr(`  skipped ${s.path}: ${s.reason}`);
  if (report.skipped.length > 10) io.stderr(`  ... and ${report.skipped.length - 10} more`);
}

export const CALIBRATE_USAGE = `Usage: trt-int8 calibrate <model.onnx> --data <file.npy|file.npz|list.txt|dir> [options]

Runs the model on the data with onnxruntime (CPU), picks each activation's INT8 range and writes:
  --cache <file>          TensorRT calibration cache (TensorRT 10 implicit INT8)
  --qdq <file>            Q/DQ ONNX model (TensorRT explicit INT8, 10.x and 11.x)
  --json <file>           ranges, histograms and timings as JSON

Options:
  --algorithm <name>      entropy2 (default), entropy, minmax, legacy, percentile
  --percentile <p>        percentile of |x| for --algorithm percentile (default 99.99)
  --batch <n>             samples per batch (default 32)
  --limit <n>             use at most n samples
  --trt-version <x.y.z>   TensorRT version in the cache header (default ${DEFAULT_TENSORRT_VERSION})
  --exclude <names>       comma-separated node names to keep in FP32
  --max-output-mb <n>     memory bound: at most n MiB of activations per onnxruntime run
  --cuda                  run the model with onnxruntime's CUDA provider

--data: a .npy (single-input models), a .npz with one array per input name, a folder of them, or a
text file listing them; each holds samples along the first dimension (or one sample).

${IMAGE_USAGE}`;

/** Thrown for command-line mistakes: exit code 2 and the usage text. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`${flag} needs a positive integer, got "${value}".`);
  return Number(value);
}

/** A progress bar on a TTY (redrawn in place), or plain lines on io.stderr at most once a second otherwise. */
export function progressReporter(io: CliIO, stream: ProgressStream, label: string): { update(p: CalibrationProgress): void; done(): void } {
  const tty = Boolean(stream.isTTY);
  let lastPlain = 0;
  let drawn = false;
  let pending: CalibrationProgress | undefined;
  const describe = (p: CalibrationProgress) => {
    const rate = `${p.samplesPerSecond.toFixed(1)} samples/s`;
    const eta = p.etaSeconds === undefined ? '' : `  ETA ${Math.ceil(p.etaSeconds)}s`;
    const of = p.batchCount === undefined ? `${p.batchesDone}` : `${p.batchesDone}/${p.batchCount}`;
    return `${label}: batch ${of}, ${p.samplesDone} samples, ${rate}${eta}`;
  };
  return {
    update(p) {
      if (tty) {
        const width = 24;
        const bar =
          p.batchCount === undefined ? '' : `[${'#'.repeat(Math.round((Math.min(p.batchesDone, p.batchCount) / p.batchCount) * width)).padEnd(width, '.')}] `;
        stream.write(`\r\x1b[2K${bar}${describe(p)}`);
        drawn = true;
      } else {
        const now = Date.now();
        if (now - lastPlain >= 1000 || p.batchesDone === p.batchCount) {
          io.stderr(describe(p));
          lastPlain = now;
          pending = undefined;
        } else {
          pending = p;
        }
      }
    },
    done() {
      if (tty && drawn) stream.write('\n');
      // Plain output always ends with the final count, even when it fell inside the one-second throttle.
      if (!tty && pending) io.stderr(describe(pending));
    },
  };
}

/** Prints a TrtInt8Error (message with expected/actual and fixes) or any other error; returns the exit code. */
export function reportError(error: unknown, io: CliIO, usage: string): number {
  if (error instanceof UsageError) {
    io.stderr(`error: ${error.message}\n\n${usage}`);
    return 2;
  }
  if (error instanceof TrtInt8Error) {
    io.stderr(`error [${error.code}]: ${error.message}`);
    return error.code === 'ABORT_ERR' ? 130 : 1;
  }
  io.stderr(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return 1;
}

/** Ctrl-C aborts the run cleanly (the partial outputs are never written) instead of killing it mid-write. */
export function abortOnSigint(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSigint = () => controller.abort(new TrtInt8Error('ABORT_ERR', 'Interrupted (Ctrl-C).'));
  process.once('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.removeListener('SIGINT', onSigint) };
}

/** Runs `trt-int8 calibrate` with `argv` (the arguments after "calibrate"). Resolves to the exit code. */
export async function runCalibrateCommand(argv: readonly string[], io: CliIO, progressStream: ProgressStream = process.stderr): Promise<number> {
  const interrupt = abortOnSigint();
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: [...argv],
        allowPositionals: true,
        options: {
          data: { type: 'string' },
          algorithm: { type: 'string', default: 'entropy2' },
          percentile: { type: 'string' },
          batch: { type: 'string', default: '32' },
          limit: { type: 'string' },
          cache: { type: 'string' },
          qdq: { type: 'string' },
          json: { type: 'string' },
          'trt-version': { type: 'string', default: DEFAULT_TENSORRT_VERSION },
          exclude: { type: 'string' },
          'max-output-mb': { type: 'string' },
          cuda: { type: 'boolean', default: false },
          ...IMAGE_FLAGS,
          help: { type: 'boolean', short: 'h', default: false },
        },
      });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const { values, positionals } = parsed;
    if (values.help) {
      io.stdout(CALIBRATE_USAGE);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`expected one model path, got ${positionals.length}.`);
    if (!values.data) throw new UsageError('--data is required.');
    const algorithm = values.algorithm as AlgorithmKind;
    if (!ALGORITHM_KINDS.includes(algorithm)) throw new UsageError(`--algorithm must be one of ${ALGORITHM_KINDS.join(', ')}, got "${values.algorithm}".`);
    let percentile: number | undefined;
    if (values.percentile !== undefined) {
      if (algorithm !== 'percentile') throw new UsageError('--percentile only applies to --algorithm percentile.');
      percentile = Number(values.percentile);
      if (!Number.isFinite(percentile)) throw new UsageError(`--percentile needs a number, got "${values.percentile}".`);
    }
    const batchSize = positiveInteger(values.batch, '--batch')!;
    const limit = positiveInteger(values.limit, '--limit');
    const maxOutputMb = positiveInteger(values['max-output-mb'], '--max-output-mb');
    const exclude = values.exclude ? { names: values.exclude.split(',').map((s) => s.trim()).filter(Boolean) } : undefined;

    const images = imageOptionsFromFlags(values);

    const model = await OnnxModel.load(positionals[0]!);
    const algorithmInput = algorithm === 'percentile' ? { kind: 'percentile' as const, percentile } : algorithm;
    let dataset: Awaited<ReturnType<typeof openNpyDataset>> | undefined;
    let imageCalibrator: ImageCalibrator | undefined;
    if (images) {
      imageCalibrator = await ImageCalibrator.create({
        data: values.data,
        preprocess: images.preprocess,
        batchSize,
        remainder: remainderFor(model.inputs()),
        algorithm: algorithmInput,
        strict: images.strict,
        ...(images.seed !== undefined ? { shuffle: { seed: images.seed } } : {}),
        ...(limit ? { limit } : {}),
      });
    } else {
      dataset = await openNpyDataset(values.data, { inputs: model.inputs(), batchSize, limit });
    }
    const calibrator = imageCalibrator ?? calibratorFromBatches(dataset!, { algorithm, percentile, batchCount: dataset!.batchCount });
    const progress = progressReporter(io, progressStream, 'calibrate');
    let result;
    try {
      result = await calibrate(model, calibrator, {
        signal: interrupt.signal,
        onProgress: (p) => progress.update(p),
        tensorRTVersion: values['trt-version'],
        executionProviders: values.cuda ? ['cuda', 'cpu'] : ['cpu'],
        ...(exclude ? { exclude } : {}),
        ...(maxOutputMb ? { maxOutputBytesPerRun: maxOutputMb * 1024 * 1024 } : {}),
      });
    } finally {
      progress.done();
    }
    if (imageCalibrator) describeReport(imageCalibrator.report, io);
    if (dataset && dataset.droppedSamples > 0) {
      io.stderr(`note: the model's batch size is fixed, so the last ${dataset.droppedSamples} sample(s) (less than one batch) were not used.`);
    }
    const { summary } = result;
    io.stdout(
      `Calibrated ${result.tensors.size} tensors (${result.algorithm.kind}) on ${summary.samples} samples in ${summary.batches} batches, ` +
        `${summary.seconds.toFixed(2)} s (${summary.samplesPerSecond.toFixed(1)} samples/s).`,
    );
    if (values.cache) {
      await result.writeCache(values.cache, values['trt-version']);
      io.stdout(`wrote ${values.cache}`);
    }
    if (values.qdq) {
      await result.writeQdqModel(values.qdq);
      io.stdout(`wrote ${values.qdq}`);
    }
    if (values.json) {
      await writeFileAtomic(values.json, `${JSON.stringify(result, null, 2)}\n`);
      io.stdout(`wrote ${values.json}`);
    }
    return 0;
  } catch (error) {
    return reportError(error, io, CALIBRATE_USAGE);
  } finally {
    interrupt.dispose();
  }
}
