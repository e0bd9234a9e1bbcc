/**
 * evaluate(): runs a float model and its quantized counterpart on the same data and measures how far
 * apart they are: top-1 agreement (and accuracy against labels), cosine similarity and SQNR of the
 * outputs, and of every intermediate tensor both models compute, worst first, to guide exclusions.
 */
import path from 'node:path';
import { TrtInt8Error, abortError, throwIfAborted } from '../core/errors.js';
import { validateBatch } from '../core/batch.js';
import type { Batch } from '../core/batch.js';
import type { InputSpec } from '../core/tensor.js';
import { writeFileAtomic } from '../core/files.js';
import { OnnxModel, type ValueSpec } from '../onnx/index.js';
import { createSession, loadOnnxRuntime, type OrtModule, type OrtSession, type OrtTensor } from './onnxruntime.js';
import { GroupedRunner, batchToFeeds, outputAsFloat32 } from './runner.js';
import { SignalAgreement, argmaxRows } from './metrics.js';
import { ProgressTracker, samplesInBatch, type CalibrationProgress } from './progress.js';
import { renderHistogramSvg } from './svg.js';
import { histogramsNotCollected, type CalibrationResult } from './result.js';
import type { ModelInput } from './calibrate.js';

export interface EvaluateOptions {
  /** Class index per sample, in data order; enables accuracy. */
  readonly labels?: ArrayLike<number>;
  /** The classification output used for top-1 (default: the first graph output). */
  readonly outputName?: string;
  readonly signal?: AbortSignal;
  readonly executionProviders?: readonly string[];
  /** Compare intermediate activations too (default true); false runs only the graph outputs. */
  readonly compareLayers?: boolean;
  /** Memory bound per onnxruntime run, as in calibrate(). */
  readonly maxOutputBytesPerRun?: number;
  readonly onProgress?: (progress: CalibrationProgress) => void;
}

export interface TensorAgreement {
  readonly tensor: string;
  /** Cosine similarity of quantized vs float values over all samples. */
  readonly cosine: number;
  /** Signal-to-quantization-noise ratio in dB (higher is better; Infinity when identical). */
  readonly sqnr: number;
}

export interface EvaluationResult {
  readonly samples: number;
  /** Fraction of samples where both models pick the same class. */
  readonly top1Agreement: number;
  readonly accuracy?: { readonly float: number; readonly quantized: number; readonly drop: number };
  readonly outputs: readonly { readonly name: string; readonly cosine: number; readonly sqnr: number }[];
  /** Intermediate tensors of both models, lowest SQNR first. */
  readonly worstLayers: readonly TensorAgreement[];
}

export type EvaluationData = Iterable<Batch> | AsyncIterable<Batch>;

async function loadModel(model: ModelInput, what: string): Promise<OnnxModel> {
  if (model instanceof OnnxModel) return model;
  if (typeof model === 'string' || model instanceof Uint8Array) return OnnxModel.load(model);
  throw new TrtInt8Error('ERR_BAD_OPTION', `evaluate: ${what} must be a path, bytes or an OnnxModel.`, { input: what, expected: 'string | Uint8Array | OnnxModel', actual: typeof model });
}

/** Tensors produced by nodes of both graphs (same name), excluding graph outputs and inputs. */
function sharedIntermediates(floatModel: OnnxModel, quantized: OnnxModel, exclude: ReadonlySet<string>): string[] {
  const produced = (m: OnnxModel) => new Set(m.nodes.flatMap((n) => n.outputs).filter((o) => o !== ''));
  const inQuantized = produced(quantized);
  const constants = new Set(floatModel.nodes.filter((n) => n.opType === 'Constant').flatMap((n) => n.outputs));
  return [...produced(floatModel)].filter((t) => inQuantized.has(t) && !exclude.has(t) && !constants.has(t));
}

function asyncIteratorOf(data: EvaluationData): AsyncIterator<Batch> | Iterator<Batch> {
  const source = data as Partial<AsyncIterable<Batch> & Iterable<Batch>>;
  if (typeof source?.[Symbol.asyncIterator] === 'function') return source[Symbol.asyncIterator]!();
  if (typeof source?.[Symbol.iterator] === 'function') return source[Symbol.iterator]!();
  throw new TrtInt8Error('ERR_BAD_OPTION', 'evaluate: data must be an Iterable or AsyncIterable of batches.', { input: 'data', expected: 'an array, generator or async iterable', actual: typeof data });
}

