/**
 * `trt-int8 calibrate <model.onnx> --data <npy|npz|list|dir> ...`: calibrates with the CPU statistics
 * engine (onnxruntime runs the model) and writes a TensorRT cache, a Q/DQ model and/or a JSON report.
 * Every mistake that can be found before the work is found before it; the outputs are written last.
 */
import fs from 'node:fs';
import { ALGORITHM_KINDS, type AlgorithmKind } from '../core/algorithm.js';
import type { NonFinitePolicy } from '../core/batch.js';
import { writeFileAtomic } from '../core/files.js';
import { throwIfAborted } from '../core/errors.js';
import { OnnxModel, planQuantization, PLACEMENTS, type Placement } from '../onnx/index.js';
import { quantizationError } from '../stats/index.js';
import { calibrate } from '../calibrate/calibrate.js';
import { DEFAULT_TENSORRT_VERSION, qdqPlanOptions, type CalibrationResult, type ModelCheck } from '../calibrate/result.js';
import { UsageError, requireExisting, choiceFlag, listFlag, parseFlags, positiveInteger } from './args.js';
import { IMAGE_FLAGS, IMAGE_USAGE, checkChannelsMatchModel, checkDataMatchesFlags, imageOptionsFromFlags, remainderFor } from './images.js';
import { openCalibrator, type CalibrationDataPlan } from './calibration-data.js';
import type { Calibrator } from '../calibrators/calibrator.js';
import { EXIT_OK, progressReporter, runCommand, type CliIO, type ProgressStream } from './io.js';
import { checkOutputs, folderOutputs, plannedOutputs } from './outputs.js';
import { checkTensorNames, parseTensorAlgorithms, toTensorAlgorithms, type TensorAlgorithmFlags } from './tensor-algorithms.js';
import { readLabels } from '../data/npy-dataset.js';
import { checkClassOutput } from '../calibrate/evaluate.js';
import { checkNodeNames, describeKept, parseMaxDrop, runMixedPrecision } from './mixed-precision.js';
import { REPORT_FILES, measureEndToEnd, sensitivityReport, writeSensitivityReport, type EndToEndRanking, type SensitivityReport } from '../calibrate/sensitivity-report.js';

/** --report measures this many tensors end to end unless --report-top says otherwise. */
export const DEFAULT_REPORT_TOP = 4;

/** An integer >= 0. */
function nonNegativeInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag} needs an integer >= 0, got "${value}".`, { input: flag, expected: 'an integer >= 0', actual: value });
  return Number(value);
}

export const NON_FINITE_CHOICES: readonly NonFinitePolicy[] = ['error', 'warn', 'allow'];

export const CALIBRATE_USAGE = `Usage: trt-int8 calibrate <model.onnx> --data <file.npy|file.npz|list.txt|dir> [options]

Runs the model on the data with onnxruntime (CPU), picks each activation's INT8 range and writes
(at least one is required; all are checked before the work and written at the end):
  --cache <file>          TensorRT calibration cache (TensorRT 10 implicit INT8). If it exists and
                          matches, its ranges are reused (no calibration); --recalibrate overrides
  --qdq <file>            Q/DQ ONNX model (TensorRT explicit INT8, 10.x and 11.x)
  --json <file>           ranges, histograms and timings as JSON
  --report <dir>          sensitivity report: <dir>/report.json (per tensor the range used, every
                          candidate range with its MSE, SQNR and share clipped) and <dir>/index.html
                          (tensors worst SQNR first, histograms with the candidate ranges marked), and
                          the end-to-end effect of the --report-top worst tensors
  --report-top <k>        --report measures the k worst tensors end to end on 4 batches of the data
                          (--eval-data, else --data): each restored to float, and given 2 other candidate
                          ranges; 2 + 3k model runs (default 4; 0: no measurement)

