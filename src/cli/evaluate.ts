/**
 * `trt-int8 evaluate <float.onnx> <int8.onnx> --data ...`: how far the quantized model is from the float
 * one (top-1 agreement, accuracy with --labels, output and per-layer cosine/SQNR), with onnxruntime on CPU.
 */
import { writeFileAtomic } from '../core/files.js';
import { TrtInt8Error } from '../core/errors.js';
import type { Batch } from '../core/batch.js';
import { OnnxModel } from '../onnx/index.js';
import { evaluate, type EvaluationResult } from '../calibrate/evaluate.js';
import { openNpyDataset, readLabels } from '../data/npy-dataset.js';
import { openDataset } from '../data/dataset.js';
import { createImagePreprocessor } from '../images/preprocess.js';
import { UsageError, requireExisting, parseFlags, positiveInteger } from './args.js';
import { IMAGE_FLAGS, IMAGE_USAGE, checkChannelsMatchModel, checkDataMatchesFlags, describeReport, imageOptionsFromFlags, remainderFor, type ImageOptions } from './images.js';
import { EXIT_OK, progressReporter, runCommand, withTotal, type CliIO, type ProgressStream } from './io.js';
import { checkOutputs, plannedOutputs } from './outputs.js';

export const EVALUATE_USAGE = `Usage: trt-int8 evaluate <float.onnx> <quantized.onnx> --data <file.npy|file.npz|list.txt|dir> [options]

Options:
  --labels <labels.npy>   class index per sample: reports float and quantized accuracy
  --output <name>         the classification output for top-1 (default: the first output)
  --batch <n>             samples per batch (default 32)
  --limit <n>             use at most n samples
  --layers <n>            how many worst layers to list (default 10)
  --max-output-mb <n>     memory bound: at most n MiB of activations per onnxruntime run
  --json <file>           write the full result as JSON (checked before the work, written at the end)
  --cuda                  run the models with onnxruntime's CUDA provider
  --cpu                   run the models on the CPU only (the default)

Exit codes: 0 done, 1 failed, 2 command-line mistake, 130 interrupted.

${IMAGE_USAGE}`;

