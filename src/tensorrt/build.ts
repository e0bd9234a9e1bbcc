/**
 * buildEngine(): ONNX -> TensorRT engine, FP32 / FP16 / INT8.
 *
 * INT8 takes one of two routes:
 * - implicit calibration (TensorRT 10.x, calibrators TensorRT has: entropy2, entropy, minmax, legacy): the
 *   builder calls our IInt8*Calibrator subclass, which asks the TypeScript calibrator for batches through the
 *   core's calibrator bridge;
 * - Q/DQ (TensorRT 11.x, or a calibrator TensorRT lacks such as percentile): our statistics engine computes
 *   the ranges (or a TensorRT calibration cache provides them), we insert QuantizeLinear/DequantizeLinear
 *   pairs, and TensorRT builds that model.
 */
import { TrtInt8Error, throwIfAborted, untilAborted } from '../core/errors.js';
import { readFileOrNull, writeFileAtomic } from '../core/files.js';
import { formatCalibrationCache, parseCalibrationCache, scaleToAmax } from '../cache/calibration-cache.js';
import { Calibrator } from '../calibrators/calibrator.js';
import type { InputSpec } from '../core/tensor.js';
import { calibrate, type CalibrateOptions } from '../calibrate/calibrate.js';
import { runNativeJob } from '../bridge/session.js';
import { OnnxModel } from '../onnx/model.js';
import { insertQdq, type Placement } from '../onnx/qdq.js';
import { fitCalibratorToProfile } from '../shapes/fit-calibrator.js';
import { Engine, openTensorRT } from './engine.js';
import { noInt8Warning } from './layer-precisions.js';
import { ClippingWatchCalibrator } from './input-clipping.js';
import { logSeverityMask, maxLogSeverity, routeLogLine } from './log.js';
import { callNative, type NativeBuildSpec, type NativeTensorRTModule } from '../native/index.js';
import { checkAgainstModel, checkBuildOptions } from './options.js';
import type { BuildEngineOptions, Int8Route, Precision } from './types.js';

/** TensorRT 10's calibrators, by our algorithm kind. */
const TENSORRT_CALIBRATORS = { entropy2: 'entropy2', entropy: 'entropy', minmax: 'minmax', legacy: 'legacy' } as const;

/** Serves no batches: the bridge needs a calibrator even for builds that do not calibrate. */
class NoCalibration extends Calibrator {
  constructor() {
    super('minmax');
  }
  getBatch(): null {
    return null;
  }
  override async readCache(): Promise<null> {
    return null;
  }
  override async writeCache(): Promise<void> {}
}

/**
 * The 'cache' route's calibrator for TensorRT: it serves our ranges as TensorRT's calibration cache (so TensorRT runs
 * no calibration and asks for no batch) and passes the cache TensorRT writes back on to the user's calibrator.
 */
class RangesAsCache extends Calibrator {
  readonly #cache: Uint8Array;
  readonly #user: Calibrator;
  constructor(cache: Uint8Array, user: Calibrator) {
    super('entropy2');
    this.#cache = cache;
    this.#user = user;
  }
  getBatch(): null {
    return null;
  }
  override async readCache(): Promise<Uint8Array> {
    return this.#cache;
  }
  override async writeCache(cache: Uint8Array): Promise<void> {
    await this.#user.writeCache(cache);
  }
}

/**
 * The 'cache' route: our ranges for every activation, as the calibration cache TensorRT's EntropyCalibrator2 reads
 * (its scales are used as they are). A cache the calibrator already has is used instead, re-labelled for this
 * TensorRT version: the scales are the user's, only the header changes.
 */
async function rangesAsTensorRTCache(model: OnnxModel, options: BuildEngineOptions, version: { major: number; minor: number; patch: number }): Promise<Uint8Array> {
  const calibrator = options.calibrator!;
  const versionText = `${version.major}.${version.minor}.${version.patch}`;
  const cached = await calibrator.readCache();
  if (cached && cached.byteLength > 0) {
    const { scales } = parseCalibrationCache(cached);
    return new TextEncoder().encode(formatCalibrationCache({ version: versionText, algorithm: 'entropy2', scales }));
  }
  // Every activation for TensorRT's implicit INT8, whatever placement a Q/DQ model would have (tensors and placement
  // exclude each other).
  const { placement: _qdqOnly, ...calibrateOptions } = ourCalibrationOptions(options);
  const result = await calibrate(model, calibrator, {
    ...calibrateOptions,
    tensors: options.calibrate?.tensors ?? model.floatActivationNames(),
    tensorRTVersion: versionText,
  });
  return new TextEncoder().encode(result.toTensorRTCache(versionText, { algorithm: 'entropy2' }));
}

