/**
 * calibrate(): runs the model on the calibrator's batches with onnxruntime, collects |x| histograms of the
 * tensors to quantize (the CPU statistics engine), and picks each tensor's range with the calibrator's
 * algorithm. No TensorRT involved; the result writes a TensorRT cache and a Q/DQ model.
 */
import { TrtInt8Error, abortError, throwIfAborted, untilAborted } from '../core/errors.js';
import { nextValidatedBatch, type Calibrator } from '../calibrators/index.js';
import { resolveAlgorithm, type AlgorithmInput } from '../core/algorithm.js';
import type { CalibrationAlgorithm } from '../core/algorithm.js';
import type { InputSpec, NormalizedBatch } from '../core/tensor.js';
import { BatchCopier } from '../core/batch.js';
import { cacheAlgorithmName, parseCalibrationCache, scaleToAmax, tensorRTVersionCode } from '../cache/index.js';
import { HistogramCollector, computeAmax, summaryMinMaxAmax, type TensorHistogram, type TensorSummary } from '../stats/index.js';
import { checkQuantizable, OnnxModel, planQuantization, PLACEMENTS, type NodeExclusion, type Placement } from '../onnx/index.js';
import { OVERLAP_ENV, SEQUENTIAL_RUNS, SPLIT_BATCHES_ENV, SUMMARY_OPS_ENV, TENSOR_SUMMARY_OP, createNativeSession, createSession, loadOnnxRuntime, runParallelism, type OrtSession, type RunParallelism } from './onnxruntime.js';
import { GroupedRunner, batchToFeeds, batchToRunFeeds, outputAsFloat32 } from './runner.js';
import type { RunSession } from '../stats/histogram-collector.js';
import { RunPacer, canSlice, sliceBatch } from './pacing.js';
import { ProgressTracker, samplesInBatch, type CalibrationProgress } from './progress.js';
import { CalibrationResult, DEFAULT_TENSORRT_VERSION, defaultCacheAlgorithm, qdqPlanOptions, type CalibrationParameters, type CalibrationSummary, type ModelCheck, type TensorCalibration } from './result.js';
import { isIntegerIn, optionErrors } from '../core/is.js';
import { CheckSamples, checkRangeSets, modelCheckBounds, type ModelCheckOptions } from './model-check.js';

export type ModelInput = string | Uint8Array | OnnxModel;

export interface CalibrateOptions {
  /** Nodes to keep in FP32, by name, op type or predicate (as planQuantization / insertQdq take it). */
  readonly exclude?: NodeExclusion;
  /**
   * The Q/DQ placement to calibrate for (default 'layer-inputs', insertQdq's default): its plan decides the tensors
   * calibrated, and result.toQdqModel() writes it. 'tensorrt' places pairs only where TensorRT's fusions gain from
   * them (docs/qdq.md); measured on an H200 it gives the faster engines.
   */
  readonly placement?: Placement;
  /** Histogram bins (default 2048, as TensorRT and pytorch-quantization). */
  readonly numBins?: number;
  /** onnxruntime execution providers (default ['cpu']). */
  readonly executionProviders?: readonly string[];
  readonly signal?: AbortSignal;
  /** Called after every batch, and after every model evaluation of 'auto''s whole-model check (progress.modelCheck). */
  readonly onProgress?: (progress: CalibrationProgress) => void;
  /**
   * Memory bound: the most bytes of activations one onnxruntime run may return. When the tensors to
   * collect are larger, each batch is run several times, each time fetching a subset of them.
   */
  readonly maxOutputBytesPerRun?: number;
  /** Calibrate exactly these tensors instead of the ones planQuantization picks. */
  readonly tensors?: readonly string[];
  /** TensorRT version of the cache handed to calibrator.writeCache and checked in readCache (default 10.16.0). */
  readonly tensorRTVersion?: string;
  /**
   * Per-tensor algorithm overrides: a map from tensor name, or a function returning an algorithm (or undefined for the
   * calibrator's). Why: entropy cuts a range just above a large spike, and a normalised image input is one big spike
   * (the background), so `{ tensorAlgorithms: ({ isGraphInput }) => (isGraphInput ? 'minmax' : undefined) }` keeps
   * the input unclipped while activations keep entropy. docs/study-entropy-input-range.md measures it.
   */
  readonly tensorAlgorithms?: TensorAlgorithms;
  /**
   * With algorithm 'auto' (the default): after the per-tensor choice, weigh whole-model range sets (the per-tensor
   * one, every tensor at percentile 99.99, at 99.999) by the model's output error against FP32 on a fixed subset of
   * the calibration samples (at most 256 samples and 64 MiB of input), and keep the lowest; the per-tensor set unless
   * another is lower by more than 5 %. Then, per tensor where the per-tensor range and the best uniform set's differ
   * by more than 2 %, try the other in the model and keep it if the output error falls by more than 1 %
   * (confirmTensors). Recorded in result.modelCheck. false: off. Cost: docs/algorithms.md.
   */
  readonly modelCheck?: boolean | ModelCheckOptions;
  /**
   * Count each tensor's |x| histogram. Default: true, except when every tensor is calibrated with 'minmax', which
   * needs only each tensor's min and max: then, as TensorRT's MinMaxCalibrator and onnxruntime's MinMaxCalibrater,
   * only those are tracked (the same amax, in one pass over the values and no bin memory), and the result's tensors
   * carry no `histogram`. Pass true for a min-max result that a sensitivity report, keepInHigherPrecision or
   * histogram plots will read. false with another algorithm is refused (it needs the histograms).
   */
  readonly histograms?: boolean;
}