Options:
  --algorithm <name>      ${ALGORITHM_KINDS.join(', ')} (default: the library's default calibrator)
  --percentile <p>        percentile of |x| for --algorithm percentile, in (0, 100] (default 99.99)
  --batch <n>             samples per batch (default 32)
  --limit <n>             use at most n samples
  --recalibrate           calibrate even when the --cache file exists, and replace it
  --non-finite <policy>   NaN/Infinity in the data: error (default), warn, allow
  --trt-version <x.y.z>   TensorRT version in the cache header (default ${DEFAULT_TENSORRT_VERSION})
  --exclude <names>       comma-separated node names to keep in FP32 (list them: trt-int8 inspect model.onnx)
  --placement <policy>    where --qdq puts Q/DQ pairs: layer-inputs (default) or tensorrt (only where TensorRT's
                          fusions gain from them: the faster engines, docs/qdq.md); tensorrt goes with --qdq
                          and --json, not with --cache, --max-drop or --report
  --keep <node>           keep ONNX node <node> out of INT8 (repeatable); checked against the model's node names
  --tensor-algorithm <NAME=ALGO>
                          calibrate tensor NAME with ALGO (one of ${ALGORITHM_KINDS.join(', ')});
                          NAME "input" means every graph input (and its Transpose/Reshape/... views).
                          Repeatable, e.g. --tensor-algorithm input=minmax
  --max-output-mb <n>     memory bound: at most n MiB of activations per onnxruntime run
  --cuda                  run the model with onnxruntime's CUDA provider
  --cpu                   run the model on the CPU only (the default)

Mixed precision (keep the fewest nodes in float so that INT8 stays within a tolerance of the float model):
  --max-drop <points>     the most points of top-1 agreement with the float model (or of accuracy, with
                          --labels) INT8 may lose on the held-out data, e.g. --max-drop 1. Ranks the tensors
                          by their INT8 error, measures the worst --candidates end to end, keeps the best in
                          float until the drop holds; prints what it kept by ONNX node name, and why. At most
                          2 + 2 * candidates model evaluations
  --eval-data <path>      held-out data for --max-drop and --report, as --data takes it (default: the --data)
  --labels <labels.npy>   class index per --eval-data sample: --max-drop is then of accuracy
  --candidates <k>        how many tensors --max-drop measures end to end (default 4)

--data: a .npy (single-input models), a .npz with one array per input name, a folder of them, or a
text file listing them; each holds samples along the first dimension (or one sample).

Exit codes: 0 done, 1 failed, 2 command-line mistake, 130 interrupted.

${IMAGE_USAGE}`;

const CALIBRATE_FLAGS = {
  data: { type: 'string' },
  algorithm: { type: 'string' },
  percentile: { type: 'string' },
  batch: { type: 'string', default: '32' },
  limit: { type: 'string' },
  cache: { type: 'string' },
  qdq: { type: 'string' },
  json: { type: 'string' },
  report: { type: 'string' },
  'report-top': { type: 'string' },
  'tensor-algorithm': { type: 'string', multiple: true },
  recalibrate: { type: 'boolean', default: false },
  'non-finite': { type: 'string' },
  'trt-version': { type: 'string', default: DEFAULT_TENSORRT_VERSION },
  exclude: { type: 'string' },
  placement: { type: 'string' },
  'max-output-mb': { type: 'string' },
  keep: { type: 'string', multiple: true },
  'max-drop': { type: 'string' },
  'eval-data': { type: 'string' },
  labels: { type: 'string' },
  candidates: { type: 'string' },
  cuda: { type: 'boolean', default: false },
  cpu: { type: 'boolean', default: false },
  ...IMAGE_FLAGS,
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const OUTPUT_FLAGS = ['cache', 'qdq', 'json'] as const;

type CalibrateValues = ReturnType<typeof parseFlags<typeof CALIBRATE_FLAGS>>['values'];

/** Everything the command line asks for, checked. */
interface CalibratePlan extends CalibrationDataPlan {
  readonly modelPath: string;
  readonly maxOutputMb?: number;
  readonly exclude?: { names: string[] };
  readonly placement?: Placement;
  /** --exclude names and --keep names (both kept out of INT8 by hand). */
  readonly excludeNames: readonly string[];
  readonly keep: readonly string[];
  /** --max-drop as a fraction. */
  readonly maxDrop?: number;
  readonly candidates?: number;
  /** How many tensors --report measures end to end (0: none). */
  readonly reportTop: number;
  readonly tensorAlgorithms?: TensorAlgorithmFlags;
  readonly values: CalibrateValues;
}

export function parsePercentile(value: string | undefined, algorithm: AlgorithmKind | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (algorithm !== 'percentile') throw new UsageError('--percentile only applies to --algorithm percentile.', { input: '--percentile', expected: '--algorithm percentile', actual: `--algorithm ${algorithm ?? '(default)'}` });
  const percentile = Number(value);
  if (value.trim() === '' || !Number.isFinite(percentile) || percentile <= 0 || percentile > 100) {
    throw new UsageError(`--percentile needs a number in (0, 100], got "${value}".`, { input: '--percentile', expected: 'a number greater than 0 and at most 100', actual: value });
  }
  return percentile;
}

/** undefined leaves the choice to the library's default algorithm. */
export function parseAlgorithm(value: string | undefined): AlgorithmKind | undefined {
  return choiceFlag(value, '--algorithm', ALGORITHM_KINDS);
}

/** The command line as a plan, or a UsageError (exit 2); undefined for --help. */
function planCalibration(argv: readonly string[]): CalibratePlan | undefined {
  const { values, positionals } = parseFlags(argv, CALIBRATE_FLAGS);
  if (values.help) return undefined;
  if (positionals.length !== 1) throw new UsageError(`expected one model path, got ${positionals.length}.`, { input: 'model', expected: 'one model path', actual: positionals });
  if (!values.data) throw new UsageError('--data is required.', { input: '--data', expected: 'a .npy/.npz file, a folder or a list file', actual: 'nothing' });
  if (values.cuda && values.cpu) throw new UsageError('--cuda and --cpu contradict each other; pass one.', { input: '--cpu', expected: 'one of --cuda, --cpu', actual: '--cuda --cpu' });
  if (values.recalibrate && !values.cache) throw new UsageError('--recalibrate only applies with --cache (an existing cache is otherwise never read).', { input: '--recalibrate', expected: '--cache <file>', actual: 'no --cache' });
  const algorithm = parseAlgorithm(values.algorithm);
  const percentile = parsePercentile(values.percentile, algorithm);
  const names = listFlag(values.exclude);
  const placement = choiceFlag(values.placement, '--placement', PLACEMENTS);
  if (placement === 'tensorrt') {
    // A cache is what TensorRT 10's implicit INT8 and `trt-int8 build` read: every tensor of the default plan. The
    // search and the report work on the default placement (keepInHigherPrecision / sensitivityReport say why).
    const conflicting = (['cache', 'max-drop', 'report'] as const).find((flag) => values[flag] !== undefined);
    if (conflicting) {
      throw new UsageError(`--placement tensorrt applies to --qdq (and --json) only, not to --${conflicting}.`, {
        input: '--placement',
        expected: `--placement tensorrt without --${conflicting}`,
        actual: `--placement tensorrt --${conflicting}`,
        fixes: [`Run --${conflicting} without --placement; then write the Q/DQ model with --placement tensorrt --qdq (add --keep for nodes the search kept).`],
      });
    }
  }
  const nonFinite = choiceFlag(values['non-finite'], '--non-finite', NON_FINITE_CHOICES);
  const maxOutputMb = positiveInteger(values['max-output-mb'], '--max-output-mb');
  const limit = positiveInteger(values.limit, '--limit');
  const tensorAlgorithms = parseTensorAlgorithms(values['tensor-algorithm']);
  const keep = [...new Set((values.keep ?? []).map((k) => k.trim()))];
  if (keep.includes('')) throw new UsageError('--keep needs a node name.', { input: '--keep', expected: 'an ONNX node name (trt-int8 inspect model.onnx lists them)', actual: '""' });
  const maxDrop = parseMaxDrop(values['max-drop']);
  const candidates = positiveInteger(values.candidates, '--candidates');
  for (const flag of ['labels', 'candidates'] as const) {
    if (values[flag] !== undefined && maxDrop === undefined) throw new UsageError(`--${flag} only applies with --max-drop.`, { input: `--${flag}`, expected: '--max-drop <points>', actual: 'no --max-drop' });
  }
  if (values['eval-data'] !== undefined && maxDrop === undefined && values.report === undefined) {
    throw new UsageError('--eval-data only applies with --max-drop or --report.', { input: '--eval-data', expected: '--max-drop <points> or --report <dir>', actual: 'neither' });
  }
  const reportTop = nonNegativeInteger(values['report-top'], '--report-top');
  if (reportTop !== undefined && values.report === undefined) throw new UsageError('--report-top only applies with --report.', { input: '--report-top', expected: '--report <dir>', actual: 'no --report' });
  const allExcluded = [...new Set([...(names ?? []), ...keep])];
  return {
    modelPath: positionals[0]!,
    data: values.data,
    ...(algorithm ? { algorithm } : {}),
    batchSize: positiveInteger(values.batch, '--batch')!,
    ...(percentile !== undefined ? { percentile } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(nonFinite ? { nonFinite } : {}),
    ...(maxOutputMb !== undefined ? { maxOutputMb } : {}),
    ...(allExcluded.length ? { exclude: { names: allExcluded } } : {}),
    ...(placement ? { placement } : {}),
    excludeNames: names ?? [],
    keep,
    ...(maxDrop !== undefined ? { maxDrop } : {}),
    ...(candidates !== undefined ? { candidates } : {}),
    reportTop: reportTop ?? DEFAULT_REPORT_TOP,
    ...(tensorAlgorithms ? { tensorAlgorithms } : {}),
    values,
  };
}

/** No output, an output over an input, an unwritable folder: each is refused before any work. */
function checkCalibrateOutputs(plan: CalibratePlan): void {
  const outputs = [...plannedOutputs(plan.values, OUTPUT_FLAGS), ...folderOutputs('--report', plan.values.report, REPORT_FILES)];
  if (outputs.length === 0) {
    throw new UsageError('nothing to write: pass at least one of --cache <file>, --qdq <file>, --json <file>, --report <dir>.', {
      input: '--cache/--qdq/--json/--report',
      expected: 'at least one output',
      actual: 'none',
    });
  }
  checkOutputs(outputs, commandInputs(plan));
}

/** The files the command reads, which no output may overwrite. */
function commandInputs(plan: CalibratePlan) {
  const { values } = plan;
  return [
    { role: 'model', file: plan.modelPath },
    { role: '--data', file: plan.data },
    ...(values['eval-data'] !== undefined ? [{ role: '--eval-data', file: values['eval-data'] }] : []),
    ...(values.labels !== undefined ? [{ role: '--labels', file: values.labels }] : []),
  ];
}

/** The --cache file to read ranges from: an existing one unless --recalibrate. Says so, since the data is then not read. */
function cacheToReuse(plan: CalibratePlan, io: CliIO): string | undefined {
  const cache = plan.values.cache;
  if (!cache || plan.values.recalibrate || !fs.existsSync(cache)) return undefined;
  io.stderr(`note: ${cache} exists: its ranges are reused if it matches the model and algorithm (pass --recalibrate to calibrate again and replace it).`);
  return cache;
}

function describeResult(result: CalibrationResult, reused: string | undefined, io: CliIO): void {
  const { summary } = result;
  if (summary.source === 'cache') {
    io.stdout(`Ranges of ${result.tensors.size} tensors (${result.algorithm.kind}) read from the existing cache ${reused}; no calibration ran (--recalibrate to run it).`);
    return;
  }
  if (reused && summary.cacheRejectedBecause) io.stderr(`note: the existing cache ${reused} was not used: ${summary.cacheRejectedBecause}; calibrated instead.`);
  io.stdout(
    `Calibrated ${result.tensors.size} tensors (${result.algorithm.kind}) on ${summary.samples} samples in ${summary.batches} batches, ` +
      `${summary.seconds.toFixed(2)} s (${summary.samplesPerSecond.toFixed(1)} samples/s).`,
  );
  if (result.modelCheck) io.stdout(describeModelCheck(result.modelCheck));
}

/** One line on 'auto''s whole-model check: the set kept, the per-tensor step, what it cost. */
function describeModelCheck(check: ModelCheck): string {
  if (check.skipped !== undefined) return `Model check: not run (${check.skipped}); the per-tensor ranges kept.`;
  const error = (set: string) => check.candidates.find((c) => c.set === set)?.outputError.toPrecision(3);
  const steps = check.tensorSteps;
  const perTensor = steps === undefined ? '' : `; per tensor, ${steps.kept.length} of ${steps.contested} contested ranges changed (output error ${steps.outputError.toPrecision(3)})${steps.stopped !== undefined ? `, stopped after ${steps.evaluations} runs: ${steps.stopped}` : ''}`;
  const evaluations = check.evaluations + (steps?.evaluations ?? 0);
  return `Model check on ${check.samples} samples: kept ${check.chosen} (output error ${error(check.chosen)}; 'auto' ${error('auto')})${perTensor}; ${evaluations} model runs, ${check.seconds.toFixed(1)} s.`;
}

/** The held-out data, opened afresh for each use, and where it comes from (for messages). */
interface HeldOut {
  readonly open: () => Promise<Calibrator>;
  readonly source: string;
}

/** --max-drop (the search) and --keep: the result to write, with what was kept out of INT8, said on stdout. */
async function keepOutOfInt8(plan: CalibratePlan, model: OnnxModel, result: CalibrationResult, heldOut: HeldOut, labels: Int32Array | undefined, io: CliIO, signal: AbortSignal): Promise<CalibrationResult> {
  let written = result;
  let searched: string[] = [];
  if (plan.maxDrop !== undefined) {
    const mixed = await runMixedPrecision(model, result, await heldOut.open(), {
      maxDrop: plan.maxDrop,
      ...(labels ? { labels } : {}),
      ...(plan.candidates !== undefined ? { candidates: plan.candidates } : {}),
      evalSource: heldOut.source,
    }, io);
    throwIfAborted(signal);
    written = mixed.calibration;
    searched = mixed.kept.flatMap((k) => k.nodes);
  }
  const int8Readers = new Set(
    planQuantization(model, { ...(plan.excludeNames.length ? { exclude: { names: [...plan.excludeNames] } } : {}), ...(plan.placement ? { placement: plan.placement } : {}) }).activations.flatMap((a) => a.consumers.map((n) => n.name)),
  );
  describeKept(plan.keep, searched, io, plan.values.cache !== undefined, int8Readers);
  return written;
}

/**
 * The --report data of the result written, with the end-to-end ranking unless --report-top 0. Computed before anything
 * is written: a result without histograms (ranges from a cache) is refused first, before any model runs.
 */
async function reportOf(plan: CalibratePlan, model: OnnxModel, written: CalibrationResult, heldOut: HeldOut, io: CliIO): Promise<SensitivityReport> {
  sensitivityReport(written);
  if (plan.reportTop === 0) return sensitivityReport(written);
  const endToEnd = await measureEndToEnd(model, written, await heldOut.open(), { top: plan.reportTop });
  describeEndToEnd(endToEnd, io);
  return sensitivityReport(written, endToEnd);
}

/** One line for the end-to-end ranking: what was measured, and the tensor that matters most. */
function describeEndToEnd(e: EndToEndRanking, io: CliIO): void {
  const first = e.tensors[0];
  const lead = first ? ` Largest effect: "${first.tensor}" (SQNR rank ${first.proxyRank}): ${first.best === 'float' ? 'in float' : `with the ${first.best} range`} it removes ${(first.errorRemoved * 100).toFixed(1)} % of the output error.` : '';
  io.stdout(`Report: the ${e.tensors.length} worst tensors by SQNR measured end to end on ${e.samples} samples (${e.evaluations} model runs).${lead}`);
}

/** The share of a graph input's values a range may clip before the command warns (1 %). */
const INPUT_CLIPPING_WARNING = 0.01;

/**
 * A graph input whose range clips more than 1 % of its values (entropy on a normalised image: the background spike)
 * costs accuracy without a word: say so, with the share, the range, the largest |x| and the fix. Not for 'auto',
 * whose range is the one of least measured error, clipped or not.
 */
function warnInputClipping(result: CalibrationResult, model: OnnxModel, io: CliIO): void {
  for (const input of model.inputs()) {
    const t = result.tensors.get(input.name);
    if (!t?.histogram || t.histogram.count === 0) continue;
    const algorithm = (t.algorithm ?? result.algorithm).kind;
    if (algorithm === 'auto') continue;
    const { clippedShare } = quantizationError(t.histogram, t.amax);
    if (clippedShare <= INPUT_CLIPPING_WARNING) continue;
    io.stderr(
      `warning: the ${algorithm} range of input "${input.name}" clips ${(clippedShare * 100).toFixed(1)} % of its values (amax ${Number(t.amax.toPrecision(4))}, ` +
        `|x| reaches ${Number(t.histogram.absMax.toPrecision(4))}). Keep its full range with --tensor-algorithm input=minmax, or use the default --algorithm auto.`,
    );
  }
}

/** All outputs at the end, each atomically (a failure leaves the old file, never a torn one). */
async function writeOutputs(result: CalibrationResult, plan: CalibratePlan, io: CliIO, reportData: SensitivityReport | undefined): Promise<void> {
  const { cache, qdq, json, report } = plan.values;
  const qdqBytes = qdq ? result.toQdqModel() : undefined;
  if (cache) {
    await result.writeCache(cache, plan.values['trt-version']);
    io.stdout(`wrote ${cache}`);
  }
  if (qdq) {
    await writeFileAtomic(qdq, qdqBytes!);
    io.stdout(`wrote ${qdq}`);
  }
  if (json) {
    await writeFileAtomic(json, `${JSON.stringify(result, null, 2)}\n`);
    io.stdout(`wrote ${json}`);
  }
  if (report) {
    const written = await writeSensitivityReport(result, report, reportData);
    io.stdout(`wrote ${written.join(', ')}`);
  }
}

/** Runs `trt-int8 calibrate` with `argv` (the arguments after "calibrate"). Resolves to the exit code. */
export async function runCalibrateCommand(argv: readonly string[], io: CliIO, progressStream: ProgressStream = process.stderr): Promise<number> {
  return runCommand(io, CALIBRATE_USAGE, async (signal) => {
    const plan = planCalibration(argv);
    if (!plan) {
      io.stdout(CALIBRATE_USAGE);
      return EXIT_OK;
    }
    for (const input of commandInputs(plan)) requireExisting(input.file, input.role);
    checkCalibrateOutputs(plan);
    const model = await OnnxModel.load(plan.modelPath);
    const firstInput = model.inputs()[0];
    await checkDataMatchesFlags(plan.data, plan.values, firstInput);
    const evalPath = plan.values['eval-data'];
    if (evalPath !== undefined) await checkDataMatchesFlags(evalPath, plan.values, firstInput);
    const images = imageOptionsFromFlags(plan.values);
    if (images) checkChannelsMatchModel(images, firstInput);
    checkNodeNames('--exclude', plan.excludeNames, model);
    checkNodeNames('--keep', plan.keep, model);
    const labels = plan.values.labels !== undefined ? await readLabels(plan.values.labels) : undefined;
    if (labels) {
      // Labels score the first output's argmax: a map instead of a class vector is refused before any work.
      try {
        checkClassOutput(model.outputs()[0]!);
      } catch (error) {
        throw UsageError.from(error);
      }
    }
    if (plan.tensorAlgorithms) checkTensorNames(plan.tensorAlgorithms, planQuantization(model, qdqPlanOptions(plan)).activationNames);
    const reused = cacheToReuse(plan, io);
    const { calibrator, describe } = await openCalibrator(plan, model.inputs(), io, {
      ...(images ? { images } : {}),
      ...(reused ? { cachePath: reused } : {}),
      remainder: remainderFor(model.inputs()),
    });
    const progress = progressReporter(io, progressStream, 'calibrate');
    let result;
    try {
      result = await calibrate(model, calibrator, {
        signal,
        onProgress: (p) => progress.update(p),
        tensorRTVersion: plan.values['trt-version'],
        executionProviders: plan.values.cuda ? ['cuda', 'cpu'] : ['cpu'],
        ...qdqPlanOptions(plan),
        ...(plan.tensorAlgorithms ? { tensorAlgorithms: toTensorAlgorithms(plan.tensorAlgorithms) } : {}),
        ...(plan.maxOutputMb ? { maxOutputBytesPerRun: plan.maxOutputMb * 1024 * 1024 } : {}),
        // --json writes the histograms, --report and --max-drop read them: counted even for --algorithm minmax.
        ...(plan.values.json !== undefined || plan.values.report !== undefined || plan.maxDrop !== undefined ? { histograms: true } : {}),
      });
    } finally {
      progress.done();
    }
    describe();
    describeResult(result, reused, io);
    warnInputClipping(result, model, io);
    // Held-out data (--eval-data, else the --data, read again) as a calibrator: read, copied and closed by its user.
    const heldOut: HeldOut = {
      open: async () =>
        (await openCalibrator({ ...plan, data: evalPath ?? plan.data, ...(evalPath !== undefined ? { limit: undefined } : {}) }, model.inputs(), io, {
          ...(images ? { images } : {}),
          remainder: remainderFor(model.inputs()),
        })).calibrator,
      source: evalPath !== undefined ? `the --eval-data ${evalPath}` : `the --data ${plan.data} (no --eval-data given)`,
    };
    const written = await keepOutOfInt8(plan, model, result, heldOut, labels, io, signal);
    const reportData = plan.values.report !== undefined ? await reportOf(plan, model, written, heldOut, io) : undefined;
    throwIfAborted(signal); // Ctrl-C during the search or the report: nothing is written
    await writeOutputs(written, plan, io, reportData);
    return EXIT_OK;
  });
}