/** The two models and what is compared between them. */
interface Comparison {
  readonly reference: OnnxModel;
  readonly quantized: OnnxModel;
  readonly inputs: InputSpec[];
  /** Graph outputs of both models. */
  readonly outputs: string[];
  /** The output whose argmax is the prediction. */
  readonly top1Output: string;
  /** Intermediate tensors of both models. */
  readonly layers: string[];
}

async function planComparison(floatModel: ModelInput, quantizedModel: ModelInput, options: EvaluateOptions): Promise<Comparison> {
  const [reference, quantized] = await Promise.all([loadModel(floatModel, 'floatModel'), loadModel(quantizedModel, 'quantizedModel')]);
  const inputs: InputSpec[] = reference.inputs();
  const quantizedInputs = new Set(quantized.inputs().map((i) => i.name));
  const missingInput = inputs.find((i) => !quantizedInputs.has(i.name));
  if (missingInput) {
    throw new TrtInt8Error('ERR_BAD_MODEL', `The quantized model has no input "${missingInput.name}"; it is not a quantization of the float model.`, {
      input: quantized.displayName,
      expected: inputs.map((i) => i.name),
      actual: [...quantizedInputs],
    });
  }
  const outputNames = reference.outputs().map((o) => o.name);
  const quantizedOutputs = new Set(quantized.outputs().map((o) => o.name));
  const outputs = outputNames.filter((o) => quantizedOutputs.has(o));
  const top1Output = options.outputName ?? outputNames[0];
  if (top1Output === undefined || !outputs.includes(top1Output)) {
    throw new TrtInt8Error('ERR_BAD_OPTION', `evaluate: output "${top1Output}" is not an output of both models.`, {
      input: 'outputName',
      expected: outputs,
      actual: top1Output,
    });
  }
  if (options.labels !== undefined) checkClassOutput(reference.outputs().find((o) => o.name === top1Output)!);
  const layers = options.compareLayers === false ? [] : sharedIntermediates(reference, quantized, new Set(outputNames));
  return { reference, quantized, inputs, outputs, top1Output, layers };
}

/** [N, classes] with classes > 1 (extra dims of 1 allowed; a dynamic dim, < 0, counts as one that is not 1). */
export function isClassVectorShape(shape: readonly number[]): boolean {
  return shape.length >= 2 && shape.slice(1).filter((d) => d !== 1).length === 1;
}

/**
 * Labels score the argmax of a class vector, [N, classes] (extra dims of 1 allowed). An output with more than one
 * dim beyond the batch that is not 1 (a [N, 1, H, W] map), or with a single class, has no class to compare with a
 * label: accuracy would print 0 %, so it is refused (ERR_BAD_OPTION, input 'labels', with the output's shape).
 * A dynamic dim counts as one that is not 1 ([N, ?] passes, [N, ?, ?, ?] does not); an undeclared shape passes.
 */
export function checkClassOutput(output: ValueSpec): void {
  const shape = output.shape;
  if (shape === undefined || shape.length === 0) return;
  if (isClassVectorShape(shape)) return;
  const shown = `[${shape.map((d) => (d < 0 ? '?' : String(d))).join(', ')}]`;
  throw new TrtInt8Error('ERR_BAD_OPTION', `evaluate: labels need a class vector per sample, but the output "${output.name}" has shape ${shown}, which is not [N, classes]; accuracy cannot be measured on it.`, {
    input: 'labels',
    expected: 'an output of shape [N, classes]',
    actual: `"${output.name}" of shape ${shown}`,
    fixes: ['Drop the labels (top-1 agreement, cosine and SQNR still compare the models), or name a class output with outputName (--output on the command line).'],
  });
}

/** Top-1 agreement between the models, and accuracy of each against the labels when given. */
class Top1Tally {
  rows = 0;
  agree = 0;
  floatCorrect = 0;
  quantizedCorrect = 0;

  constructor(
    private readonly labels: ArrayLike<number> | undefined,
    private readonly outputName: string,
  ) {}

  /** Adds one batch's predictions; `firstSample` is the index of its first sample in the data. */
  add(float: Int32Array, quantized: Int32Array, batchSamples: number, firstSample: number): void {
    for (let i = 0; i < float.length; i++) if (float[i] === quantized[i]) this.agree++;
    this.rows += float.length;
    if (this.labels) this.#score(this.labels, float, quantized, batchSamples, firstSample);
  }

