/**
 * `trt-int8 evaluate <float.onnx> <int8.onnx> --data ...`: how far the quantized model is from the float
 * one (top-1 agreement, accuracy with --labels, output and per-layer cosine/SQNR), with onnxruntime on CPU.
 */
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../core/files.js';
import { OnnxModel } from '../onnx/index.js';
import { evaluate, type EvaluationResult } from '../calibrate/evaluate.js';
import { openNpyDataset, readLabels } from '../data/npy-dataset.js';
import { openDataset } from '../data/dataset.js';
import { createImagePreprocessor } from '../images/preprocess.js';
import {
  IMAGE_FLAGS,
  IMAGE_USAGE,
  UsageError,
  abortOnSigint,
  describeReport,
  imageOptionsFromFlags,
  positiveInteger,
  progressReporter,
  remainderFor,
  reportError,
  type ProgressStream,
} from './calibrate.js';
import type { CliIO } from './doctor.js';

export const EVALUATE_USAGE = `Usage: trt-int8 evaluate <float.onnx> <quantized.onnx> --data <file.npy|file.npz|list.txt|dir> [options]

Options:
  --labels <labels.npy>   class index per sample: reports float and quantized accuracy
  --output <name>         the classification output for top-1 (default: the first output)
  --batch <n>             samples per batch (default 32)
  --limit <n>             use at most n samples
  --layers <n>            how many worst layers to list (default 10)
  --max-output-mb <n>     memory bound: at most n MiB of activations per onnxruntime run
  --json <file>           write the full result as JSON

${IMAGE_USAGE}`;

function formatSqnr(sqnr: number): string {
  return Number.isFinite(sqnr) ? `${sqnr.toFixed(2)} dB` : sqnr > 0 ? 'identical' : `${sqnr} dB`;
}

export function formatEvaluation(result: EvaluationResult, layers = 10): string {
  const lines = [`samples: ${result.samples}`, `top-1 agreement: ${(result.top1Agreement * 100).toFixed(2)}%`];
  if (result.accuracy) {
    const { float, quantized, drop } = result.accuracy;
    lines.push(`accuracy: float ${(float * 100).toFixed(2)}%, quantized ${(quantized * 100).toFixed(2)}%, drop ${(drop * 100).toFixed(2)} points`);
  }
  for (const o of result.outputs) lines.push(`output ${o.name}: cosine ${o.cosine.toFixed(6)}, SQNR ${formatSqnr(o.sqnr)}`);
  if (result.worstLayers.length > 0) {
    lines.push(`worst layers (lowest SQNR first):`);
    for (const l of result.worstLayers.slice(0, layers)) lines.push(`  ${formatSqnr(l.sqnr).padStart(12)}  cosine ${l.cosine.toFixed(6)}  ${l.tensor}`);
  }
  return lines.join('\n');
}

/** Runs `trt-int8 evaluate` with `argv` (the arguments after "evaluate"). Resolves to the exit code. */
export async function runEvaluateCommand(argv: readonly string[], io: CliIO, progressStream: ProgressStream = process.stderr): Promise<number> {
  const interrupt = abortOnSigint();
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: [...argv],
        allowPositionals: true,
        options: {
          data: { type: 'string' },
          labels: { type: 'string' },
          output: { type: 'string' },
          batch: { type: 'string', default: '32' },
          limit: { type: 'string' },
          layers: { type: 'string', default: '10' },
          'max-output-mb': { type: 'string' },
          json: { type: 'string' },
          ...IMAGE_FLAGS,
          help: { type: 'boolean', short: 'h', default: false },
        },
      });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const { values, positionals } = parsed;
    if (values.help) {
      io.stdout(EVALUATE_USAGE);
      return 0;
    }
    if (positionals.length !== 2) throw new UsageError(`expected the float and the quantized model paths, got ${positionals.length} path(s).`);
    if (!values.data) throw new UsageError('--data is required.');
    const batchSize = positiveInteger(values.batch, '--batch')!;
    const limit = positiveInteger(values.limit, '--limit');
    const layers = positiveInteger(values.layers, '--layers')!;
    const maxOutputMb = positiveInteger(values['max-output-mb'], '--max-output-mb');

    const [floatModel, quantizedModel] = await Promise.all([OnnxModel.load(positionals[0]!), OnnxModel.load(positionals[1]!)]);
    const images = imageOptionsFromFlags(values);
    const inputs = floatModel.inputs();
    let imageDataset: Awaited<ReturnType<typeof openDataset>> | undefined;
    if (images) {
      imageDataset = await openDataset(values.data, {
        decodeFile: createImagePreprocessor(images.preprocess),
        strict: images.strict,
        ...(images.seed !== undefined ? { shuffle: { seed: images.seed } } : {}),
        ...(limit ? { limit } : {}),
      });
    }
    const dataset = imageDataset
      ? { [Symbol.asyncIterator]: () => imageDataset!.batches({ batchSize, remainder: remainderFor(inputs), inputName: inputs[0]!.name, signal: interrupt.signal }) }
      : await openNpyDataset(values.data, { inputs, batchSize, limit });
    const labels = values.labels ? await readLabels(values.labels) : undefined;
    const progress = progressReporter(io, progressStream, 'evaluate');
    let result;
    try {
      result = await evaluate(floatModel, quantizedModel, dataset, {
        signal: interrupt.signal,
        onProgress: (p) => progress.update(p),
        ...(labels ? { labels } : {}),
        ...(values.output ? { outputName: values.output } : {}),
        ...(maxOutputMb ? { maxOutputBytesPerRun: maxOutputMb * 1024 * 1024 } : {}),
      });
    } finally {
      progress.done();
    }
    if (imageDataset) describeReport(imageDataset.report, io);
    io.stdout(formatEvaluation(result, layers));
    if (values.json) {
      // JSON has no Infinity: identical tensors get sqnr null.
      await writeFileAtomic(values.json, `${JSON.stringify(result, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
      io.stdout(`wrote ${values.json}`);
    }
    return 0;
  } catch (error) {
    return reportError(error, io, EVALUATE_USAGE);
  } finally {
    interrupt.dispose();
  }
}
