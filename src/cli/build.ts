/**
 * `trt-int8 build <model.onnx> -o <model.engine>`: the trtexec of this library. ONNX in, TensorRT engine out,
 * through the public buildEngine() and Engine.save(); INT8 calibrates on --data (the forms of `calibrate`)
 * or reads --cache. Every mistake that can be found without TensorRT is found first (exit 2).
 */
import fs from 'node:fs';
import { ALGORITHM_KINDS, type AlgorithmKind } from '../core/algorithm.js';
import type { NonFinitePolicy } from '../core/batch.js';
import { OnnxModel, type OnnxNode } from '../onnx/index.js';
import { buildEngine } from '../tensorrt/index.js';
import { INT8_ROUTES, checkAgainstModel, checkBuildOptions } from '../tensorrt/options.js';
import type { InputSpec } from '../core/tensor.js';
import type { BuildEngineOptions, BuildProgress, Int8Route, LayerPrecisionChoice, OptimizationProfile, Precision, PrecisionExclusion } from '../tensorrt/types.js';
import { UsageError, choiceFlag, listFlag, nearestOption, parseFlags, positiveInteger, requireExisting } from './args.js';
import { NON_FINITE_CHOICES, parseAlgorithm, parsePercentile } from './calibrate.js';
import { cacheOnlyCalibrator, openCalibrator, type OpenedCalibrator } from './calibration-data.js';
import { formatEngineSummary, summarizeEngine } from './engine-layers.js';
import { IMAGE_FLAGS, IMAGE_USAGE, checkChannelsMatchModel, checkDataMatchesFlags, imageOptionsFromFlags } from './images.js';
import { EXIT_OK, runCommand, type CliIO, type ProgressStream } from './io.js';
import { checkOutputs, plannedOutputs } from './outputs.js';
import { parseCalibrationProfile, parseProfiles } from './shapes.js';

export const BUILD_USAGE = `Usage: trt-int8 build <model.onnx> -o <model.engine> [--fp16 | --int8 | --best] [options]

Builds a TensorRT engine from an ONNX model with buildEngine() and saves it (needs TensorRT: trt-int8 doctor).

Precision (default FP32; pass at most one):
  --fp16                  allow FP16 kernels
  --int8                  INT8 from --data (or --cache); a Q/DQ model needs neither
  --best                  INT8 plus FP16 where INT8 does not pay

Calibration (--int8 / --best):
  --data <npy|npz|list|dir>  calibration data, as for trt-int8 calibrate (images need --image-size)
  --cache <file>          TensorRT calibration cache: read if it exists and matches, written after calibration
  --algorithm <name>      ${ALGORITHM_KINDS.join(', ')} (default: the library's default)
  --percentile <p>        for --algorithm percentile, in (0, 100]
  --batch <n>             samples per calibration batch (default: the calibration shape's first dimension, else 32)
  --limit <n>             use at most n samples
  --non-finite <policy>   NaN/Infinity in the data: error (default), warn, allow
  --int8-route <route>    where the ranges come from (TensorRT 10): calibrate (TensorRT's own calibrator; the
                          default for entropy2, entropy, minmax, legacy), cache (ours, read by TensorRT as its
                          calibration cache; the default for auto, percentile), qdq (ours as Q/DQ nodes; 11.x)

Shapes (models with dynamic dimensions):
  --profile <input>:<min>,<opt>,<max>   one input's range, shapes like 1x3x224x224; repeat for each input;
                                        naming an input again starts the next optimization profile
  --calibration-profile <input>:<shape> the shape calibration runs at (default: the OPT shape of profile 0)

Build:
  -o, --output <file>     the engine file to write (required; checked before the build, written at the end)
  --exclude <list>        comma-separated ONNX node names or op types to keep in higher precision
                          (trt-int8 inspect model.onnx lists both)
  --layer-precisions <list>  comma-separated <node|*>:<int8|fp16|fp32>, the precision to ask of those layers
                          (TensorRT 10; as trtexec --layerPrecisions), e.g. '*:int8' for INT8 wherever a kernel exists
  --precision-constraints <prefer|obey>  where a layer has no kernel in the precision asked: fall back with a
                          warning (prefer, the default) or fail the build (obey)
  --timing-cache <file>   read if present, used by the builder, saved back
  --workspace <MiB>       workspace memory pool limit
  --opt-level <0-5>       builder optimization level (TensorRT's default 3)
  --tensorrt <folder>     the TensorRT folder to use (default: the first one found)
  --verbose               print TensorRT's info log lines too

Exit codes: 0 done, 1 failed (e.g. ERR_TENSORRT_NOT_FOUND, ERR_BUILD_FAILED), 2 command-line mistake, 130 interrupted.

${IMAGE_USAGE}`;

