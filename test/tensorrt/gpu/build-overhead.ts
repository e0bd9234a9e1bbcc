/**
 * GPU-machine measurement for issue #15: what our progress/log path costs a TensorRT build. The same model and
 * precision are built, interleaved round by round so that drift hits every mode alike:
 *   (a) bare:    TRT_INT8_BUILD_INSTRUMENTATION=none (no progress monitor, no log forwarding: TensorRT as a C++
 *                program would run it);
 *   (b) default: buildEngine with no onProgress and no logger;
 *   (c) listening: onProgress and a verbose logger.
 * and an abort during the build, timed from abort() to the rejection. Prints one JSON line per build and a summary
 * with the ratios (b)/(a) and (c)/(a) of the median build times. No timing cache: each build times its tactics.
 *
 *   npx tsup test/tensorrt/gpu/build-overhead.ts --no-config --format esm --shims --target node20 \
 *     --out-dir examples/fashion-mnist/out --silent
 *   TENSORRT_ROOT=/path/to/TensorRT-10.6/lib node examples/fashion-mnist/out/build-overhead.js MODEL.onnx fp16 3 \
 *     ['{"input":{"min":[1,3,640,640],"opt":[1,3,640,640],"max":[1,3,640,640]}}']
 */
import { buildEngine, type BuildEngineOptions, type OptimizationProfile, type Precision } from '../../../src/index.js';

type Mode = 'bare' | 'default' | 'listening';

const [model = 'examples/fashion-mnist/model.onnx', precisionArg = 'fp16', roundsArg = '3', profileArg] = process.argv.slice(2);
const precision = precisionArg as Precision;
const rounds = Number(roundsArg);
const profiles: OptimizationProfile[] = profileArg ? [JSON.parse(profileArg) as OptimizationProfile] : [];

async function timedBuild(mode: Mode): Promise<{ ms: number; progressEvents: number; logLines: number }> {
  let progressEvents = 0;
  let logLines = 0;
  const count = () => void logLines++;
  const options: BuildEngineOptions = {
    precision,
    ...(profiles.length ? { profiles } : {}),
    ...(mode === 'listening' ? { onProgress: () => void progressEvents++, logger: { error: count, warning: count, info: count, verbose: count } } : {}),
  };
  // Read by the TensorRT module when the build job is created.
  if (mode === 'bare') process.env.TRT_INT8_BUILD_INSTRUMENTATION = 'none';
  else delete process.env.TRT_INT8_BUILD_INSTRUMENTATION;
  const started = performance.now();
  const engine = await buildEngine(model, options);
  const ms = performance.now() - started;
  engine.dispose();
  return { ms, progressEvents, logLines };
}

async function abortLatency(afterMs: number): Promise<{ abortedAfterMs: number; rejectedMsAfterAbort: number; code?: string }> {
  delete process.env.TRT_INT8_BUILD_INSTRUMENTATION;
  const controller = new AbortController();
  const building = buildEngine(model, { precision, ...(profiles.length ? { profiles } : {}), signal: controller.signal });
  let abortedAt = 0;
  setTimeout(() => {
    abortedAt = performance.now();
    controller.abort();
  }, afterMs);
  const outcome = await building.then(
    (engine) => {
      engine.dispose();
      return undefined;
    },
    (error: unknown) => error as { code?: string },
  );
  return { abortedAfterMs: afterMs, rejectedMsAfterAbort: abortedAt ? performance.now() - abortedAt : -1, ...(outcome?.code ? { code: outcome.code } : {}) };
}

const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const times: Record<Mode, number[]> = { bare: [], default: [], listening: [] };
  for (let round = 0; round < rounds; round++) {
    for (const mode of ['bare', 'default', 'listening'] as const) {
      const result = await timedBuild(mode);
      times[mode].push(result.ms);
      console.log(JSON.stringify({ model, precision, round, mode, ...result, ms: Math.round(result.ms) }));
    }
  }
  const bare = median(times.bare);
  const abort = await abortLatency(Math.max(200, bare / 2));
  console.log(
    JSON.stringify({
      summary: { model, precision, rounds, medianMs: { bare: Math.round(bare), default: Math.round(median(times.default)), listening: Math.round(median(times.listening)) } },
      ratioDefaultToBare: +(median(times.default) / bare).toFixed(3),
      ratioListeningToBare: +(median(times.listening) / bare).toFixed(3),
      abort,
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