interface Int8Preparation {
  /** The model TensorRT parses: the user's, or with our Q/DQ nodes. */
  readonly onnxBytes: Uint8Array;
  /** What the bridge serves TensorRT: the user's calibrator, watched, or our ranges as a cache. */
  readonly calibrator: Calibrator | undefined;
  readonly trtCalibrator: NativeBuildSpec['calibrator'];
  /** Set when TensorRT chooses the ranges: it reports ranges that clip the inputs. */
  readonly watch: ClippingWatchCalibrator | undefined;
}

/** What the chosen INT8 route needs before TensorRT runs: ranges computed here, a Q/DQ model, a watched calibrator. */
async function prepareInt8(route: Int8Route | 'none', model: OnnxModel, onnx: string | Uint8Array, options: BuildEngineOptions, version: { major: number; minor: number; patch: number }): Promise<Int8Preparation> {
  const plain = typeof onnx === 'string' ? model.toBytes() : onnx;
  const user = options.calibrator;
  switch (route) {
    case 'calibrate': {
      const kind = user!.algorithm.kind as keyof typeof TENSORRT_CALIBRATORS;
      // Min-max cannot clip; TensorRT's other ranges are checked against the inputs they were computed from.
      const watch = kind === 'minmax' ? undefined : new ClippingWatchCalibrator(user!, model.inputs().map((i) => i.name));
      return { onnxBytes: plain, calibrator: watch ?? user, trtCalibrator: TENSORRT_CALIBRATORS[kind], watch };
    }
    case 'cache':
      return { onnxBytes: plain, calibrator: new RangesAsCache(await rangesAsTensorRTCache(model, options, version), user!), trtCalibrator: 'entropy2', watch: undefined };
    case 'qdq':
      return { onnxBytes: await qdqModel(model, options), calibrator: user, trtCalibrator: 'none', watch: undefined };
    case 'none':
      return { onnxBytes: plain, calibrator: user, trtCalibrator: 'none', watch: undefined };
  }
}

/** Which INT8 route a build takes (docs: Int8Route); 'none' for builds that are not INT8 or read existing Q/DQ. */
function chooseInt8Route(options: BuildEngineOptions, int8: boolean, quantized: boolean, implicit: boolean): Int8Route | 'none' {
  if (!int8 || quantized) return 'none';
  const kind = options.calibrator?.algorithm.kind;
  const tensorrtHasIt = kind !== undefined && kind in TENSORRT_CALIBRATORS;
  // 10.x, our algorithms ('auto', 'percentile'): our ranges as TensorRT's cache. Implicit INT8 leaves TensorRT free to
  // fuse and to pick precisions per layer; on ResNet-50 (H200) it ran at 0.86x FP16's batch-32 latency where our Q/DQ
  // engines ran at 0.95-1.00x (docs/tensorrt.md).
  const route = options.int8Route ?? (!implicit || options.stronglyTyped ? 'qdq' : tensorrtHasIt ? 'calibrate' : 'cache');
  if (route !== 'qdq' && !implicit) {
    throw new TrtInt8Error('ERR_TENSORRT_UNSUPPORTED_VERSION', `buildEngine: int8Route '${route}' needs TensorRT 10.x; TensorRT 11 has no implicit INT8.`, {
      input: 'int8Route',
      expected: "'qdq' on TensorRT 11",
      actual: route,
      fixes: ["Leave int8Route out (11.x takes 'qdq')."],
    });
  }
  if (route === 'calibrate' && !tensorrtHasIt) {
    throw new TrtInt8Error('ERR_BAD_OPTION', `buildEngine: int8Route 'calibrate' runs TensorRT's own calibrator, which has no '${kind}' algorithm.`, {
      input: 'int8Route',
      expected: `a calibrator with one of ${Object.keys(TENSORRT_CALIBRATORS).join(', ')}`,
      actual: kind,
      fixes: ["Use int8Route 'cache' to give TensorRT our ranges as its calibration cache.", "Use int8Route 'qdq' for explicit quantization."],
    });
  }
  return route;
}