const BUILD_FLAGS = {
  output: { type: 'string', short: 'o' },
  fp16: { type: 'boolean', default: false },
  int8: { type: 'boolean', default: false },
  best: { type: 'boolean', default: false },
  data: { type: 'string' },
  cache: { type: 'string' },
  algorithm: { type: 'string' },
  percentile: { type: 'string' },
  'int8-route': { type: 'string' },
  batch: { type: 'string' },
  limit: { type: 'string' },
  'non-finite': { type: 'string' },
  profile: { type: 'string', multiple: true },
  'calibration-profile': { type: 'string', multiple: true },
  exclude: { type: 'string' },
  'layer-precisions': { type: 'string' },
  'precision-constraints': { type: 'string' },
  'timing-cache': { type: 'string' },
  workspace: { type: 'string' },
  'opt-level': { type: 'string' },
  tensorrt: { type: 'string' },
  verbose: { type: 'boolean', default: false },
  ...IMAGE_FLAGS,
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type BuildValues = ReturnType<typeof parseFlags<typeof BUILD_FLAGS>>['values'];

interface BuildPlan {
  readonly modelPath: string;
  readonly output: string;
  readonly precision: Precision;
  readonly profiles: OptimizationProfile[];
  readonly calibrationProfile?: Record<string, number[]>;
  readonly algorithm?: AlgorithmKind;
  readonly percentile?: number;
  readonly batch?: number;
  readonly limit?: number;
  readonly nonFinite?: NonFinitePolicy;
  readonly exclude?: string[];
  readonly layerPrecisions?: Record<string, LayerPrecisionChoice>;
  readonly precisionConstraints?: 'prefer' | 'obey';
  readonly workspaceMiB?: number;
  readonly optLevel?: number;
  readonly int8Route?: Int8Route;
  readonly values: BuildValues;
}

function parsePrecision(values: BuildValues): Precision {
  const given = (['fp16', 'int8', 'best'] as const).filter((p) => values[p]);
  if (given.length > 1) {
    const hint = given.includes('best') ? 'pass one of them' : '--best is INT8 plus FP16';
    throw new UsageError(`--${given.join(' and --')} conflict: pass at most one precision (${hint}).`, { input: `--${given[1]}`, expected: 'at most one of --fp16, --int8, --best', actual: given.map((p) => `--${p}`).join(' ') });
  }
  return given[0] ?? 'fp32';
}

function parseOptLevel(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-5]$/.test(value)) throw new UsageError(`--opt-level needs an integer from 0 to 5, got "${value}".`, { input: '--opt-level', expected: 'an integer 0..5', actual: value });
  return Number(value);
}

/** Calibration flags without INT8 would be ignored: say so instead. */
function refuseCalibrationFlagsWithout(values: BuildValues, precision: Precision): void {
  if (precision === 'int8' || precision === 'best') return;
  const calibrationOnly = (['data', 'cache', 'algorithm', 'percentile', 'batch', 'limit', 'non-finite', 'calibration-profile', 'int8-route'] as const).filter((k) => values[k] !== undefined);
  if (calibrationOnly.length > 0) {
    throw new UsageError(`--${calibrationOnly[0]} only applies to INT8 builds: add --int8 or --best, or drop it.`, { input: `--${calibrationOnly[0]}`, expected: '--int8 or --best', actual: precision });
  }
}

