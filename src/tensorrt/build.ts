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
import { TrtInt8Error, throwIfAborted } from '../core/errors.js';
import { readFileOrNull, writeFileAtomic } from '../core/files.js';
import { parseCalibrationCache, scaleToAmax } from '../cache/calibration-cache.js';
import { Calibrator } from '../calibrators/calibrator.js';
import type { InputSpec } from '../core/tensor.js';
import { calibrate } from '../calibrate/calibrate.js';
import { runNativeJob } from '../bridge/session.js';
import { OnnxModel } from '../onnx/model.js';
import { insertQdq } from '../onnx/qdq.js';
import { fitCalibratorToProfile } from '../shapes/fit-calibrator.js';
import { Engine, openTensorRT } from './engine.js';
import { noInt8Warning } from './layer-precisions.js';
import { logSeverityMask, maxLogSeverity, routeLogLine } from './log.js';
import { callNative, type NativeBuildSpec, type NativeTensorRTModule } from '../native/index.js';
import { checkAgainstModel, checkBuildOptions } from './options.js';
import type { BuildEngineOptions, Precision } from './types.js';

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
export function qdqModelFromCache(model: OnnxModel, cache: Uint8Array | string, exclude?: { names: readonly string[]; opTypes: readonly string[] }): Uint8Array {
  const parsed = parseCalibrationCache(cache);
  const amax = new Map([...parsed.scales].map(([name, scale]) => [name, scaleToAmax(scale)]));
  return insertQdq(model, { amax, ...(exclude ? { exclude } : {}) }).toBytes();
}

/**
 * The Q/DQ model for INT8 without implicit calibration: from the calibrator's cache when it has one (a
 * TensorRT 10 calibration cache: amax = scale * 127), else from our statistics engine.
 */
async function qdqModel(model: OnnxModel, options: BuildEngineOptions): Promise<Uint8Array> {
  const calibrator = options.calibrator!;
  const exclude = options.exclude ? { names: options.exclude.names ?? [], opTypes: options.exclude.opTypes ?? [] } : undefined;
  const cached = await calibrator.readCache();
  if (cached && cached.byteLength > 0) return qdqModelFromCache(model, cached, exclude);
  const result = await calibrate(model, calibrator, { ...options.calibrate, ...(exclude ? { exclude } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  return result.toQdqModel();
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

  // Which INT8 route: TensorRT's own calibrator (10.x), or Q/DQ ranges we compute.
  const algorithm = options.calibrator?.algorithm;
  const trtCalibrator = int8 && !quantized && implicit && algorithm && algorithm.kind in TENSORRT_CALIBRATORS
    ? TENSORRT_CALIBRATORS[algorithm.kind as keyof typeof TENSORRT_CALIBRATORS]
    : 'none';
  let onnxBytes = typeof onnx === 'string' ? model.toBytes() : onnx;
  if (int8 && !quantized && trtCalibrator === 'none') onnxBytes = await qdqModel(model, options);
  throwIfAborted(options.signal);

  // TensorRT silently ignores a cache from another version or algorithm and recalibrates: say so instead.
  if (trtCalibrator !== 'none') {
    const cached = await options.calibrator!.readCache();
    if (cached && cached.byteLength > 0) checkCacheForTensorRT(cached, version, trtCalibrator);
  }

  let timingCache: Uint8Array | undefined;
  if (options.timingCache !== undefined) timingCache = (await readFileOrNull(options.timingCache)) ?? new Uint8Array(0);

  const spec: NativeBuildSpec = {
    onnx: onnxBytes,
    ...(model.path ? { onnxPath: model.path } : {}),
    precision,
    calibrator: trtCalibrator,
    ...(algorithm?.kind === 'legacy' ? { legacyQuantile: algorithm.quantile, legacyRegressionCutoff: algorithm.regressionCutoff } : {}),
    profiles: checked.profiles,
    ...(trtCalibrator !== 'none' && checked.dynamic ? { calibrationProfile: checked.calibrationShapes } : {}),
    ...(options.workspace !== undefined ? { workspaceBytes: options.workspace } : {}),
    ...(timingCache ? { timingCache } : {}),
    ...(options.builderOptimizationLevel !== undefined ? { builderOptimizationLevel: options.builderOptimizationLevel } : {}),
    // 10.x keeps excluded layers in FP32 by precision constraints (INT8 and FP16 alike); on the Q/DQ route
    // they also get no Q/DQ, and on 11.x that is all there is (strongly typed: no precision constraints).
    ...(implicit && precision !== 'fp32' && checked.excludedNodes.length ? { exclude: checked.excludedNodes } : {}),
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
          calibrator: options.fitToProfile ? fitCalibratorToProfile(options.calibrator!, checked.calibrationShapes, options.fitToProfile) : options.calibrator!,
        };
  const plan = await runBuild(mod, spec, options, calibration);
  if (options.timingCache !== undefined && plan.timingCache) await writeFileAtomic(options.timingCache, plan.timingCache);
  const engine = await Engine.fromPlan(plan.plan, mod, version);
  if (int8) warnIfNoInt8Layer(engine, precision, options.logger);
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
  if (!warning) return;
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

async function runBuild(mod: NativeTensorRTModule, spec: NativeBuildSpec, options: BuildEngineOptions, calibration: { inputs: InputSpec[]; calibrator: Calibrator } | undefined) {
  const handles = callNative('buildEngine', () => mod.createBuildJob(spec));
  const onLog = (line: { severity: number; message: string }) => routeLogLine(line, options.logger, options.onProgress);
  const sessionInputs = calibration?.inputs ?? [{ name: '__no_calibration__', dtype: 'uint8' as const, shape: [1] }];
  try {
    // On abort this settles once TensorRT has stopped the build (at its next progress step: about 3 s on an H200 with
    // TensorRT 10.6), not at the signal's time: rejecting earlier leaves TensorRT building on its thread, and a
    // process that exits then crashes inside TensorRT (seen on the H200: SIGSEGV / "LLVM ERROR" at exit).
    await runNativeJob(handles.job, calibration?.calibrator ?? new NoCalibration(), {
      inputs: sessionInputs,
      // TensorRT reads calibration batches from device memory; builds without calibration need no session memory.
      memory: calibration ? 'cuda' : 'host',
      ...(options.signal ? { signal: options.signal } : {}),
      onLog,
    });
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

