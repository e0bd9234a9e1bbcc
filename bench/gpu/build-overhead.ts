/**
 * Issue #15.1: does our progress/log path slow TensorRT's builder down? The same model and precision built
 *   (a) with no progress monitor and no logger installed at all (the TensorRT module's bare mode,
 *       TRT_INT8_BUILD_INSTRUMENTATION=none, read when the build job is created),
 *   (b) through buildEngine with no onProgress and no logger,
 *   (c) with onProgress and a verbose logger (every event counted),
 * and (b)/(a), (c)/(a) (and (c)/(b)) printed with the build times and the events delivered. Then the abort
 * latency during a long build: abort N seconds in, time until the promise rejects.
 *
 *   node .device/run/js/build-overhead.mjs --model resnet50|ppocr [--precisions fp16,int8] [--level 2] [--repeat 1] [--abort-after 5]
 *
 * One untimed warm-up build per precision comes first (INT8: it calibrates with EntropyCalibrator2 through the bridge
 * and writes a cache the timed builds reuse, so they compare the builder and not the data path). No timing cache:
 * each build measures its tactics itself, as a user's first build does. The builds of one precision are interleaved
 * and rotated per round (a b c, b c a, c a b, ...) so drift in GPU clocks hits every configuration alike.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { OnnxModel, buildEngine, calibratorFromBatches, type Batch, type BuildEngineOptions, type BuildProgress, type Precision } from '../../src/index.js';
import { loadOcrImages } from '../../test/tensorrt/gpu/lib/ocr.js';
import { DEFAULT_PATHS, scratchDir } from '../../test/tensorrt/gpu/lib/paths.js';
import { describeError, resultPath, runEnvironment, splitList, tensorRTFound, writeJson, exitWith } from '../../test/tensorrt/gpu/lib/rows.js';
import { ratio, seconds } from '../../test/tensorrt/gpu/lib/stats.js';

/** (a)'s environment: the TensorRT module builds bare, with no progress monitor and no log forwarding. */
const BARE_BUILD_ENV = { name: 'TRT_INT8_BUILD_INSTRUMENTATION', value: 'none' } as const;

type Config = 'a' | 'b' | 'c';
const CONFIG_TEXT: Record<Config, string> = {
  a: 'no progress monitor, no logger (native option)',
  b: 'buildEngine, no onProgress / logger',
  c: 'onProgress + verbose logger',
};

interface BenchModel {
  readonly onnx: string;
  readonly input: string;
  readonly shape: readonly number[];
  /** Calibration batches at `shape` for the INT8 builds. */
  readonly calibration: () => Promise<Batch[]>;
}

function models(): Record<string, BenchModel> {
  return {
    resnet50: {
      onnx: path.join(DEFAULT_PATHS.exportedModels(), 'resnet50.onnx'),
      input: 'input',
      shape: [8, 3, 224, 224],
      // Random weights (export_models.py): smooth random tensors are enough to calibrate for a timing run.
      calibration: async () => Array.from({ length: 4 }, (_, b) => ({ input: { data: Float32Array.from({ length: 8 * 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.001 + b)), shape: [8, 3, 224, 224] } })),
    },
    ppocr: {
      onnx: DEFAULT_PATHS.ocrModel(),
      input: 'x',
      shape: [1, 3, 640, 640],
      calibration: async () => (await loadOcrImages(DEFAULT_PATHS.ocrPhotos(), 'calibration', { limit: 8, fixed: { width: 640, height: 640 } })).map((i) => ({ x: { data: i.data, shape: i.shape } })),
    },
  };
}

interface Counts {
  progress: Record<BuildProgress['event'], number>;
  log: Record<string, number>;
}

function configOptions(config: Config, counts: Counts): BuildEngineOptions {
  if (config !== 'c') return {}; // (a) differs from (b) by BARE_BUILD_ENV alone
  const count = (severity: string) => () => void (counts.log[severity] = (counts.log[severity] ?? 0) + 1);
  return {
    onProgress: (p) => void counts.progress[p.event]++,
    logger: { error: count('error'), warning: count('warning'), info: count('info'), verbose: count('verbose') },
  };
}

async function timedBuild(spec: BenchModel, precision: Precision, config: Config, level: number, cachePath: string, calibration: Batch[]): Promise<{ seconds: number; counts: Counts; engineBytes: number }> {
  const counts: Counts = { progress: { start: 0, step: 0, finish: 0 }, log: {} };
  const int8 = precision === 'int8' || precision === 'best';
  if (config === 'a') process.env[BARE_BUILD_ENV.name] = BARE_BUILD_ENV.value;
  else delete process.env[BARE_BUILD_ENV.name];
  const started = performance.now();
  const engine = await buildEngine(spec.onnx, {
    precision,
    builderOptimizationLevel: level,
    profiles: [{ [spec.input]: { min: spec.shape, opt: spec.shape, max: spec.shape } }],
    ...(int8 ? { calibrator: calibratorFromBatches(calibration, { algorithm: 'entropy2', cachePath }) } : {}),
    ...configOptions(config, counts),
  });
  const result = { seconds: seconds(started), counts, engineBytes: engine.serialize().byteLength };
  engine.dispose();
  return result;
}