const EVALUATE_FLAGS = {
  data: { type: 'string' },
  labels: { type: 'string' },
  output: { type: 'string' },
  batch: { type: 'string', default: '32' },
  limit: { type: 'string' },
  layers: { type: 'string', default: '10' },
  'max-output-mb': { type: 'string' },
  json: { type: 'string' },
  cuda: { type: 'boolean', default: false },
  cpu: { type: 'boolean', default: false },
  ...IMAGE_FLAGS,
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type EvaluateValues = ReturnType<typeof parseFlags<typeof EVALUATE_FLAGS>>['values'];

interface EvaluatePlan {
  readonly floatPath: string;
  readonly quantizedPath: string;
  readonly data: string;
  readonly batchSize: number;
  readonly limit?: number;
  readonly layers: number;
  readonly maxOutputMb?: number;
  readonly values: EvaluateValues;
}

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

function planEvaluation(argv: readonly string[]): EvaluatePlan | undefined {
  const { values, positionals } = parseFlags(argv, EVALUATE_FLAGS);
  if (values.help) return undefined;
  if (positionals.length !== 2) {
    throw new UsageError(`expected the float and the quantized model paths, got ${positionals.length} path(s).`, { input: 'models', expected: 'two model paths', actual: positionals });
  }
  if (!values.data) throw new UsageError('--data is required.', { input: '--data', expected: 'a .npy/.npz file, a folder or a list file', actual: 'nothing' });
  if (values.cuda && values.cpu) throw new UsageError('--cuda and --cpu contradict each other; pass one.', { input: '--cpu', expected: 'one of --cuda, --cpu', actual: '--cuda --cpu' });
  const limit = positiveInteger(values.limit, '--limit');
  const maxOutputMb = positiveInteger(values['max-output-mb'], '--max-output-mb');
  return {
    floatPath: positionals[0]!,
    quantizedPath: positionals[1]!,
    data: values.data,
    batchSize: positiveInteger(values.batch, '--batch')!,
    layers: positiveInteger(values.layers, '--layers')!,
    ...(limit !== undefined ? { limit } : {}),
    ...(maxOutputMb !== undefined ? { maxOutputMb } : {}),
    values,
  };
}

/** The evaluation batches and, when known, how many there are (for the progress total and ETA). */
async function openEvaluationData(plan: EvaluatePlan, model: OnnxModel, images: ImageOptions | undefined, signal: AbortSignal) {
  const inputs = model.inputs();
  if (!images) {
    const dataset = await openNpyDataset(plan.data, { inputs, batchSize: plan.batchSize, limit: plan.limit });
    return { batches: dataset as AsyncIterable<Batch>, batchCount: dataset.batchCount, report: undefined };
  }
  const dataset = await openDataset(plan.data, {
    decodeFile: createImagePreprocessor(images.preprocess),
    strict: images.strict,
    ...(images.seed !== undefined ? { shuffle: { seed: images.seed } } : {}),
    ...(plan.limit ? { limit: plan.limit } : {}),
  });
  const remainder = remainderFor(inputs);
  const batches = { [Symbol.asyncIterator]: () => dataset.batches({ batchSize: plan.batchSize, remainder, inputName: inputs[0]!.name, signal }) };
  return { batches, batchCount: dataset.batchCount(plan.batchSize, remainder), report: () => dataset.report };
}

/** JSON has no Infinity: identical tensors get sqnr null. */
function evaluationJson(result: EvaluationResult): string {
  return `${JSON.stringify(result, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}

/** Runs `trt-int8 evaluate` with `argv` (the arguments after "evaluate"). Resolves to the exit code. */
export async function runEvaluateCommand(argv: readonly string[], io: CliIO, progressStream: ProgressStream = process.stderr): Promise<number> {
  return runCommand(io, EVALUATE_USAGE, async (signal) => {
    const plan = planEvaluation(argv);
    if (!plan) {
      io.stdout(EVALUATE_USAGE);
      return EXIT_OK;
    }
    const inputs = [
      { role: 'float model', file: plan.floatPath },
      { role: 'quantized model', file: plan.quantizedPath },
      { role: '--data', file: plan.data },
      ...(plan.values.labels ? [{ role: '--labels', file: plan.values.labels }] : []),
    ];
    for (const input of inputs) requireExisting(input.file, input.role);
    checkOutputs(plannedOutputs(plan.values, ['json']), inputs);
    const [floatModel, quantizedModel] = await Promise.all([OnnxModel.load(plan.floatPath), OnnxModel.load(plan.quantizedPath)]);
    const firstInput = floatModel.inputs()[0];
    await checkDataMatchesFlags(plan.data, plan.values, firstInput);
    const images = imageOptionsFromFlags(plan.values);
    if (images) checkChannelsMatchModel(images, firstInput);
    const data = await openEvaluationData(plan, floatModel, images, signal);
    const labels = plan.values.labels ? await readLabels(plan.values.labels) : undefined;
    const progress = progressReporter(io, progressStream, 'evaluate');
    let result;
    try {
      result = await evaluate(floatModel, quantizedModel, data.batches, {
        signal,
        onProgress: (p) => progress.update(withTotal(p, data.batchCount)),
        executionProviders: plan.values.cuda ? ['cuda', 'cpu'] : ['cpu'],
        ...(labels ? { labels } : {}),
        ...(plan.values.output ? { outputName: plan.values.output } : {}),
        ...(plan.maxOutputMb ? { maxOutputBytesPerRun: plan.maxOutputMb * 1024 * 1024 } : {}),
      });
    } catch (error) {
      // Labels on an output that is no class vector is a command-line mistake (exit 2), found before any batch ran.
      throw error instanceof TrtInt8Error && error.input === 'labels' && error.code === 'ERR_BAD_OPTION' ? UsageError.from(error) : error;
    } finally {
      progress.done();
    }
    if (data.report) describeReport(data.report(), io);
    io.stdout(formatEvaluation(result, plan.layers));
    if (plan.values.json) {
      await writeFileAtomic(plan.values.json, evaluationJson(result));
      io.stdout(`wrote ${plan.values.json}`);
    }
    return EXIT_OK;
  });
}
