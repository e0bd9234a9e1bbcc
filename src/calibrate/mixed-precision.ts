/**
 * Accuracy-driven mixed precision for Q/DQ models: keepInHigherPrecision() finds the fewest quantized nodes to
 * keep in float so that the INT8 model stays within a tolerance of the float model on held-out data.
 *
 * Steps (docs/mixed-precision.md): rank the quantized activation tensors by a cheap proxy (the SQNR of the
 * tensor fake-quantized with its calibrated range, from the calibration's histograms); measure the K worst,
 * each restored to float alone, end to end with onnxruntime on the CPU; then exclude them greedily, largest
 * measured gain first, until the tolerance holds. At most `maxEvaluations` model evaluations (default 2 + 2K).
 */
import { TrtInt8Error } from '../core/errors.js';
import { validateBatch, type Batch } from '../core/batch.js';
import type { InputSpec } from '../core/tensor.js';
import { Calibrator, nextValidatedBatch } from '../calibrators/index.js';
import { isFiniteNumber, isIntegerIn, optionErrors } from '../core/is.js';
import { insertQdq, OnnxModel, planQuantization, type NodeExclusion, type OnnxNode } from '../onnx/index.js';
import { quantizationError } from '../stats/index.js';
import { createSession, loadOnnxRuntime } from './onnxruntime.js';
import { batchToFeeds, outputAsFloat32 } from './runner.js';
import { argmaxRows } from './metrics.js';
import { CalibrationResult, histogramsNotCollected, placementNotSupported, qdqPlanOptions } from './result.js';
import { checkClassOutput } from './evaluate.js';
import type { ModelInput } from './calibrate.js';

export interface MixedPrecisionOptions {
  /**
   * The largest drop allowed. Default metric: 1 - top-1 agreement with the float model, default 0.01 (agreement >= 99 %).
   * With `metric`: metric(float model) - metric(quantized model), default 0.01.
   */
  readonly maxDrop?: number;
  /**
   * Scores a model (its ONNX bytes) on the held-out batches (evalData, read once), higher is better, e.g. accuracy
   * against labels with evaluate(); replaces top-1 agreement with the float model.
   */
  readonly metric?: (model: Uint8Array, data: readonly Batch[]) => number | Promise<number>;
  /** How many of the worst tensors by proxy are measured end to end (default 4). */
  readonly candidates?: number;
  /** The most model evaluations (the float reference counts as one); default 2 + 2 * candidates. */
  readonly maxEvaluations?: number;
  /** The classification output for top-1 agreement (default: the first graph output). */
  readonly outputName?: string;
  /**
   * Class index per held-out sample, in data order: the drop is then of accuracy against these labels
   * (accuracy of the float model - accuracy of the quantized one), on the classification output. Not with `metric`.
   */
  readonly labels?: ArrayLike<number>;
}

/** One node kept out of INT8 and why. */
export interface KeptNode {
  /** ONNX node names restored to float: the quantized readers of `tensor`. */
  readonly nodes: readonly string[];
  /** The activation tensor whose Q/DQ pair was removed. */
  readonly tensor: string;
  /** Proxy: SQNR (dB) of the tensor fake-quantized with its calibrated range, on its histogram. */
  readonly sqnrDb: number;
  /** Measured: the drop with every node quantized minus the drop with only these nodes restored. */
  readonly measuredGain: number;
}

export interface MixedPrecisionResult {
  /** The Q/DQ model with the kept nodes in float. */
  readonly model: Uint8Array;
  readonly kept: readonly KeptNode[];
  /** Drop (see maxDrop) with every node quantized, and with the kept nodes in float. */
  readonly initialDrop: number;
  readonly finalDrop: number;
  /** Whether finalDrop <= maxDrop. */
  readonly met: boolean;
  /** Model evaluations made, the float reference included. */
  readonly evaluations: number;
  /**
   * The calibration with the kept nodes out of INT8: `calibration.toQdqModel()` is `model`, and its TensorRT cache
   * lacks the tensors that no quantized node reads any more (as calibrate() with `exclude` would give). Its
   * `parameters.exclude` holds the calibration's own exclusion plus the kept node names.
   */
  readonly calibration: CalibrationResult;
}