async function measurePrecision(spec: BenchModel, precision: Precision, configs: readonly Config[], level: number, repeat: number, scratch: string, save: (partial: Record<string, unknown>) => Promise<void>): Promise<Record<string, unknown>> {
  const cachePath = path.join(scratch, `${path.basename(spec.onnx)}.${precision}.calib`);
  await rm(cachePath, { force: true });
  const calibration = precision === 'int8' || precision === 'best' ? await spec.calibration() : [];
  // An untimed first build: the first build of a process pays for loading TensorRT's kernels and builder resource
  // (on 2026-11-30 the detector's first FP16 build, config (a), took 152.6 s against 62.8 s for the next one). For INT8
  // it also calibrates once.
  const first = await timedBuild(spec, precision, 'b', level, cachePath, calibration);
  console.log(`   ${precision}: warm-up build ${first.seconds} s${calibration.length > 0 ? ` (calibrated, cache ${cachePath}; timed builds reuse the cache)` : ''}`);
  const runs: Record<Config, { seconds: number[]; counts?: Counts; error?: unknown }> = { a: { seconds: [] }, b: { seconds: [] }, c: { seconds: [] } };
  for (let r = 0; r < repeat; r++) {
    // Rotated per round (a b c, b c a, ...), so no configuration always follows the same one.
    for (const config of configs.map((_, i) => configs[(i + r) % configs.length]!)) {
      try {
        const build = await timedBuild(spec, precision, config, level, cachePath, calibration);
        runs[config].seconds.push(build.seconds);
        runs[config].counts = build.counts;
        const events = build.counts.progress.start + build.counts.progress.step + build.counts.progress.finish;
        console.log(`   ${precision} (${config}) ${CONFIG_TEXT[config]}: ${build.seconds} s${config === 'c' ? `, ${events} progress events, log lines ${JSON.stringify(build.counts.log)}` : ''}`);
      } catch (error) {
        runs[config].error = describeError(error);
        console.log(`   ${precision} (${config}) FAILED: ${JSON.stringify(describeError(error))}`);
      }
      // After every build: a command that runs out of time still leaves what it measured.
      await save({ precision, level, runs, partial: true });
    }
  }
  const best = (c: Config) => (runs[c].seconds.length ? Math.min(...runs[c].seconds) : undefined);
  const median = (c: Config) => {
    const sorted = [...runs[c].seconds].sort((x, y) => x - y);
    return sorted.length ? (sorted[(sorted.length - 1) >> 1]! + sorted[sorted.length >> 1]!) / 2 : undefined;
  };
  const ratios = { 'b/a': ratio(best('b'), best('a')), 'c/a': ratio(best('c'), best('a')), 'c/b': ratio(best('c'), best('b')) };
  const medianRatios = { 'b/a': ratio(median('b'), median('a')), 'c/a': ratio(median('c'), median('a')), 'c/b': ratio(median('c'), median('b')) };
  console.log(`   ${precision} ratios (fastest of ${repeat}): ${JSON.stringify(ratios)}; of the medians: ${JSON.stringify(medianRatios)}`);
  return { precision, level, runs, ratios, medianRatios };
}

/** Aborts a long build `afterSeconds` in and measures how long the rejection takes. */
async function abortLatency(spec: BenchModel, afterSeconds: number): Promise<Record<string, unknown>> {
  const controller = new AbortController();
  const reason = new Error('build-overhead: abort');
  let abortedAt: number | undefined;
  const timer = setTimeout(() => {
    abortedAt = performance.now();
    controller.abort(reason);
  }, afterSeconds * 1000);
  const started = performance.now();
  try {
    const engine = await buildEngine(spec.onnx, { precision: 'fp16', builderOptimizationLevel: 5, profiles: [{ [spec.input]: { min: spec.shape, opt: spec.shape, max: spec.shape } }], signal: controller.signal });
    engine.dispose();
    return { finishedBeforeAbort: true, buildSeconds: seconds(started) };
  } catch (error) {
    const ms = abortedAt === undefined ? null : Math.round(performance.now() - abortedAt);
    return { rejectedWithReason: error === reason, abortToRejectionMs: ms, error: error === reason ? undefined : describeError(error) };
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'resnet50' },
      precisions: { type: 'string', default: 'fp16,int8' },
      configs: { type: 'string', default: 'a,b,c' },
      level: { type: 'string', default: '2' },
      repeat: { type: 'string', default: '1' },
      'abort-after': { type: 'string', default: '5' },
      out: { type: 'string' },
    },
  });
  const all = models();
  const spec = all[values.model!];
  if (!spec) {
    console.error(`unknown model ${values.model} (known: ${Object.keys(all).join(', ')})`);
    return 2;
  }
  const out = resultPath(values.out, `build-overhead-${values.model}.json`);
  if (!(await tensorRTFound(out))) return 2;
  await OnnxModel.load(spec.onnx); // a missing model fails here, before any build
  const configs = splitList(values.configs) as Config[];
  const level = Number(values.level);
  console.log(`build overhead: ${values.model}, precisions ${values.precisions}, builderOptimizationLevel ${level}, ${values.repeat} round(s) of ${configs.join(', ')}`);
  const scratch = scratchDir('build-overhead');
  const started = performance.now();
  const precisions: Record<string, unknown>[] = [];
  for (const precision of splitList(values.precisions) as Precision[]) {
    const save = (partial: Record<string, unknown>) => writeJson(out, { environment: runEnvironment(), model: values.model, bareBuild: BARE_BUILD_ENV, precisions: [...precisions, partial] });
    precisions.push(await measurePrecision(spec, precision, configs, level, Number(values.repeat), scratch, save));
    await writeJson(out, { environment: runEnvironment(), model: values.model, bareBuild: BARE_BUILD_ENV, precisions });
  }
  const abort = Number(values['abort-after']) > 0 ? await abortLatency(spec, Number(values['abort-after'])) : null;
  if (abort) console.log(`   abort ${values['abort-after']} s into a level-5 FP16 build: ${JSON.stringify(abort)}`);
  await writeJson(out, { environment: runEnvironment(), model: values.model, bareBuild: BARE_BUILD_ENV, precisions, abort, totalSeconds: seconds(started) });
  console.log(`wrote ${out} (${seconds(started)} s)`);
  return 0;
}

exitWith(main);