function planBuild(argv: readonly string[]): BuildPlan | undefined {
  const { values, positionals } = parseFlags(argv, BUILD_FLAGS);
  if (values.help) return undefined;
  if (positionals.length !== 1) throw new UsageError(`expected one ONNX model path, got ${positionals.length}.`, { input: 'model', expected: 'one model path', actual: positionals });
  if (!values.output) throw new UsageError('-o/--output <file> is required: where to write the engine.', { input: '--output', expected: 'an engine file path', actual: 'nothing' });
  const precision = parsePrecision(values);
  refuseCalibrationFlagsWithout(values, precision);
  const algorithm = parseAlgorithm(values.algorithm);
  const percentile = parsePercentile(values.percentile, algorithm);
  const calibrationProfile = parseCalibrationProfile(values['calibration-profile'] ?? []);
  const batch = positiveInteger(values.batch, '--batch');
  const limit = positiveInteger(values.limit, '--limit');
  const nonFinite = choiceFlag(values['non-finite'], '--non-finite', NON_FINITE_CHOICES);
  const exclude = listFlag(values.exclude);
  const layerPrecisions = parseLayerPrecisions(values['layer-precisions']);
  const precisionConstraints = choiceFlag(values['precision-constraints'], '--precision-constraints', ['prefer', 'obey'] as const);
  const workspaceMiB = positiveInteger(values.workspace, '--workspace');
  const optLevel = parseOptLevel(values['opt-level']);
  const int8Route = choiceFlag(values['int8-route'], '--int8-route', INT8_ROUTES);
  return {
    modelPath: positionals[0]!,
    output: values.output,
    precision,
    profiles: parseProfiles(values.profile ?? []),
    values,
    ...(calibrationProfile ? { calibrationProfile } : {}),
    ...(algorithm ? { algorithm } : {}),
    ...(percentile !== undefined ? { percentile } : {}),
    ...(batch !== undefined ? { batch } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(nonFinite ? { nonFinite } : {}),
    ...(exclude?.length ? { exclude } : {}),
    ...(layerPrecisions ? { layerPrecisions } : {}),
    ...(precisionConstraints ? { precisionConstraints } : {}),
    ...(workspaceMiB !== undefined ? { workspaceMiB } : {}),
    ...(optLevel !== undefined ? { optLevel } : {}),
    ...(int8Route ? { int8Route } : {}),
  };
}

/** --layer-precisions '<node|*>:<precision>,...' (split at each entry's last ':', as node names may hold one). */
function parseLayerPrecisions(value: string | undefined): Record<string, LayerPrecisionChoice> | undefined {
  const entries = listFlag(value);
  if (!entries?.length) return undefined;
  const wanted: Record<string, LayerPrecisionChoice> = {};
  for (const entry of entries) {
    const at = entry.lastIndexOf(':');
    const name = entry.slice(0, at);
    const precision = entry.slice(at + 1);
    if (at <= 0 || !(['int8', 'fp16', 'fp32'] as const).includes(precision as LayerPrecisionChoice)) {
      throw new UsageError(`--layer-precisions: "${entry}" is not <node|*>:<int8|fp16|fp32>.`, { input: '--layer-precisions', expected: "e.g. '*:int8' or '/head/Gemm:fp32'", actual: entry });
    }
    wanted[name] = precision as LayerPrecisionChoice;
  }
  return wanted;
}

/** --exclude entries as node names or op types of this model; an entry that is neither is a mistake. */
export function resolveExclusion(entries: readonly string[], nodes: readonly OnnxNode[]): PrecisionExclusion {
  const names = new Set(nodes.map((n) => n.name).filter(Boolean));
  const opTypes = new Set(nodes.map((n) => n.opType));
  const exclusion = { names: [] as string[], opTypes: [] as string[] };
  for (const entry of entries) {
    if (names.has(entry)) exclusion.names.push(entry);
    else if (opTypes.has(entry)) exclusion.opTypes.push(entry);
    else {
      const near = nearestOption(entry, [...names, ...opTypes]);
      throw new UsageError(`--exclude: the model has no node named "${entry}" and no op type "${entry}".${near ? ` Did you mean "${near}"?` : ''}`, {
        input: '--exclude',
        expected: 'node names or op types of the model (trt-int8 inspect model.onnx lists them)',
        actual: entry,
      });
    }
  }
  return { ...(exclusion.names.length ? { names: exclusion.names } : {}), ...(exclusion.opTypes.length ? { opTypes: exclusion.opTypes } : {}) };
}

/** Every named input must exist, every output be writable and none of them an input, before the build. */
function checkBuildPaths(plan: BuildPlan): void {
  requireExisting(plan.modelPath, 'model');
  if (plan.values.data) requireExisting(plan.values.data, '--data');
  const inputs = [{ role: 'model', file: plan.modelPath }, ...(plan.values.data ? [{ role: '--data', file: plan.values.data }] : [])];
  checkOutputs(plannedOutputs(plan.values, ['output', 'cache', 'timing-cache']), inputs);
}

function hasQdq(model: OnnxModel): boolean {
  return model.nodes.some((n) => n.domain === '' && (n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear'));
}

/** The first dimension of the shape calibration runs at: the batch size that fits it. */
function calibrationBatch(plan: BuildPlan, model: OnnxModel): number {
  if (plan.batch) return plan.batch;
  const first = model.inputs()[0];
  if (!first) return 32;
  const fromFlags = plan.calibrationProfile?.[first.name]?.[0] ?? plan.profiles[0]?.[first.name]?.opt[0];
  const fixed = (first.shape[0] ?? -1) > 0 ? first.shape[0] : undefined;
  return fromFlags ?? fixed ?? 32;
}

/** The INT8 calibrator: --data (with --cache as its cache), --cache alone, or none for a Q/DQ model. */
async function buildCalibrator(plan: BuildPlan, model: OnnxModel, io: CliIO): Promise<OpenedCalibrator | undefined> {
  if (plan.precision !== 'int8' && plan.precision !== 'best') return undefined;
  const { data, cache } = plan.values;
  if (data) {
    const first = model.inputs()[0];
    await checkDataMatchesFlags(data, plan.values, first);
    const images = imageOptionsFromFlags(plan.values);
    if (images) checkChannelsMatchModel(images, first);
    const dataPlan = { data, batchSize: calibrationBatch(plan, model), ...(plan.algorithm ? { algorithm: plan.algorithm } : {}), ...(plan.percentile !== undefined ? { percentile: plan.percentile } : {}), ...(plan.limit ? { limit: plan.limit } : {}), ...(plan.nonFinite ? { nonFinite: plan.nonFinite } : {}) };
    // TensorRT calibrates at one fixed shape: a short last batch could not be used.
    return openCalibrator(dataPlan, model.inputs(), io, { ...(images ? { images } : {}), ...(cache ? { cachePath: cache } : {}), remainder: 'drop' });
  }
  if (cache && fs.existsSync(cache)) {
    io.stderr(`note: no --data: the ranges come from ${cache} (TensorRT refuses it if it does not match the model).`);
    return { calibrator: cacheOnlyCalibrator(plan.algorithm, cache), describe: () => undefined };
  }
  if (hasQdq(model)) return undefined;
  throw new UsageError(`--${plan.precision} needs calibration data: pass --data <npy|npz|list|dir> (or --cache with an existing cache); the model has no Q/DQ nodes.`, {
    input: '--data',
    expected: '--data, an existing --cache, or a Q/DQ model',
    actual: cache ? `--cache ${cache} (does not exist)` : 'none',
  });
}

/** Builder progress: a line redrawn in place on a terminal; on other streams, a line per phase start and end. */
function buildProgress(io: CliIO, stream: ProgressStream): { update(p: BuildProgress): void; done(): void } {
  const tty = Boolean(stream.isTTY);
  const totals = new Map<string, number>();
  let drawn = false;
  return {
    update(p) {
      if (p.event === 'start') totals.set(p.phase, p.n);
      const total = totals.get(p.phase);
      const text = p.event === 'step' ? `${p.phase} ${p.n + 1}${total ? `/${total}` : ''}` : `${p.phase} ${p.event === 'start' ? 'started' : 'finished'}`;
      if (tty) {
        stream.write(`\r\x1b[2Kbuild: ${text}`);
        drawn = true;
      } else if (p.event !== 'step' && p.parent === undefined) {
        io.stderr(`build: ${text}`);
      }
    },
    done() {
      if (tty && drawn) stream.write('\n');
    },
  };
}

function buildOptions(plan: BuildPlan, model: OnnxModel, calibrator: OpenedCalibrator | undefined, io: CliIO, signal: AbortSignal, onProgress: (p: BuildProgress) => void): BuildEngineOptions {
  const exclude = plan.exclude ? resolveExclusion(plan.exclude, model.nodes) : undefined;
  return {
    precision: plan.precision,
    signal,
    onProgress,
    logger: {
      error: (m) => io.stderr(`tensorrt error: ${m}`),
      warning: (m) => io.stderr(`tensorrt warning: ${m}`),
      ...(plan.values.verbose ? { info: (m: string) => io.stderr(`tensorrt: ${m}`) } : {}),
    },
    ...(calibrator ? { calibrator: calibrator.calibrator } : {}),
    ...(plan.profiles.length ? { profiles: plan.profiles } : {}),
    ...(plan.calibrationProfile ? { calibrationProfile: plan.calibrationProfile } : {}),
    ...(exclude ? { exclude } : {}),
    ...(plan.layerPrecisions ? { layerPrecisions: plan.layerPrecisions } : {}),
    ...(plan.precisionConstraints ? { precisionConstraints: plan.precisionConstraints } : {}),
    ...(plan.values['timing-cache'] ? { timingCache: plan.values['timing-cache'] } : {}),
    ...(plan.workspaceMiB ? { workspace: plan.workspaceMiB * 1024 * 1024 } : {}),
    ...(plan.optLevel !== undefined ? { builderOptimizationLevel: plan.optLevel } : {}),
    ...(plan.int8Route ? { int8Route: plan.int8Route } : {}),
    ...(plan.values.tensorrt ? { tensorrt: { root: plan.values.tensorrt } } : {}),
  };
}

function exampleProfile(input: InputSpec): string {
  const shape = (fill: number) => input.shape.map((d, i) => (d > 0 ? d : i === 0 ? fill : 224)).join('x');
  return `--profile ${input.name}:${shape(1)},${shape(8)},${shape(32)}`;
}

/**
 * The shape and exclusion options checked against the model as buildEngine() will check them, but before
 * any work and as command-line mistakes (exit 2); a dynamic model without --profile gets an example.
 */
function checkShapesAgainstModel(plan: BuildPlan, model: OnnxModel, options: BuildEngineOptions): void {
  const dynamic = model.inputs().filter((i) => i.shape.some((d) => d < 0));
  if (dynamic.length > 0 && plan.profiles.length === 0) {
    throw new UsageError(`the model has dynamic inputs (${dynamic.map((i) => `${i.name} [${i.shape.join(', ')}]`).join('; ')}): pass an optimization profile, e.g. ${dynamic.map(exampleProfile).join(' ')}.`, {
      input: '--profile',
      expected: dynamic.map(exampleProfile).join(' '),
      actual: 'no --profile',
    });
  }
  try {
    checkBuildOptions(options);
    checkAgainstModel(options, model.inputs(), model.nodes);
  } catch (error) {
    throw UsageError.from(error);
  }
}

/** Runs `trt-int8 build` with `argv` (the arguments after "build"). Resolves to the exit code. */
export async function runBuildCommand(argv: readonly string[], io: CliIO, progressStream: ProgressStream = process.stderr): Promise<number> {
  return runCommand(io, BUILD_USAGE, async (signal) => {
    const plan = planBuild(argv);
    if (!plan) {
      io.stdout(BUILD_USAGE);
      return EXIT_OK;
    }
    checkBuildPaths(plan);
    const model = await OnnxModel.load(plan.modelPath);
    if (plan.exclude) resolveExclusion(plan.exclude, model.nodes); // a typo is a mistake found before any work
    const progress = buildProgress(io, progressStream);
    checkShapesAgainstModel(plan, model, buildOptions(plan, model, undefined, io, signal, () => undefined));
    const calibrator = await buildCalibrator(plan, model, io);
    let engine;
    try {
      engine = await buildEngine(plan.modelPath, buildOptions(plan, model, calibrator, io, signal, (p) => progress.update(p)));
    } finally {
      progress.done();
    }
    try {
      calibrator?.describe();
      await engine.save(plan.output);
      const summary = summarizeEngine(engine.inspect(), plan.output);
      io.stdout(formatEngineSummary(summary).split('\n')[0]!.replace(/^[^:]*: /, `wrote ${plan.output}: `));
    } finally {
      engine.dispose();
    }
    return EXIT_OK;
  });
}