const DEFAULT_MAX_DROP = 0.01;
const DEFAULT_CANDIDATES = 4;
const badOption = optionErrors('keepInHigherPrecision');

/** A quantized activation tensor, its quantized readers and its proxy score. */
export interface Candidate {
  readonly tensor: string;
  readonly nodes: readonly string[];
  readonly sqnrDb: number;
}

function checkOptions(options: MixedPrecisionOptions): Required<Pick<MixedPrecisionOptions, 'maxDrop' | 'candidates' | 'maxEvaluations'>> {
  if (options === null || typeof options !== 'object') throw badOption('options', 'an object', options);
  const maxDrop = options.maxDrop ?? DEFAULT_MAX_DROP;
  if (!isFiniteNumber(maxDrop) || maxDrop < 0) throw badOption('maxDrop', 'a finite number >= 0', maxDrop);
  if (options.metric !== undefined && typeof options.metric !== 'function') throw badOption('metric', '(model: Uint8Array, data: Batch[]) => number', typeof options.metric);
  const candidates = options.candidates ?? DEFAULT_CANDIDATES;
  if (!isIntegerIn(candidates, 1, 1000)) throw badOption('candidates', 'an integer in [1, 1000]', candidates);
  const maxEvaluations = options.maxEvaluations ?? 2 + 2 * candidates;
  if (!isIntegerIn(maxEvaluations, 2)) throw badOption('maxEvaluations', 'an integer >= 2 (the float reference and the INT8 model)', maxEvaluations);
  if (options.outputName !== undefined && typeof options.outputName !== 'string') throw badOption('outputName', 'a graph output name', options.outputName);
  if (options.labels !== undefined) {
    const labels = options.labels as unknown;
    if (labels === null || typeof labels !== 'object' || typeof (labels as ArrayLike<number>).length !== 'number') throw badOption('labels', 'an array (or Int32Array) of class indices', labels === null ? 'null' : typeof labels);
    if (options.metric !== undefined) throw badOption('labels', 'labels or metric, not both', 'both', ['Drop labels: the metric scores the models itself (e.g. with evaluate(..., { labels }))).']);
  }
  return { maxDrop, candidates, maxEvaluations };
}

/** Held-out data: batches (an array, a generator, `dataset.batches({ batchSize })`) or a Calibrator. */
export type HeldOutData = Iterable<Batch> | AsyncIterable<Batch> | Calibrator;

/** A calibrator's batches, validated and copied (a calibrator may reuse its buffers), then closed. */
async function calibratorBatches(calibrator: Calibrator, inputs: readonly InputSpec[], maxBatches: number): Promise<Batch[]> {
  const signal = new AbortController().signal;
  const batches: Batch[] = [];
  try {
    for (let batchIndex = 0; batchIndex < maxBatches; batchIndex++) {
      const batch = await nextValidatedBatch(calibrator, { inputs, batchIndex, signal });
      if (batch === null) return batches;
      batches.push(Object.fromEntries([...batch].map(([name, t]) => [name, { data: t.data.slice(), shape: [...t.shape] }])));
    }
    return batches;
  } finally {
    await calibrator.close();
  }
}

/**
 * The held-out batches, read once (they are replayed for every evaluation): all of them, or the first `maxBatches`.
 * `who` names the function in errors.
 */
export async function collectBatches(data: HeldOutData, inputs: readonly InputSpec[], maxBatches = Infinity, who = 'keepInHigherPrecision'): Promise<Batch[]> {
  const source = data as Partial<AsyncIterable<Batch> & Iterable<Batch>>;
  let batches: Batch[];
  if (data instanceof Calibrator) batches = await calibratorBatches(data, inputs, maxBatches);
  else if (typeof source?.[Symbol.asyncIterator] === 'function' || typeof source?.[Symbol.iterator] === 'function') {
    batches = [];
    if (maxBatches > 0) {
      for await (const batch of data as Iterable<Batch> | AsyncIterable<Batch>) {
        batches.push(batch);
        if (batches.length >= maxBatches) break;
      }
    }
  } else throw badOption('evalData', 'an array, generator or async iterable of batches, or a Calibrator', typeof data);
  if (batches.length === 0) throw new TrtInt8Error('ERR_EMPTY_DATASET', `${who}: the evaluation data has no batches.`, { input: 'evalData', expected: 'at least one batch', actual: 'none' });
  return batches;
}