function hasQdq(model: OnnxModel): boolean {
  return model.nodes.some((n) => n.domain === '' && (n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear'));
}

function unsupportedOn11(precision: Precision): TrtInt8Error {
  return new TrtInt8Error('ERR_TENSORRT_UNSUPPORTED_VERSION', `buildEngine: precision '${precision}' needs TensorRT 10.x; TensorRT 11 builds every network strongly typed, so the ONNX types decide the precision.`, {
    input: 'precision',
    expected: "'fp32' or 'int8' on TensorRT 11",
    actual: precision,
    fixes: [
      "Convert the model to FP16 first (e.g. Python: onnxconverter_common.float16.convert_float_to_float16(model, keep_io_types=True)) and build it with precision 'fp32': the FP16 types in the ONNX make the engine FP16.",
      "Use precision 'int8': trt-int8 inserts Q/DQ nodes with the ranges it computes.",
      'Use TensorRT 10.x, which still has the FP16 builder flag (TENSORRT_ROOT=/path/to/TensorRT-10).',
    ],
  });
}

function layerPrecisionsOn11(): TrtInt8Error {
  return new TrtInt8Error('ERR_TENSORRT_UNSUPPORTED_VERSION', 'buildEngine: layerPrecisions needs TensorRT 10.x; TensorRT 11 builds every network strongly typed, so the ONNX types decide each layer\'s precision.', {
    input: 'layerPrecisions',
    expected: 'no layerPrecisions on TensorRT 11',
    actual: 'layerPrecisions',
    fixes: ["Put the precision into the model: Q/DQ nodes for INT8 (precision 'int8'), convertToFp16 for FP16.", 'Use TensorRT 10.x (TENSORRT_ROOT=/path/to/TensorRT-10).'],
  });
}

/**
 * Checks a calibration cache against the TensorRT that will read it (ERR_CACHE_FORMAT if malformed,
 * ERR_CACHE_MISMATCH if written by another version or for another algorithm).
 */
export function checkCacheForTensorRT(cache: Uint8Array | string, version: { major: number; minor: number; patch: number }, algorithm: string): void {
  parseCalibrationCache(cache, { version, algorithm });
}

/**
 * A TensorRT (10.x) calibration cache turned into a Q/DQ model for a TensorRT 11 build: each tensor's
 * amax = scale * 127, one Q/DQ pair per calibrated activation, per-channel weight scales.
 */
export function qdqModelFromCache(model: OnnxModel, cache: Uint8Array | string, exclude?: { names: readonly string[]; opTypes: readonly string[] }, placement?: Placement): Uint8Array {
  const parsed = parseCalibrationCache(cache);
  const amax = new Map([...parsed.scales].map(([name, scale]) => [name, scaleToAmax(scale)]));
  return insertQdq(model, { amax, ...(exclude ? { exclude } : {}), ...(placement ? { placement } : {}) }).toBytes();
}

/**
 * The Q/DQ model for INT8 without implicit calibration: from the calibrator's cache when it has one (a
 * TensorRT 10 calibration cache: amax = scale * 127), else from our statistics engine.
 */
async function qdqModel(model: OnnxModel, options: BuildEngineOptions): Promise<Uint8Array> {
  const calibrator = options.calibrator!;
  const exclude = exclusionOf(options);
  const cached = await calibrator.readCache();
  if (cached && cached.byteLength > 0) return qdqModelFromCache(model, cached, exclude, options.calibrate?.placement);
  const result = await calibrate(model, calibrator, ourCalibrationOptions(options));
  return result.toQdqModel();
}

/** buildEngine's exclusion as planQuantization takes it. */
function exclusionOf(options: BuildEngineOptions): { names: readonly string[]; opTypes: readonly string[] } | undefined {
  return options.exclude ? { names: options.exclude.names ?? [], opTypes: options.exclude.opTypes ?? [] } : undefined;
}

/** calibrate()'s options when buildEngine computes the ranges itself: the user's, plus the exclusion and the signal. */
function ourCalibrationOptions(options: BuildEngineOptions): CalibrateOptions {
  const exclude = exclusionOf(options);
  return { ...options.calibrate, ...(exclude ? { exclude } : {}), ...(options.signal ? { signal: options.signal } : {}) };
}

/**
 * Builds a TensorRT engine from an ONNX model (a file path or its bytes). Options are validated in JS first;
 * the build runs on a thread of its own and honours `signal` (TensorRT stops at its next progress step).
 */
export async function buildEngine(onnx: string | Uint8Array, options: BuildEngineOptions = {}): Promise<Engine> {
  checkBuildOptions(options);
  const precision = options.precision ?? 'fp32';
  const int8 = precision === 'int8' || precision === 'best';
  throwIfAborted(options.signal);
  if (typeof onnx !== 'string' && !(onnx instanceof Uint8Array)) {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'buildEngine: the model must be an ONNX file path or its bytes.', { input: 'onnx', expected: 'string | Uint8Array', actual: typeof onnx });
  }
  const model = await OnnxModel.load(onnx);
  const inputs = model.inputs();
  const checked = checkAgainstModel(options, inputs, model.nodes);
  const quantized = hasQdq(model);
  if (int8 && !options.calibrator && !quantized) {
    throw new TrtInt8Error('ERR_BAD_OPTION', `buildEngine: precision '${precision}' needs a calibrator (the model has no Q/DQ nodes).`, {
      input: 'calibrator',
      expected: 'a Calibrator, e.g. a subclass of EntropyCalibrator2',
      actual: undefined,
      fixes: ['class MyCalibrator extends EntropyCalibrator2 { getBatch(ctx) { ... } }; buildEngine(model, { precision: "int8", calibrator: new MyCalibrator() })'],
    });
  }

  const { mod, version } = openTensorRT(options.tensorrt);
  const implicit = mod.implicitQuantization;
  if (!implicit && (precision === 'fp16' || precision === 'best')) throw unsupportedOn11(precision);
  if (!implicit && options.layerPrecisions !== undefined) throw layerPrecisionsOn11();

  const route = chooseInt8Route(options, int8, quantized, implicit);
  const { onnxBytes, calibrator, trtCalibrator, watch } = await prepareInt8(route, model, onnx, options, version);
  const algorithm = options.calibrator?.algorithm;
  throwIfAborted(options.signal);
  const stronglyTyped = options.stronglyTyped === true && implicit;

  // TensorRT silently ignores a cache from another version or algorithm and recalibrates: say so instead.
  if (route === 'calibrate') {
    const cached = await options.calibrator!.readCache();
    if (cached && cached.byteLength > 0) checkCacheForTensorRT(cached, version, trtCalibrator);
  }

  let timingCache: Uint8Array | undefined;
  if (options.timingCache !== undefined) timingCache = (await readFileOrNull(options.timingCache)) ?? new Uint8Array(0);

  const spec: NativeBuildSpec = {
    onnx: onnxBytes,
    ...(model.path ? { onnxPath: model.path } : {}),
    // Strongly typed: the model's types decide; INT8 comes from its Q/DQ nodes, so no precision flag is set.
    precision: stronglyTyped ? 'fp32' : precision,
    calibrator: trtCalibrator,
    ...(stronglyTyped ? { stronglyTyped: true } : {}),
    ...(algorithm?.kind === 'legacy' && route === 'calibrate' ? { legacyQuantile: algorithm.quantile, legacyRegressionCutoff: algorithm.regressionCutoff } : {}),
    profiles: checked.profiles,
    ...(trtCalibrator !== 'none' && checked.dynamic ? { calibrationProfile: checked.calibrationShapes } : {}),
    ...(options.workspace !== undefined ? { workspaceBytes: options.workspace } : {}),
    ...(timingCache ? { timingCache } : {}),
    ...(options.builderOptimizationLevel !== undefined ? { builderOptimizationLevel: options.builderOptimizationLevel } : {}),
    // 10.x keeps excluded layers in FP32 by precision constraints (INT8 and FP16 alike); on the Q/DQ route
    // they also get no Q/DQ, and on 11.x that is all there is (strongly typed: no precision constraints).
    ...(implicit && !stronglyTyped && precision !== 'fp32' && checked.excludedNodes.length ? { exclude: checked.excludedNodes } : {}),
    ...(checked.layerPrecisions.length ? { layerPrecisions: checked.layerPrecisions } : {}),
    ...(options.precisionConstraints ? { precisionConstraints: options.precisionConstraints } : {}),
    maxLogSeverity: maxLogSeverity(options.logger),
    // Progress events cross to JavaScript only when someone listens; abort is checked natively either way.
    forwardProgress: options.onProgress !== undefined,
    logSeverityMask: logSeverityMask(options.logger),
  };
  const calibration =
    trtCalibrator === 'none'
      ? undefined
      : {
          inputs: calibrationInputs(inputs, checked.calibrationShapes),
          calibrator: options.fitToProfile && route === 'calibrate' ? fitCalibratorToProfile(calibrator!, checked.calibrationShapes, options.fitToProfile) : calibrator!,
          // TensorRT reads calibration batches from device memory; on the 'cache' route it reads the cache and no batch.
          memory: route === 'calibrate' ? ('cuda' as const) : ('host' as const),
        };
  const plan = await runBuild(mod, spec, options, calibration);
  if (options.timingCache !== undefined && plan.timingCache) await writeFileAtomic(options.timingCache, plan.timingCache);
  const engine = await Engine.fromPlan(plan.plan, mod, version);
  if (int8) warnIfNoInt8Layer(engine, precision, options.logger);
  for (const warning of watch?.warnings() ?? []) addWarning(engine, warning, options.logger);
  return engine;
}

/**
 * An INT8 build whose engine runs no layer in INT8 is a silent FP32 engine: say so in the log and on the engine.
 * An inspector failure must not fail a build that succeeded, so it only skips the check.
 */
function warnIfNoInt8Layer(engine: Engine, precision: Precision, logger: BuildEngineOptions['logger']): void {
  let warning: string | undefined;
  try {
    warning = noInt8Warning(engine.layerPrecisions(), precision);
  } catch {
    return;
  }
  if (warning) addWarning(engine, warning, logger);
}

/** A warning about a finished build: on the engine (buildWarnings) and to the logger. */
function addWarning(engine: Engine, warning: string, logger: BuildEngineOptions['logger']): void {
  engine.addBuildWarning(warning);
  try {
    logger?.warning?.(warning);
  } catch {
    /* a throwing logger must not fail a finished build */
  }
}

/** The calibration session's inputs: every model input at its calibration shape (the OPT shape for dynamic models). */
function calibrationInputs(inputs: readonly InputSpec[], shapes: Record<string, number[]>): InputSpec[] {
  return inputs.map((spec) => {
    const shape = shapes[spec.name];
    if (!shape) {
      throw new TrtInt8Error('ERR_BAD_OPTION', `buildEngine: no calibration shape for input "${spec.name}".`, {
        input: `calibrationProfile.${spec.name}`,
        expected: 'a fixed shape (or a profile whose OPT shape is used)',
        actual: spec.shape,
      });
    }
    return { name: spec.name, dtype: spec.dtype, shape };
  });
}

async function runBuild(mod: NativeTensorRTModule, spec: NativeBuildSpec, options: BuildEngineOptions, calibration: { inputs: InputSpec[]; calibrator: Calibrator; memory: 'cuda' | 'host' } | undefined) {
  const handles = callNative('buildEngine', () => mod.createBuildJob(spec));
  const onLog = (line: { severity: number; message: string }) => routeLogLine(line, options.logger, options.onProgress);
  const sessionInputs = calibration?.inputs ?? [{ name: '__no_calibration__', dtype: 'uint8' as const, shape: [1] }];
  try {
    // On abort this rejects at once, while TensorRT stops the build at its next progress step on the job's own thread
    // (about 3 s on an H200 with TensorRT 10.6). Nothing of the build reaches JavaScript after that; a process that
    // exits meanwhile waits for TensorRT to stop (src/bridge/session.ts: process.on('exit') -> bridge.stopJobsForExit).
    await untilAborted(
      runNativeJob(handles.job, calibration?.calibrator ?? new NoCalibration(), {
        inputs: sessionInputs,
        // Builds without calibration need no device memory for the session.
        memory: calibration?.memory ?? 'host',
        ...(options.signal ? { signal: options.signal } : {}),
        onLog,
      }),
      options.signal,
    );
  } catch (error) {
    // The bridge knows only that the job failed; the TensorRT module kept the build's own coded error, which
    // takeBuildResult throws (with the job's log from the bridge's error as details).
    if (error instanceof TrtInt8Error && error.code === 'ERR_BUILD_FAILED') callNative('buildEngine', () => mod.takeBuildResult(handles.result), { details: error.details });
    throw error;
  } finally {
    // Calibrator.close() runs once calibration ends or fails, as in calibrate(): it releases the data source, and
    // fitCalibratorToProfile reports how much it padded and cut there.
    if (calibration) await Promise.resolve(calibration.calibrator.close()).catch(() => undefined);
  }
  const result = mod.takeBuildResult(handles.result);
  if (!result) throw new TrtInt8Error('ERR_BUILD_FAILED', 'buildEngine: the build finished without an engine.', { input: 'onnx', expected: 'a serialized engine', actual: 'none' });
  return result;
}