export interface TensorInfo {
  readonly name: string;
  /**
   * A graph input (fed straight from the batch), or a tensor that only passes a graph input through layout ops
   * (Transpose, Reshape, Flatten, Squeeze, Unsqueeze, Identity): the same values, so the same range problem.
   */
  readonly isGraphInput: boolean;
}

/** Ops that move or relabel values without changing them. */
const LAYOUT_OPS = new Set(['Transpose', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity']);

/** Graph inputs and every tensor reached from one through layout ops alone (nodes are in topological order). */
export function graphInputViews(model: OnnxModel): Set<string> {
  const views = new Set(model.inputs().map((i) => i.name));
  for (const node of model.nodes) {
    if (LAYOUT_OPS.has(node.opType) && node.inputs[0] !== undefined && views.has(node.inputs[0]) && node.outputs[0]) views.add(node.outputs[0]);
  }
  return views;
}

export type TensorAlgorithms =
  | Readonly<Record<string, AlgorithmInput>>
  | ((tensor: TensorInfo) => AlgorithmInput | undefined);

/** The algorithm each tensor is calibrated with: the override if any, else the calibrator's. Validated up front. */
function algorithmsPerTensor(tensors: readonly string[], graphInputs: ReadonlySet<string>, fallback: CalibrationAlgorithm, overrides: TensorAlgorithms | undefined): Map<string, CalibrationAlgorithm> {
  const chosen = new Map<string, CalibrationAlgorithm>();
  if (overrides !== undefined && typeof overrides !== 'function') {
    const unknown = Object.keys(overrides).filter((name) => !tensors.includes(name));
    if (unknown.length > 0) {
      throw badOption('tensorAlgorithms', 'names of tensors being calibrated', unknown.slice(0, 10), [
        'List the calibrated tensors with planQuantization(model).activationNames, or pass a function ({ name, isGraphInput }) => algorithm.',
      ]);
    }
  }
  for (const name of tensors) {
    const info: TensorInfo = { name, isGraphInput: graphInputs.has(name) };
    const override = overrides === undefined ? undefined : typeof overrides === 'function' ? overrides(info) : overrides[name];
    chosen.set(name, override === undefined ? fallback : resolveAlgorithm(override));
  }
  return chosen;
}

const badOption = optionErrors('calibrate');

function checkOptions(options: CalibrateOptions): void {
  if (options === null || typeof options !== 'object') throw badOption('options', 'an object', options);
  const { numBins, executionProviders, exclude, tensors, onProgress, signal } = options;
  if (numBins !== undefined && (!Number.isInteger(numBins) || numBins < 16)) throw badOption('numBins', 'an integer >= 16', numBins);
  if (executionProviders !== undefined && (!Array.isArray(executionProviders) || executionProviders.length === 0 || executionProviders.some((p) => typeof p !== 'string'))) {
    throw badOption('executionProviders', "a non-empty array of provider names such as ['cpu'] or ['cuda', 'cpu']", executionProviders);
  }
  if (exclude !== undefined && typeof exclude !== 'function' && (exclude === null || typeof exclude !== 'object' || Array.isArray(exclude))) {
    throw badOption('exclude', '{ names?: string[], opTypes?: string[] } or (node) => boolean', Array.isArray(exclude) ? 'an array' : exclude, [
      'Exclude nodes by name: { exclude: { names: ["/head/Gemm"] } }, or by type: { exclude: { opTypes: ["MatMul"] } }',
    ]);
  }
  if (tensors !== undefined && (!Array.isArray(tensors) || tensors.some((n) => typeof n !== 'string'))) throw badOption('tensors', 'an array of tensor names', tensors);
  if (options.placement !== undefined && !PLACEMENTS.includes(options.placement)) throw badOption('placement', PLACEMENTS.join(' | '), options.placement);
  if (options.placement !== undefined && tensors !== undefined) {
    throw badOption('tensors', 'tensors or placement, not both', 'both', [
      "placement calibrates its plan's tensors and toQdqModel() writes it: pass placement alone.",
      "Or calibrate your tensors and write the model with insertQdq(model, { amax: result.amax(), placement }).",
    ]);
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') throw badOption('onProgress', 'a function', typeof onProgress);
  if (options.histograms !== undefined && typeof options.histograms !== 'boolean') throw badOption('histograms', 'true or false', options.histograms);
  const { maxOutputBytesPerRun, tensorRTVersion } = options;
  if (maxOutputBytesPerRun !== undefined && (typeof maxOutputBytesPerRun !== 'number' || !(maxOutputBytesPerRun > 0) || !Number.isFinite(maxOutputBytesPerRun))) {
    throw badOption('maxOutputBytesPerRun', 'a positive number of bytes', maxOutputBytesPerRun);
  }
  // Checked now rather than when the cache is written, after all the work.
  if (tensorRTVersion !== undefined) tensorRTVersionCode(tensorRTVersion);
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw badOption('signal', 'an AbortSignal', typeof signal);
  const { modelCheck } = options;
  if (modelCheck !== undefined && typeof modelCheck !== 'boolean') {
    if (modelCheck === null || typeof modelCheck !== 'object' || Array.isArray(modelCheck)) throw badOption('modelCheck', 'true, false or { maxSamples?, maxBytes?, confirmTensors? }', modelCheck);
    if (modelCheck.maxSamples !== undefined && !isIntegerIn(modelCheck.maxSamples, 1)) throw badOption('modelCheck.maxSamples', 'an integer >= 1', modelCheck.maxSamples);
    if (modelCheck.maxBytes !== undefined && !(typeof modelCheck.maxBytes === 'number' && modelCheck.maxBytes > 0)) throw badOption('modelCheck.maxBytes', 'a positive number of bytes', modelCheck.maxBytes);
    if (modelCheck.confirmTensors !== undefined && typeof modelCheck.confirmTensors !== 'boolean') throw badOption('modelCheck.confirmTensors', 'true or false', modelCheck.confirmTensors);
  }
  const { tensorAlgorithms } = options;
  if (tensorAlgorithms !== undefined && typeof tensorAlgorithms !== 'function' && (tensorAlgorithms === null || typeof tensorAlgorithms !== 'object' || Array.isArray(tensorAlgorithms))) {
    throw badOption('tensorAlgorithms', '{ [tensorName]: algorithm } or ({ name, isGraphInput }) => algorithm | undefined', tensorAlgorithms);
  }
}

async function toModel(model: ModelInput): Promise<OnnxModel> {
  if (model instanceof OnnxModel) return model;
  if (typeof model === 'string' || model instanceof Uint8Array) return OnnxModel.load(model);
  throw badOption('model', 'a file path, the bytes of an .onnx file, or an OnnxModel', model === null ? 'null' : typeof model);
}

/** The activation tensors to calibrate: planQuantization's choice, or the caller's list checked against the graph. */
function tensorsToCalibrate(model: OnnxModel, options: CalibrateOptions): string[] {
  if (options.tensors) {
    const known = model.tensorNames();
    const missing = options.tensors.filter((t) => !known.has(t));
    if (missing.length > 0) {
      throw new TrtInt8Error('ERR_BAD_OPTION', `calibrate: ${missing.length} tensor(s) in options.tensors are not in ${model.displayName}.`, {
        input: 'tensors',
        expected: 'names of graph inputs or node outputs',
        actual: missing.slice(0, 10),
      });
    }
    return [...new Set(options.tensors)];
  }
  return [...planQuantization(model, qdqPlanOptions(options)).activationNames];
}

interface CacheReuse {
  tensors?: TensorCalibration[];
  rejectedBecause?: string;
}

/** Reuses calibrator.readCache() when its header and tensors match, as TensorRT does; otherwise says why not. */
async function tryCache(calibrator: Calibrator, algorithm: CalibrationAlgorithm, version: string, tensors: readonly string[]): Promise<CacheReuse> {
  const bytes = await calibrator.readCache();
  if (bytes === null || bytes === undefined) return {};
  let cache;
  try {
    cache = parseCalibrationCache(bytes, { version, algorithm: defaultCacheAlgorithm(algorithm) });
  } catch (error) {
    // TensorRT silently recalibrates on a header mismatch; we recalibrate too but record why.
    if (error instanceof TrtInt8Error && error.code === 'ERR_CACHE_MISMATCH') {
      return { rejectedBecause: `${error.message.split('\n')[0]} (expected ${String(error.expected)}, found ${String(error.actual)})` };
    }
    throw error;
  }
  const missing = tensors.filter((t) => !cache.scales.has(t));
  if (missing.length > 0) {
    return { rejectedBecause: `the cache lacks ${missing.length} tensor(s) to calibrate, e.g. ${missing.slice(0, 3).join(', ')}` };
  }
  return { tensors: tensors.map((name) => ({ name, amax: scaleToAmax(cache.scales.get(name)!) })) };
}

/** Float32 values of a graph input fed directly (graph inputs are calibrated from the batch itself). */
function inputAsFloat32(batch: NormalizedBatch, name: string): Float32Array | undefined {
  const tensor = batch.get(name);
  if (!tensor) return undefined;
  return outputAsFloat32({ type: tensor.dtype, dims: tensor.shape, data: tensor.data, size: tensor.data.length });
}

function checkCalibrator(calibrator: Calibrator): void {
  // Duck-typed rather than instanceof, so a calibrator from the other (ESM/CJS) build of this package works.
  const looksLikeCalibrator =
    calibrator !== null &&
    typeof calibrator === 'object' &&
    typeof calibrator.getBatch === 'function' &&
    typeof calibrator.readCache === 'function' &&
    typeof calibrator.writeCache === 'function' &&
    typeof calibrator.algorithm?.kind === 'string';
  if (!looksLikeCalibrator) {
    throw badOption('calibrator', 'an instance of a Calibrator subclass (or calibratorFromBatches(...))', calibrator === null ? 'null' : typeof calibrator);
  }
}

/** The parameters recorded in the result (defaults filled in). */
function calibrationParameters(options: CalibrateOptions): CalibrationParameters {
  return {
    numBins: options.numBins ?? 2048,
    ...(options.exclude === undefined ? {} : { exclude: options.exclude }),
    ...(options.placement === undefined ? {} : { placement: options.placement }),
    executionProviders: [...(options.executionProviders ?? ['cpu'])],
    ...(options.maxOutputBytesPerRun === undefined ? {} : { maxOutputBytesPerRun: options.maxOutputBytesPerRun }),
    tensorRTVersion: options.tensorRTVersion ?? DEFAULT_TENSORRT_VERSION,
  };
}

/** What calibrate() works on once the model is loaded: its inputs, the tensors to calibrate and each one's algorithm. */
interface CalibrationPlan {
  readonly model: OnnxModel;
  readonly inputs: InputSpec[];
  readonly tensors: string[];
  readonly algorithms: Map<string, CalibrationAlgorithm>;
  /** Graph inputs among `tensors`: calibrated from the batch itself. */
  readonly fromFeeds: string[];
  /** Node outputs among `tensors`: fetched from onnxruntime runs. */
  readonly fromRuns: string[];
  /** Whether histograms are counted (options.histograms; by default, unless every algorithm is 'minmax'). */
  readonly histograms: boolean;
}

async function planCalibration(model: ModelInput, calibrator: Calibrator, options: CalibrateOptions): Promise<CalibrationPlan> {
  const onnxModel = await toModel(model);
  // A model that cannot take Q/DQ (opset below 10, already quantized, non-float tensors) is refused before any
  // batch is read, not after a whole calibration.
  checkQuantizable(onnxModel, qdqPlanOptions(options));
  const inputs: InputSpec[] = onnxModel.inputs();
  const inputNames = new Set(inputs.map((i) => i.name));
  const tensors = tensorsToCalibrate(onnxModel, options);
  const algorithms = algorithmsPerTensor(tensors, graphInputViews(onnxModel), calibrator.algorithm, options.tensorAlgorithms);
  return {
    model: onnxModel,
    inputs,
    tensors,
    algorithms,
    fromFeeds: tensors.filter((t) => inputNames.has(t)),
    fromRuns: tensors.filter((t) => !inputNames.has(t)),
    histograms: histogramsNeeded(algorithms, calibrator.algorithm, options.histograms),
  };
}

/** options.histograms, defaulting to whether any tensor's algorithm reads a histogram (all but 'minmax' do). */
function histogramsNeeded(algorithms: ReadonlyMap<string, CalibrationAlgorithm>, calibratorAlgorithm: CalibrationAlgorithm, requested: boolean | undefined): boolean {
  const needing = [calibratorAlgorithm, ...algorithms.values()].filter((a) => a.kind !== 'minmax');
  if (requested === false && needing.length > 0) {
    throw badOption('histograms', "true (or left out) unless every tensor's algorithm is 'minmax'", false, [
      `'${needing[0]!.kind}' chooses its range from the histogram: leave histograms out, or calibrate with algorithm 'minmax'.`,
    ]);
  }
  return requested ?? needing.length > 0;
}

/**
 * Where one calibrate() call spent its time, for bench/calibrate (not part of the package's API): set a sink with
 * recordCalibrationTimings() and the next calls add to it.
 */
export interface CalibrationTimings {
  /** 'native': the statistics engine's onnxruntime session; 'onnxruntime-node': session.run, outputs copied into JS. */
  runner?: 'native' | 'onnxruntime-node';
  /** Parsing, planning, the model with extra outputs and the onnxruntime session. */
  loadMs: number;
  /** onnxruntime runs (with onnxruntime-node, including its copy of every output into JavaScript). */
  runMs: number;
  /** Histograms of the activations (and of graph inputs). */
  countMs: number;
  /** Ranges from the histograms. */
  rangeMs: number;
  activationBytes: number;
}
let timingsSink: CalibrationTimings | undefined;
/** Internal, for bench/calibrate: collect calibrate()'s time breakdown into `sink` (undefined: stop). */
export function recordCalibrationTimings(sink: CalibrationTimings | undefined): void {
  timingsSink = sink;
}

/** The native histograms and the onnxruntime session that feed them; both released by calibrate(). */
interface Collection {
  session?: OrtSession;
  /** The statistics engine's own onnxruntime session, when it replaces onnxruntime-node's (CPU). */
  nativeSession?: RunSession;
  collector?: HistogramCollector;
}

/**
 * Runs every batch of the calibrator through the model, adding the graph inputs and the fetched
 * activations to the histograms. Returns the session run count; the tracker counts batches and samples.
 */
async function collectStatistics(plan: CalibrationPlan, calibrator: Calibrator, options: CalibrateOptions, collection: Collection, tracker: ProgressTracker, signal: AbortSignal, loadStarted: number, retained: CheckSamples | undefined): Promise<number> {
  const parameters = calibrationParameters(options);
  const { summaries, parallelism } = await openSessions(plan, options, parameters.executionProviders, collection);
  const session = collection.session;
  const runner = new GroupedRunner(session, plan.fromRuns, {
    maxOutputBytesPerRun: options.maxOutputBytesPerRun,
    overlap: process.env[OVERLAP_ENV] === '1',
    concurrentRuns: collection.nativeSession ? parallelism.concurrentRuns : 1,
    ...(summaries ? { summaries } : {}),
  });
  if (timingsSink) {
    timingsSink.runner = collection.nativeSession ? 'native' : 'onnxruntime-node';
    timingsSink.loadMs += performance.now() - loadStarted;
  }
  // Runs in flight that only return summaries share each batch between them (runSplit): min, max and counts of the
  // slices make those of the batch exactly, and the runs hold one batch's activations between them, not one each.
  // They assume a sample's activations do not depend on the rest of its batch (as a batch-norm in inference mode does
  // not); a model that fixes its batch inside (a Reshape to a constant batch size) fails on a slice, which the first
  // batch's probe finds before anything is counted.
  let splitRuns = summaries !== undefined && runner.concurrent && process.env[SPLIT_BATCHES_ENV] !== '0';
  let splitProbed = false;
  const histograms = new HistogramCollector({ numBins: parameters.numBins, histograms: plan.histograms });
  collection.collector = histograms;
  const copier = new BatchCopier(); // each copy is consumed (runs and histograms awaited) before the next
  const pacer = new RunPacer();
  for (let batchIndex = 0; ; batchIndex++) {
    // Abort wins over a getBatch that never settles (the calibrator gets the same signal as ctx.signal).
    const given = await untilAborted(nextValidatedBatch(calibrator, { inputs: plan.inputs, batchIndex, signal }), signal);
    if (given === null) break;
    // Our own copy: the caller may reuse, transfer or shrink its buffers once getBatch has returned.
    const batch = copier.copy(given);
    const samples = samplesInBatch([...batch.values()].map((t) => t.shape));
    retained?.offer(batch, samples);
    if (plan.fromFeeds.length > 0) {
      // The previous batch's activations first (timed apart), unless runs overlap batches: the collector counts in
      // call order, and graph inputs and activations are different tensors, so every tensor still sees the batches
      // in order.
      if (!runner.countsInBackground) await runner.flush();
      const counting = performance.now();
      await histograms.add(graphInputValues(batch, plan.fromFeeds), signal);
      if (timingsSink) timingsSink.countMs += performance.now() - counting;
    }
    const nativeSession = collection.nativeSession;
    if (splitRuns && !splitProbed && nativeSession) {
      // On the first batch, before any run is in flight.
      splitProbed = true;
      splitRuns = canSlice(plan.inputs, batch, samples) && (await runsOnSlice(nativeSession, batch, Math.ceil(samples / parallelism.concurrentRuns), summaries!.values().next().value ?? plan.fromRuns[0]!, signal));
    }
    await runPaced(batch, samples, plan.inputs, pacer, (slice, sliceSamples) => {
      if (!nativeSession) return runner.run(batchToFeeds(loadOnnxRuntime(), slice), sliceSamples, (outputs) => histograms.add(outputs, signal), signal);
      const parts = splitRuns && canSlice(plan.inputs, slice, sliceSamples) ? parallelism.concurrentRuns : 1;
      // The whole slice's feeds only name it in the error of a part that fails: built once, not per part.
      const whole = parts > 1 ? batchToRunFeeds(slice) : undefined;
      return runSplit(slice, sliceSamples, parts, (part, partSamples) => runner.runInto(histograms, nativeSession, batchToRunFeeds(part), partSamples, signal, part === slice ? undefined : whole));
    });
    const progress = tracker.batchDone(samples); // counted even without onProgress (`?.()` skips its argument)
    options.onProgress?.(progress);
  }
  await runner.flush();
  if (tracker.snapshot().batchesDone === 0) throw noBatches();
  throwIfAborted(signal);
  if (timingsSink) {
    timingsSink.runMs += runner.runMs;
    timingsSink.countMs += runner.countMs;
    timingsSink.activationBytes += runner.activationBytes;
  }
  return runner.runCount;
}

/**
 * The statistics engine's own onnxruntime session, when it can run the model (CPU, with the library of the installed
 * onnxruntime-node): the activations are then read where onnxruntime writes them, while onnxruntime-node's
 * session.run copies each output into JavaScript first (docs/calibration-speed.md), and onnxruntime-node is not even
 * loaded. Without histograms, each float tensor is summarized inside the graph by the engine's TensorSummary operator
 * instead of being held as an output until the run ends: no activation outlives its last reader, so a run holds
 * little more memory than the model alone and two runs on one thread each fit where one run with every activation
 * did. Returns the model bytes the session (or onnxruntime-node's, when there is none) runs.
 */
function openNativeSession(plan: CalibrationPlan, options: CalibrateOptions, executionProviders: readonly string[], collection: Collection): { bytes: Uint8Array; summaries?: Map<string, string>; parallelism: RunParallelism } {
  const bounded = options.maxOutputBytesPerRun !== undefined;
  const inlined = plan.model.withInlinedExternalData();
  if (!plan.histograms && process.env[SUMMARY_OPS_ENV] !== '0') {
    const summarized = inlined.withTensorSummaries(plan.fromRuns, TENSOR_SUMMARY_OP);
    const parallelism = bounded ? SEQUENTIAL_RUNS : runParallelism(undefined, { summaries: true });
    collection.nativeSession = createNativeSession(summarized.bytes, executionProviders, plan.model.displayName, parallelism, true);
    if (collection.nativeSession) {
      const summaries = new Map(plan.fromRuns.flatMap((t, i) => (summarized.summarized[i] ? [[t, summarized.fetches[i]!] as const] : [])));
      return { bytes: summarized.bytes, summaries, parallelism };
    }
  }
  const bytes = inlined.withExtraOutputs(plan.fromRuns);
  const parallelism = bounded ? SEQUENTIAL_RUNS : runParallelism();
  collection.nativeSession = createNativeSession(bytes, executionProviders, plan.model.displayName, parallelism);
  return { bytes, parallelism };
}

/**
 * The session that runs the batches: the statistics engine's (openNativeSession), else onnxruntime-node's. The model
 * bytes are not kept: both sessions hold their own copy, and on a small model the bytes are a few MiB of the peak.
 */
async function openSessions(plan: CalibrationPlan, options: CalibrateOptions, executionProviders: readonly string[], collection: Collection): Promise<{ summaries?: Map<string, string>; parallelism: RunParallelism }> {
  const { bytes, summaries, parallelism } = openNativeSession(plan, options, executionProviders, collection);
  if (!collection.nativeSession) collection.session = await createSession(loadOnnxRuntime(), bytes, executionProviders, plan.model.displayName);
  return { ...(summaries ? { summaries } : {}), parallelism };
}

/**
 * Runs a batch cut along its sample dimension into `slices` runs (as many as there are samples at most; sizes differ
 * by one at most), one after the other: with several runs in flight, each starts as soon as a run slot is free, so the
 * slices of one batch run at once. Two runs of one onnxruntime thread each on half a batch keep the speed of two
 * whole batches at once (less CPU than one run over two threads) at the memory of one batch's run: on Fashion-MNIST's
 * batches of 32, about 8 MiB less at peak (docs/calibration-speed.md).
 */
async function runSplit(batch: NormalizedBatch, samples: number, slices: number, run: (slice: NormalizedBatch, samples: number) => Promise<void>): Promise<void> {
  const parts = Math.max(1, Math.min(slices, samples));
  if (parts === 1) return run(batch, samples);
  for (let i = 0, start = 0; i < parts; i++) {
    const count = Math.floor(samples / parts) + (i < samples % parts ? 1 : 0);
    await run(sliceBatch(batch, start, count), count);
    start += count;
  }
}

/**
 * Whether the model runs on the first `samples` samples of a batch: one run fetching one summary, counted nowhere.
 * A model exported with a dynamic batch dimension can still fix the batch size inside; its batches then stay whole.
 */
async function runsOnSlice(session: RunSession, batch: NormalizedBatch, samples: number, fetch: string, signal: AbortSignal): Promise<boolean> {
  const outcome = await session.run(batchToRunFeeds(sliceBatch(batch, 0, samples)), [fetch], signal);
  throwIfAborted(signal);
  return !('runFailed' in outcome);
}

/** Runs a batch whole, or in slices when the pacer has seen runs too slow for a timely abort. */
async function runPaced(batch: NormalizedBatch, samples: number, inputs: readonly InputSpec[], pacer: RunPacer, run: (slice: NormalizedBatch, samples: number) => Promise<void>): Promise<void> {
  const perRun = canSlice(inputs, batch, samples) ? pacer.samplesPerRun(samples) : samples;
  for (let start = 0; start < samples || start === 0; start += perRun) {
    const count = Math.min(perRun, samples - start);
    const started = performance.now();
    await run(perRun >= samples ? batch : sliceBatch(batch, start, count), perRun >= samples ? samples : count);
    pacer.record(perRun >= samples ? samples : count, performance.now() - started);
    if (perRun >= samples) return;
  }
}

function graphInputValues(batch: NormalizedBatch, names: readonly string[]): Map<string, Float32Array> {
  const direct = new Map<string, Float32Array>();
  for (const name of names) {
    const values = inputAsFloat32(batch, name);
    if (values) direct.set(name, values);
  }
  return direct;
}

function noBatches(): TrtInt8Error {
  return new TrtInt8Error('ERR_EMPTY_DATASET', 'The calibrator gave no batches (its first getBatch returned null).', {
    input: 'calibrator',
    expected: 'at least one batch',
    actual: 'none',
    fixes: ['Check the data source: a path that matched no files, or an iterable already consumed.', 'TensorRT recommends about 500 calibration images.'],
  });
}

/**
 * computeAmax, where a node output with no finite value at all is the model's fault (NaN or infinite
 * weights make every activation NaN), not an empty dataset: the batches were checked to be finite.
 */
function amaxOf(name: string, statistics: TensorHistogram | TensorSummary, algorithm: CalibrationAlgorithm, plan: CalibrationPlan): number {
  try {
    // A summary only comes from a collector without histograms, which only 'minmax' calibrations use.
    return 'counts' in statistics ? computeAmax(statistics, algorithm) : summaryMinMaxAmax(statistics);
  } catch (error) {
    if (!(error instanceof TrtInt8Error && error.code === 'ERR_EMPTY_DATASET') || plan.fromFeeds.includes(name)) throw error;
    throw new TrtInt8Error('ERR_BAD_MODEL', `The model computes no finite value for tensor "${name}" on any batch: NaN or infinite weights, or an operation that overflows.`, {
      input: name,
      expected: 'finite activations',
      actual: 'only NaN / Infinity',
      fixes: ['Check the weights for NaN/Infinity (e.g. numpy.isfinite on every initializer).', `Or exclude the tensor: calibrate(model, calibrator, { exclude: { names: [...] } })`],
      cause: error,
    });
  }
}

function noValues(name: string): TrtInt8Error {
  return new TrtInt8Error('ERR_BAD_MODEL', `onnxruntime returned no floating-point values for tensor "${name}".`, {
    input: name,
    expected: 'a float32/float16 activation',
    actual: 'no values',
    fixes: [`Exclude it: calibrate(model, calibrator, { exclude: [${JSON.stringify(name)}] })`],
  });
}

/** Each tensor's range from its histogram (or, collected without histograms, its min and max), by its algorithm. */
function chooseRanges(plan: CalibrationPlan, collector: HistogramCollector, calibratorAlgorithm: CalibrationAlgorithm): TensorCalibration[] {
  if (!plan.histograms) return minMaxRanges(plan, collector);
  const collected = collector.histograms();
  return plan.tensors.map((name) => {
    const histogram = collected.get(name);
    if (!histogram) throw noValues(name);
    const algorithm = plan.algorithms.get(name)!;
    return {
      name,
      amax: amaxOf(name, histogram, algorithm, plan),
      min: histogram.min,
      max: histogram.max,
      histogram,
      ...(algorithm === calibratorAlgorithm ? {} : { algorithm }),
    };
  });
}

/** Every tensor's min-max range from its summary: the amax minMaxAmax takes from the histogram of the same values. */
function minMaxRanges(plan: CalibrationPlan, collector: HistogramCollector): TensorCalibration[] {
  const collected = collector.summaries();
  return plan.tensors.map((name) => {
    const summary = collected.get(name);
    if (!summary) throw noValues(name);
    return { name, amax: amaxOf(name, summary, { kind: 'minmax' }, plan), min: summary.min, max: summary.max };
  });
}

function collectedSummary(tracker: ProgressTracker, sessionRuns: number, cached: CacheReuse): CalibrationSummary {
  const seconds = tracker.seconds;
  const snapshot = tracker.snapshot();
  return {
    batches: snapshot.batchesDone,
    samples: snapshot.samplesDone,
    seconds,
    samplesPerSecond: seconds > 0 ? snapshot.samplesDone / seconds : 0,
    sessionRuns,
    source: 'collected',
    ...(cached.rejectedBecause ? { cacheRejectedBecause: cached.rejectedBecause } : {}),
  };
}

/**
 * Calibrates `model` on the batches of `calibrator`. Rejects with the signal's reason when aborted,
 * ERR_EMPTY_DATASET when the first batch is null, ERR_BAD_BATCH for a batch that does not fit the model.
 */
export async function calibrate(model: ModelInput, calibrator: Calibrator, options: CalibrateOptions = {}): Promise<CalibrationResult> {
  checkOptions(options);
  checkCalibrator(calibrator);
  const signal = options.signal ?? new AbortController().signal;
  const parameters = calibrationParameters(options);
  const version = parameters.tensorRTVersion;
  cacheAlgorithmName(defaultCacheAlgorithm(calibrator.algorithm)); // fail on a bad algorithm before any work
  const collection: Collection = {};
  try {
    throwIfAborted(signal);
    const loadStarted = performance.now();
    const plan = await planCalibration(model, calibrator, options);
    const tracker = new ProgressTracker(calibrator.batchCount);
    const base = { model: plan.model, algorithm: calibrator.algorithm, parameters };
    const cached = await tryCache(calibrator, calibrator.algorithm, version, plan.tensors);
    if (cached.tensors) {
      const summary = { batches: 0, samples: 0, seconds: tracker.seconds, samplesPerSecond: 0, sessionRuns: 0, source: 'cache' } as const;
      return new CalibrationResult({ ...base, tensors: cached.tensors, summary });
    }
    // 'auto''s whole-model check keeps the first batches (within its bounds) as they are read.
    const bounds = calibrator.algorithm.kind === 'auto' ? modelCheckBounds(options.modelCheck) : undefined;
    const retained = bounds ? new CheckSamples(bounds.maxSamples, bounds.maxBytes) : undefined;
    const sessionRuns = await collectStatistics(plan, calibrator, options, collection, tracker, signal, loadStarted, retained);
    const choosing = performance.now();
    let tensors: readonly TensorCalibration[] = chooseRanges(plan, collection.collector!, calibrator.algorithm);
    if (timingsSink) timingsSink.rangeMs += performance.now() - choosing;
    let modelCheck: ModelCheck | undefined;
    if (retained && bounds) {
      // Released first (the histograms taken are copies): the check runs its own onnxruntime sessions.
      collection.collector?.dispose();
      collection.collector = undefined;
      collection.nativeSession?.release();
      collection.nativeSession = undefined;
      await collection.session?.release().catch(() => undefined);
      collection.session = undefined;
      const onEvaluation = (evaluations: number, planned: number) => options.onProgress?.({ ...tracker.snapshot(), modelCheck: { evaluations, planned } });
      ({ check: modelCheck, tensors } = await checkRangeSets(plan.model, tensors, retained, qdqPlanOptions(parameters), { confirmTensors: bounds.confirmTensors, onEvaluation }, signal));
      throwIfAborted(signal);
    }
    const result = new CalibrationResult({
      ...base,
      parameters: { ...parameters, histograms: plan.histograms },
      tensors,
      summary: collectedSummary(tracker, sessionRuns, cached),
      ...(modelCheck ? { modelCheck } : {}),
    });
    await calibrator.writeCache(new TextEncoder().encode(result.toTensorRTCache(version)));
    return result;
  } catch (error) {
    // Whatever failed, an abort is reported as the signal's reason (like fetch and the fs APIs).
    if (signal.aborted) throw abortError(signal);
    throw error;
  } finally {
    collection.collector?.dispose();
    // After an abort, getBatch may still be pending, and an iterator's return() waits for it: close
    // without waiting, so that the abort is not held up by the callback it was meant to cut short.
    const closing = (async () => calibrator.close?.())().catch(() => undefined);
    if (!signal.aborted) await closing;
    await collection.session?.release().catch(() => undefined);
    collection.nativeSession?.release();
  }
}