  #score(labels: ArrayLike<number>, float: Int32Array, quantized: Int32Array, batchSamples: number, firstSample: number): void {
    if (float.length !== batchSamples) {
      throw new TrtInt8Error('ERR_BAD_OPTION', `evaluate: labels need one prediction per sample, but "${this.outputName}" gives ${float.length} rows for ${batchSamples} samples.`, {
        input: 'labels',
        expected: `an output of shape [N, classes]`,
        actual: `${float.length} rows`,
      });
    }
    for (let i = 0; i < float.length; i++) {
      const label = labels[firstSample + i];
      if (label === undefined) {
        throw new TrtInt8Error('ERR_BAD_OPTION', `evaluate: there are fewer labels (${labels.length}) than samples.`, {
          input: 'labels',
          expected: `at least ${firstSample + float.length} labels`,
          actual: labels.length,
        });
      }
      if (float[i] === label) this.floatCorrect++;
      if (quantized[i] === label) this.quantizedCorrect++;
    }
  }
}

interface Sessions {
  readonly reference: OrtSession;
  readonly quantized: OrtSession;
  readonly runner: GroupedRunner;
}

/**
 * Runs one batch through both models, group by group, adding each tensor's agreement. Returns the
 * top-1 predictions of both models, when the top-1 output was among the values.
 */
async function compareBatch(
  sessions: Sessions,
  feeds: Record<string, OrtTensor>,
  batchSamples: number,
  top1Output: string,
  agreements: Map<string, SignalAgreement>,
  signal: AbortSignal,
  labelled: boolean,
): Promise<{ float: Int32Array; quantized: Int32Array } | undefined> {
  let top1: { float: Int32Array; quantized: Int32Array } | undefined;
  await sessions.runner.run(feeds, batchSamples, async (referenceOutputs) => {
    throwIfAborted(signal);
    const quantizedOutputs = await sessions.quantized.run(feeds, [...referenceOutputs.keys()]);
    for (const [name, ref] of referenceOutputs) {
      const values = quantizedOutputs[name] ? outputAsFloat32(quantizedOutputs[name]) : undefined;
      if (!values) continue;
      if (ref.length !== values.length) {
        throw new TrtInt8Error('ERR_BAD_MODEL', `Tensor "${name}" has ${ref.length} values in the float model but ${values.length} in the quantized one.`, {
          input: name,
          expected: ref.length,
          actual: values.length,
          fixes: [`Compare only the outputs: evaluate(..., { compareLayers: false })`],
        });
      }
      agreements.get(name)!.add(ref, values);
      if (name === top1Output) {
        // Labels need a class vector per sample: an output whose declared shape did not say so is checked on its values.
        if (labelled) checkClassOutput({ name, dtype: 'float32', shape: quantizedOutputs[name]!.dims });
        // One prediction per sample: argmax over each sample's values ([N, C] -> C classes).
        const classes = batchSamples > 0 && ref.length % batchSamples === 0 ? ref.length / batchSamples : ref.length;
        top1 = { float: argmaxRows(ref, classes), quantized: argmaxRows(values, classes) };
      }
    }
  }, signal);
  return top1;
}

async function openSessions(comparison: Comparison, options: EvaluateOptions, opened: OrtSession[]): Promise<Sessions & { ort: OrtModule }> {
  const executionProviders = options.executionProviders ?? ['cpu'];
  const { reference, quantized, layers } = comparison;
  const ort = loadOnnxRuntime();
  const referenceSession = await createSession(ort, reference.withInlinedExternalData().withExtraOutputs(layers), executionProviders, reference.displayName);
  opened.push(referenceSession);
  const quantizedSession = await createSession(ort, quantized.withInlinedExternalData().withExtraOutputs(layers), executionProviders, quantized.displayName);
  opened.push(quantizedSession);
  // Groups are planned on the float model; each group's quantized values are fetched right after its
  // float values, so at most one group of each model is in memory (the memory bound holds for both).
  const runner = new GroupedRunner(referenceSession, [...comparison.outputs, ...layers], { maxOutputBytesPerRun: options.maxOutputBytesPerRun });
  return { ort, reference: referenceSession, quantized: quantizedSession, runner };
}