export async function toModel(model: ModelInput): Promise<OnnxModel> {
  if (model instanceof OnnxModel) return model;
  if (typeof model === 'string' || model instanceof Uint8Array) return OnnxModel.load(model);
  throw badOption('model', 'a file path, the bytes of an .onnx file, or an OnnxModel', model === null ? 'null' : typeof model);
}

/** Combines the calibration's own exclusion with node names kept in float. */
export function withNames(base: NodeExclusion | undefined, names: ReadonlySet<string>): NodeExclusion {
  if (base === undefined) return { names: [...names] };
  if (typeof base === 'function') return (node: OnnxNode) => names.has(node.name) || base(node);
  return { opTypes: base.opTypes, names: [...(base.names ?? []), ...names] };
}

/** Quantized activation tensors with a histogram, lowest SQNR (most hurt by INT8) first. */
export function rankByProxy(model: OnnxModel, result: CalibrationResult): Candidate[] {
  const plan = planQuantization(model, qdqPlanOptions(result.parameters));
  const ranked: Candidate[] = [];
  for (const activation of plan.activations) {
    const calibrated = result.tensors.get(activation.tensor);
    if (!calibrated?.histogram || calibrated.histogram.count === 0) continue;
    const { sqnrDb } = quantizationError(calibrated.histogram, calibrated.amax);
    ranked.push({ tensor: activation.tensor, nodes: activation.consumers.map((n) => n.name), sqnrDb });
  }
  return ranked.sort((a, b) => a.sqnrDb - b.sqnrDb);
}

/** Runs models on the held-out batches and scores them against the float model; counts evaluations. */
class Scorer {
  evaluations = 0;
  /** Top-1 predictions of the float model (agreement), or its score (metric, labels). */
  #reference: Int32Array[] | number = [];

  private constructor(
    private readonly batches: readonly Batch[],
    private readonly model: OnnxModel,
    private readonly options: MixedPrecisionOptions,
  ) {}

  static async create(model: OnnxModel, batches: readonly Batch[], options: MixedPrecisionOptions): Promise<Scorer> {
    const scorer = new Scorer(batches, model, options);
    const bytes = model.withInlinedExternalData().toBytes();
    if (options.metric) scorer.#reference = await scorer.#score(bytes);
    else if (options.labels) scorer.#reference = scorer.#accuracy(await scorer.#predict(bytes));
    else scorer.#reference = await scorer.#predict(bytes);
    scorer.evaluations = 1;
    return scorer;
  }

  /** What the drop measures, for people. */
  get measure(): string {
    return this.options.metric ? 'metric' : this.options.labels ? 'accuracy' : 'top-1 agreement';
  }

  /** The drop of this quantized model against the float one. */
  async drop(bytes: Uint8Array): Promise<number> {
    this.evaluations++;
    if (this.options.metric) return (this.#reference as number) - (await this.#score(bytes));
    const predictions = await this.#predict(bytes);
    if (this.options.labels) return (this.#reference as number) - this.#accuracy(predictions);
    const reference = this.#reference as Int32Array[];
    let agree = 0;
    let rows = 0;
    predictions.forEach((p, b) => {
      for (let i = 0; i < p.length; i++) if (p[i] === reference[b]![i]) agree++;
      rows += p.length;
    });
    return 1 - agree / rows;
  }

  /** The metric's score, which must be a finite number. */
  async #score(bytes: Uint8Array): Promise<number> {
    const score = await this.options.metric!(bytes, this.batches);
    if (!isFiniteNumber(score)) throw badOption('metric', 'a callback returning a finite number', score);
    return score;
  }

  /** Share of the held-out samples whose top-1 class is their label. */
  #accuracy(predictions: readonly Int32Array[]): number {
    const labels = this.options.labels!;
    const rows = predictions.reduce((n, p) => n + p.length, 0);
    if (labels.length < rows) {
      throw badOption('labels', `one label per held-out sample: at least ${rows}`, `${labels.length} labels`, ['Pass the labels of the held-out data, in the same order (on the command line, --labels goes with --eval-data).']);
    }
    let correct = 0;
    let offset = 0;
    for (const p of predictions) {
      for (let i = 0; i < p.length; i++) if (p[i] === labels[offset + i]) correct++;
      offset += p.length;
    }
    return correct / rows;
  }

  /** Top-1 class of every row of the classification output, per batch. */
  async #predict(bytes: Uint8Array): Promise<Int32Array[]> {
    const ort = loadOnnxRuntime();
    const inputs = this.model.inputs();
    const output = this.options.outputName ?? this.model.outputs()[0]?.name;
    const spec = this.model.outputs().find((o) => o.name === output);
    if (output === undefined || spec === undefined) {
      throw badOption('outputName', this.model.outputs().map((o) => o.name), output);
    }
    if (this.options.labels) checkClassOutput(spec);
    const session = await createSession(ort, bytes, ['cpu'], this.model.displayName);
    try {
      const predictions: Int32Array[] = [];
      for (const [batchIndex, batch] of this.batches.entries()) {
        const feeds = batchToFeeds(ort, validateBatch(batch, inputs, { batchIndex }));
        const values = (await session.run(feeds, [output]))[output]!;
        const data = outputAsFloat32(values);
        if (!data || values.dims.length < 2) throw badOption('outputName', 'a float output of shape [N, classes]', `${values.type} [${values.dims.join(', ')}]`);
        // Labels score a class vector per sample: a map the declared shape did not reveal is refused here.
        if (this.options.labels) checkClassOutput({ ...spec, shape: values.dims });
        predictions.push(argmaxRows(data, data.length / values.dims[0]!));
      }
      return predictions;
    } finally {
      await session.release().catch(() => undefined);
    }
  }
}

/**
 * Keeps the fewest quantized nodes in float so that the Q/DQ model of `result` stays within `maxDrop` of the float
 * `model` on `evalData` (held-out batches, as calibrate takes them, or a Calibrator). Errors: bad options (ERR_BAD_OPTION), no
 * evaluation data (ERR_EMPTY_DATASET), onnxruntime missing (ERR_ONNXRUNTIME_NOT_FOUND).
 */
export async function keepInHigherPrecision(
  model: ModelInput,
  result: CalibrationResult,
  evalData: HeldOutData,
  options: MixedPrecisionOptions = {},
): Promise<MixedPrecisionResult> {
  const { maxDrop, candidates, maxEvaluations } = checkOptions(options);
  const unsupported = placementNotSupported(result, 'keepInHigherPrecision');
  if (unsupported) throw unsupported;
  const floatModel = await toModel(model);
  const amax = result.amax();
  const build = (names: ReadonlySet<string>) => insertQdq(floatModel, { amax, ...qdqPlanOptions(result.parameters), exclude: withNames(result.parameters.exclude, names) }).toBytes();
  const scorer = await Scorer.create(floatModel, await collectBatches(evalData, floatModel.inputs()), options);
  const initialBytes = build(new Set());
  const initialDrop = await scorer.drop(initialBytes);
  const done = (bytes: Uint8Array, kept: KeptNode[], finalDrop: number): MixedPrecisionResult => ({
    model: bytes,
    kept,
    initialDrop,
    finalDrop,
    met: finalDrop <= maxDrop,
    evaluations: scorer.evaluations,
    calibration: keptOutOfInt8(floatModel, result, new Set(kept.flatMap((k) => k.nodes))),
  });
  if (initialDrop <= maxDrop) return done(initialBytes, [], initialDrop);

  // Ranking reads the histograms: a result collected without them is refused here, where they are first needed.
  const notCollected = histogramsNotCollected(result, `keepInHigherPrecision (the INT8 model loses ${(initialDrop * 100).toFixed(2)} points, more than maxDrop; ranking tensors to keep)`);
  if (notCollected) throw notCollected;
  const ranked = rankByProxy(floatModel, result);
  if (ranked.length === 0) {
    throw new TrtInt8Error('ERR_BAD_OPTION', `keepInHigherPrecision: the INT8 model loses ${(initialDrop * 100).toFixed(2)} points of ${scorer.measure} (more than maxDrop ${maxDrop * 100}), but no quantized tensor of this result has a histogram (its ranges were read from a cache), so there is nothing to rank.`, {
      input: 'result',
      expected: 'a result calibrated from data',
      actual: `${result.tensors.size} tensors, source ${result.summary.source}`,
      fixes: ['Calibrate from data (on the command line: --recalibrate).'],
    });
  }
  const measured = await measureCandidates(ranked.slice(0, candidates), scorer, build, initialDrop, maxEvaluations);
  return greedy(measured, scorer, build, { initialDrop, maxDrop, maxEvaluations, initialBytes, done });
}