function evaluationResult(comparison: Comparison, samples: number, tally: Top1Tally, agreements: Map<string, SignalAgreement>, labelled: boolean): EvaluationResult {
  const toAgreement = (name: string): TensorAgreement => {
    const a = agreements.get(name)!;
    return { tensor: name, cosine: a.cosine, sqnr: a.sqnr };
  };
  const { floatCorrect, quantizedCorrect } = tally;
  return {
    samples,
    top1Agreement: tally.rows > 0 ? tally.agree / tally.rows : 0,
    ...(labelled ? { accuracy: { float: floatCorrect / samples, quantized: quantizedCorrect / samples, drop: (floatCorrect - quantizedCorrect) / samples } } : {}),
    outputs: comparison.outputs.map((name) => {
      const { cosine, sqnr } = toAgreement(name);
      return { name, cosine, sqnr };
    }),
    worstLayers: comparison.layers
      .filter((t) => agreements.get(t)!.count > 0)
      .map(toAgreement)
      .sort((a, b) => a.sqnr - b.sqnr || a.cosine - b.cosine),
  };
}

/** Compares `quantizedModel` against `floatModel` on `data`. */
export async function evaluate(floatModel: ModelInput, quantizedModel: ModelInput, data: EvaluationData, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const signal = options.signal ?? new AbortController().signal;
  const iterator = asyncIteratorOf(data);
  const opened: OrtSession[] = [];
  try {
    throwIfAborted(signal);
    const comparison = await planComparison(floatModel, quantizedModel, options);
    const sessions = await openSessions(comparison, options, opened);
    const agreements = new Map([...comparison.outputs, ...comparison.layers].map((t) => [t, new SignalAgreement()]));
    const tracker = new ProgressTracker();
    const tally = new Top1Tally(options.labels, comparison.top1Output);
    let samples = 0;
    for (let batchIndex = 0; ; batchIndex++) {
      throwIfAborted(signal);
      const next = await iterator.next();
      throwIfAborted(signal);
      if (next.done) break;
      const batch = validateBatch(next.value, comparison.inputs, { batchIndex });
      const batchSamples = samplesInBatch([...batch.values()].map((t) => t.shape));
      const top1 = await compareBatch(sessions, batchToFeeds(sessions.ort, batch), batchSamples, comparison.top1Output, agreements, signal, options.labels !== undefined);
      if (top1) tally.add(top1.float, top1.quantized, batchSamples, samples);
      samples += batchSamples;
      const progress = tracker.batchDone(batchSamples);
      options.onProgress?.(progress);
    }
    if (samples === 0) {
      throw new TrtInt8Error('ERR_EMPTY_DATASET', 'evaluate: the data has no batches.', { input: 'data', expected: 'at least one batch', actual: 'none' });
    }
    return evaluationResult(comparison, samples, tally, agreements, options.labels !== undefined);
  } catch (error) {
    if (signal.aborted) throw abortError(signal);
    throw error;
  } finally {
    try {
      await iterator.return?.();
    } catch {
      /* the data source failing to close must not hide the result or the original error */
    }
    for (const s of opened) await s.release().catch(() => undefined);
  }
}

/** File-name-safe form of a tensor name ("/conv1/Conv_output_0" -> "conv1_Conv_output_0"). */
function safeFileName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 120) || 'tensor';
}

/**
 * Writes histogram plots (SVG) of the `count` worst layers that have a histogram in the calibration
 * result, into `dir` (created if missing). Returns the written paths, worst first.
 */
export async function writeWorstLayerPlots(dir: string, evaluation: EvaluationResult, calibration: CalibrationResult, count = 8): Promise<string[]> {
  const notCollected = histogramsNotCollected(calibration, 'writeWorstLayerPlots');
  if (notCollected) throw notCollected;
  const { mkdir } = await import('node:fs/promises');
  try {
    await mkdir(dir, { recursive: true });
  } catch (cause) {
    throw new TrtInt8Error('ERR_IO', `Cannot create the plot folder ${dir}: ${(cause as Error).message}`, { input: dir, expected: 'a writable folder', actual: (cause as NodeJS.ErrnoException).code, cause });
  }
  const written: string[] = [];
  for (const layer of evaluation.worstLayers) {
    if (written.length >= count) break;
    const calibrated = calibration.tensors.get(layer.tensor);
    if (!calibrated?.histogram) continue;
    const file = path.join(dir, `${String(written.length + 1).padStart(2, '0')}-${safeFileName(layer.tensor)}.svg`);
    const title = `${layer.tensor}: SQNR ${layer.sqnr.toFixed(1)} dB, cosine ${layer.cosine.toFixed(4)}, amax ${calibrated.amax.toPrecision(4)}`;
    await writeFileAtomic(file, renderHistogramSvg(calibrated.histogram, calibrated.amax, { title }));
    written.push(file);
  }
  return written;
}