/**
 * `result` with `names` kept in float as well: its exclusion extended, and only the tensors some quantized node still
 * reads (so its cache, like its Q/DQ model, leaves the kept tensors out).
 */
function keptOutOfInt8(model: OnnxModel, result: CalibrationResult, names: ReadonlySet<string>): CalibrationResult {
  if (names.size === 0) return result;
  const exclude = withNames(result.parameters.exclude, names);
  const quantized = new Set(planQuantization(model, { ...qdqPlanOptions(result.parameters), exclude }).activationNames);
  return new CalibrationResult({
    model,
    algorithm: result.algorithm,
    tensors: [...result.tensors.values()].filter((t) => quantized.has(t.name)),
    parameters: { ...result.parameters, exclude },
    summary: result.summary,
    // The ranges are the calibration's, so is the record of how 'auto' chose them (before these nodes were kept out).
    ...(result.modelCheck ? { modelCheck: result.modelCheck } : {}),
  });
}

interface Measured extends KeptNode {
  /** The drop with only this candidate in float. */
  readonly dropAlone: number;
  readonly bytes: Uint8Array;
}

/** Restores each candidate alone, one evaluation each while the budget lasts; those that gain, largest gain first. */
async function measureCandidates(candidates: readonly Candidate[], scorer: Scorer, build: (names: ReadonlySet<string>) => Uint8Array, initialDrop: number, maxEvaluations: number): Promise<Measured[]> {
  const measured: Measured[] = [];
  for (const candidate of candidates) {
    if (scorer.evaluations >= maxEvaluations) break;
    const bytes = build(new Set(candidate.nodes));
    const dropAlone = await scorer.drop(bytes);
    measured.push({ ...candidate, measuredGain: initialDrop - dropAlone, dropAlone, bytes });
  }
  return measured.filter((m) => m.measuredGain > 0).sort((a, b) => b.measuredGain - a.measuredGain);
}

interface GreedyContext {
  readonly initialDrop: number;
  readonly maxDrop: number;
  readonly maxEvaluations: number;
  readonly initialBytes: Uint8Array;
  readonly done: (bytes: Uint8Array, kept: KeptNode[], finalDrop: number) => MixedPrecisionResult;
}

/** Adds the measured candidates, largest gain first, until the drop is within maxDrop (or the budget is spent). */
async function greedy(measured: readonly Measured[], scorer: Scorer, build: (names: ReadonlySet<string>) => Uint8Array, context: GreedyContext): Promise<MixedPrecisionResult> {
  const kept: KeptNode[] = [];
  const names = new Set<string>();
  let bytes = context.initialBytes;
  let drop = context.initialDrop;
  for (const [index, m] of measured.entries()) {
    if (index > 0 && scorer.evaluations >= context.maxEvaluations) break;
    for (const n of m.nodes) names.add(n);
    kept.push({ nodes: m.nodes, tensor: m.tensor, sqnrDb: m.sqnrDb, measuredGain: m.measuredGain });
    if (index === 0) {
      // The first step is the best candidate alone: already measured.
      bytes = m.bytes;
      drop = m.dropAlone;
    } else {
      bytes = build(names);
      drop = await scorer.drop(bytes);
    }
    if (drop <= context.maxDrop) break;
  }
  return context.done(bytes, kept, drop);
}
