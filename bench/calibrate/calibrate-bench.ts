/**
 * bench/calibrate: trt-int8's calibrate() against onnxruntime-Python's own calibrators, on the PP-OCRv4 text
 * detector (30 photos, 480x640) and on the Fashion-MNIST example (1,024 images, batches of 32), in one run.
 *
 *   npm run bench:calibrate [-- --rounds 3 --models detector,fashion --workloads minmax,entropy,defaults --cpu-work --json FILE]
 *
 * Needs `npm run setup:ocr`, `npm run setup:example`, the native addon (npm run build:native) and, for the Python
 * half, python3 with onnxruntime, onnx and numpy (pip install onnxruntime onnx numpy; --python PATH).
 *
 * Each measurement is one whole process, calibrating once: trt-int8 (this script re-run with --child) or
 * ort_calibration_timing.py. Both read the same float32 batches from one file written here (not timed), so both
 * calibrate the same tensors of the same values. Workloads:
 *   minmax    equal settings: the same tensors (trt-int8's Q/DQ plan), min-max ranges
 *   entropy   equal settings: the same tensors, entropy over 2048 bins (trt-int8 'entropy2'; onnxruntime
 *             EntropyCalibrater num_bins 2048, num_quantized_bins 128)
 *   defaults  each tool as it is called with no options: calibrate(model, calibratorFromBatches(batches)) against
 *             quantize_static's calibration (MinMax over the inputs and outputs of every quantizable op)
 * Threads: onnxruntime's default intra-op thread count in both tools (one per core); trt-int8's histograms run on its
 * own pool of os.availableParallelism() threads. Timed: from the call to the ranges; model loading (parsing, the
 * model with extra outputs, the onnxruntime session) is included and also reported apart. Peak memory: the maximum
 * resident set of each process (both hold the batches, ~110 MB for the detector).
 * Rounds alternate which tool goes first, so that load from other processes hits both alike; every figure is the
 * median over rounds with [min-max]; ratios are per round (onnxruntime-Python seconds / trt-int8 seconds).
 * Each process also reports its CPU time (all threads). --cpu-work adds, per model and round, the CPU time per batch of
 * min-max collection with one onnxruntime thread in both tools (trt-int8: run + histograms; onnxruntime-Python:
 * collect_data): the work each does, which other processes' load changes far less than wall time. On a 2-core
 * machine both tools keep both cores busy, so their wall-time ratio follows this ratio (docs/calibration-speed.md).
 * One more trt-int8 process per round and model runs min-max through onnxruntime-node's session.run (the path
 * before issue #16): its extra run time is the cost of copying activations out of onnxruntime into JavaScript.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { calibrate, calibratorFromBatches, OnnxModel, planQuantization, type AlgorithmKind, type Batch } from '../../src/index.js';
import { recordCalibrationTimings, type CalibrationTimings } from '../../src/calibrate/calibrate.js';
import { RUNNER_ENV, TENSOR_SUMMARY_OP, onnxRuntimeLibrary } from '../../src/calibrate/onnxruntime.js';
import { createRunSession, HistogramCollector } from '../../src/stats/histogram-collector.js';
import { CALIBRATION_COUNT, CALIBRATION_SEED, EXAMPLE_DIR, IMAGE_SIZE, calibrationIndices, loadFashionMnist } from '../../examples/fashion-mnist/dataset.js';
import { DETECTOR_MODEL_PATH, detectorData } from './detector-data.js';

// npm run bench:calibrate bundles this file into examples/fashion-mnist/out/ (git-ignored): locate the repository
// from the example folder rather than from this file.
const ROOT = path.resolve(EXAMPLE_DIR, '../..');
const BENCH_DIR = path.join(ROOT, 'bench/calibrate');
const OUT_DIR = path.join(EXAMPLE_DIR, 'out');

/** The goals of issue #16: trt-int8 at least this many times faster at equal settings. */
const GOALS: Record<string, number> = { minmax: 1.5, entropy: 2 };

interface Spec {
  name: string;
  model: string;
  input: string;
  data: string;
  batches: number;
  batchShape: number[];
  tensors: string[];
}

type Workload = 'minmax' | 'entropy' | 'defaults';
const OURS: Record<Workload, AlgorithmKind | undefined> = { minmax: 'minmax', entropy: 'entropy2', defaults: undefined };
const THEIRS: Record<Workload, { method: string; tensors: 'equal' | 'default' }> = {
  minmax: { method: 'minmax', tensors: 'equal' },
  entropy: { method: 'entropy-2048', tensors: 'equal' },
  defaults: { method: 'minmax', tensors: 'default' },
};

interface Measurement {
  tool: string;
  totalSeconds: number;
  loadSeconds: number;
  peakRssMiB: number;
  tensors: number;
  [key: string]: unknown;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const spread = (xs: number[], digits = 2): string => `${median(xs).toFixed(digits)} [${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}]`;

async function writeSpecs(models: string[]): Promise<Spec[]> {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const specs: Spec[] = [];
  for (const name of models) {
    if (name === 'detector') {
      const data = detectorData(ROOT, OUT_DIR);
      const model = path.join(ROOT, DETECTOR_MODEL_PATH);
      const tensors = [...planQuantization(await OnnxModel.load(model)).activationNames];
      specs.push({ name, model, input: 'x', data: data.file, batches: data.count, batchShape: [...data.shape], tensors });
    } else if (name === 'fashion') {
      const calibration = await loadFashionMnist('train', { indices: calibrationIndices(CALIBRATION_COUNT, CALIBRATION_SEED) });
      const file = path.join(OUT_DIR, `bench-fashion-${calibration.count}x1x28x28.f32`);
      const images = calibration.images.subarray(0, calibration.count * IMAGE_SIZE);
      fs.writeFileSync(file, new Uint8Array(images.buffer, images.byteOffset, images.byteLength));
      const model = path.join(EXAMPLE_DIR, 'model.onnx');
      const tensors = [...planQuantization(await OnnxModel.load(model)).activationNames];
      specs.push({ name, model, input: 'input', data: file, batches: calibration.count / 32, batchShape: [32, 1, 28, 28], tensors });
    } else {
      throw new Error(`--models: unknown model ${name} (detector, fashion)`);
    }
  }
  return specs;
}

/**
 * This process's peak resident memory (MiB): VmHWM, which starts afresh at exec (getrusage's maxrss does not: a
 * child inherits its parent's peak on Linux).
 */
function peakRss(): number {
  const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  return line ? Number(line.split(/\s+/)[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

/** --child: one calibrate() in this process, printed as JSON. */
async function child(specFile: string, workload: Workload, runner: string): Promise<void> {
  const spec = JSON.parse(fs.readFileSync(specFile, 'utf8')) as Spec;
  if (runner === 'onnxruntime-node') process.env[RUNNER_ENV] = 'onnxruntime-node';
  const bytes = fs.readFileSync(spec.data);
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const per = spec.batchShape.reduce((a, b) => a * b, 1);
  function* batches(): Generator<Batch> {
    for (let i = 0; i < spec.batches; i++) yield { [spec.input]: { data: all.subarray(i * per, (i + 1) * per), shape: spec.batchShape } };
  }
  const algorithm = OURS[workload];
  const timings: CalibrationTimings = { loadMs: 0, runMs: 0, countMs: 0, rangeMs: 0, activationBytes: 0 };
  recordCalibrationTimings(timings);
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  const result = await calibrate(spec.model, calibratorFromBatches(batches(), algorithm ? { algorithm } : {}));
  const totalMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuStarted);
  const peakRssMiB = peakRss(); // before writing the Q/DQ model, which the Python side does not do
  const writing = performance.now();
  const qdq = result.toQdqModel();
  const qdqMs = performance.now() - writing;
  console.log(
    JSON.stringify({
      tool: runner === 'onnxruntime-node' ? 'trt-int8 (onnxruntime-node runner)' : 'trt-int8',
      runner: timings.runner,
      workload,
      tensors: result.tensors.size,
      totalSeconds: totalMs / 1000,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      loadSeconds: timings.loadMs / 1000,
      runSeconds: timings.runMs / 1000,
      countSeconds: timings.countMs / 1000,
      rangeSeconds: timings.rangeMs / 1000,
      qdqSeconds: qdqMs / 1000,
      qdqBytes: qdq.byteLength,
      activationBytes: timings.activationBytes,
      peakRssMiB,
    }),
  );
}

/**
 * --work: the CPU work of trt-int8's min-max collection per batch, on one thread: onnxruntime with one intra-op thread
 * and one statistics thread, each batch run with its tensors summarized inside the graph (TensorSummary, min and max,
 * no histogram) and the summaries collected, as calibrate()'s CPU path does for min-max (without its batch checks). CPU time is that of the whole process (all
 * threads), so other processes' load changes it little, unlike wall time.
 */
async function workChild(specFile: string): Promise<void> {
  const spec = JSON.parse(fs.readFileSync(specFile, 'utf8')) as Spec;
  const bytes = fs.readFileSync(spec.data);
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const per = spec.batchShape.reduce((a, b) => a * b, 1);
  const model = await OnnxModel.load(spec.model);
  const fetches = spec.tensors.filter((t) => t !== spec.input);
  const library = onnxRuntimeLibrary();
  if (!library) throw new Error('onnxruntime-node is not installed');
  const summarized = model.withInlinedExternalData().withTensorSummaries(fetches, TENSOR_SUMMARY_OP);
  const summaryOf = fetches.map((t, i) => (summarized.summarized[i] ? t : ''));
  const session = createRunSession(library, summarized.bytes, 1, 1, true);
  // As calibrate() collects for min-max: min, max and non-finite counts, no histograms.
  const collector = new HistogramCollector({ threads: 1, histograms: false });
  const cpuMs = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  let runCpu = 0;
  let countCpu = 0;
  for (let i = 0; i < spec.batches; i++) {
    const feeds = [{ name: spec.input, elementType: 1, shape: spec.batchShape, data: all.subarray(i * per, (i + 1) * per) }];
    let t = cpuMs();
    const outputs = await session.run(feeds, summarized.fetches);
    if ('runFailed' in outputs) throw new Error(outputs.runFailed);
    runCpu += cpuMs() - t;
    t = cpuMs();
    await collector.addOutputs({ ...outputs, summaryOf });
    countCpu += cpuMs() - t;
  }
  collector.dispose();
  session.release();
  console.log(JSON.stringify({ tool: 'trt-int8', batches: spec.batches, runCpuMsPerBatch: runCpu / spec.batches, countCpuMsPerBatch: countCpu / spec.batches }));
}

/** Runs both measurements, the second first on odd rounds, so that neither always meets the warmer machine. */
function inAlternatingOrder(round: number, first: () => void, second: () => void): void {
  if (round % 2 === 0) {
    first();
    second();
  } else {
    second();
    first();
  }
}

function runProcess(command: string, args: string[], what: string): Measurement {
  const run = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 * 1024 * 1024 });
  if (run.error || run.status !== 0) {
    throw new Error(`${what} failed${run.error ? `: ${run.error.message}` : ` with exit ${run.status}`}:\n${run.stderr.split('\n').slice(-15).join('\n')}`);
  }
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as Measurement;
}

/** Copy bandwidth of this machine now: the best of 5 copies of 256 MiB (bytes copied per second; each is read and written). */
function copyBandwidth(): number {
  const n = (256 * 2 ** 20) / 4;
  const a = new Float32Array(n).fill(1);
  const b = new Float32Array(n);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    b.set(a);
    best = Math.min(best, performance.now() - t);
  }
  return (n * 4) / (best / 1000);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      workload: { type: 'string' },
      runner: { type: 'string', default: 'native' },
      rounds: { type: 'string', default: '3' },
      models: { type: 'string', default: 'detector,fashion' },
      workloads: { type: 'string', default: 'minmax,entropy,defaults' },
      python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
      json: { type: 'string' },
      work: { type: 'string' },
      'cpu-work': { type: 'boolean', default: false },
    },
  });
  if (values.child) return child(values.child, values.workload as Workload, values.runner!);
  if (values.work) return workChild(values.work);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);
  const workloads = values.workloads!.split(',').filter(Boolean) as Workload[];
  for (const w of workloads) if (!(w in OURS)) throw new Error(`--workloads: unknown ${w} (minmax, entropy, defaults)`);
  const specs = await writeSpecs(values.models!.split(',').filter(Boolean));
  const script = path.join(BENCH_DIR, 'ort_calibration_timing.py');
  const startLoad = os.loadavg();
  console.log(`${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), load average ${startLoad.map((l) => l.toFixed(2)).join(' ')}, ${rounds} round(s)`);

  type Key = string; // model/workload/tool
  const results = new Map<Key, Measurement[]>();
  const push = (key: Key, m: Measurement): void => void results.set(key, [...(results.get(key) ?? []), m]);
  const bandwidths: number[] = [];
  for (let round = 0; round < rounds; round++) {
    bandwidths.push(copyBandwidth());
    for (const spec of specs) {
      const specFile = path.join(OUT_DIR, `bench-${spec.name}.json`);
      fs.writeFileSync(specFile, JSON.stringify(spec));
      for (const workload of workloads) {
        const ours = () => push(`${spec.name}/${workload}/ours`, runProcess(process.execPath, [process.argv[1]!, '--child', specFile, '--workload', workload], `trt-int8 ${spec.name} ${workload}`));
        const theirs = () => {
          const t = THEIRS[workload];
          push(`${spec.name}/${workload}/theirs`, runProcess(values.python!, [script, '--spec', specFile, '--method', t.method, '--tensors', t.tensors], `onnxruntime-Python ${spec.name} ${workload}`));
        };
        inAlternatingOrder(round, ours, theirs);
      }
      if (workloads.includes('minmax')) {
        push(`${spec.name}/minmax/node-runner`, runProcess(process.execPath, [process.argv[1]!, '--child', specFile, '--workload', 'minmax', '--runner', 'onnxruntime-node'], `trt-int8 ${spec.name} minmax (onnxruntime-node runner)`));
      }
      process.stdout.write(`  round ${round + 1}/${rounds}: ${spec.name} done\n`);
    }
  }

  // --cpu-work: CPU time per batch of min-max collection with one onnxruntime thread in both tools (rounds alternate).
  const work = new Map<string, { ours: Measurement[]; theirs: Measurement[] }>();
  if (values['cpu-work']) {
    for (const spec of specs) {
      const specFile = path.join(OUT_DIR, `bench-${spec.name}.json`);
      fs.writeFileSync(specFile, JSON.stringify(spec));
      const w = { ours: [] as Measurement[], theirs: [] as Measurement[] };
      for (let round = 0; round < rounds; round++) {
        const ours = () => w.ours.push(runProcess(process.execPath, [process.argv[1]!, '--work', specFile], `trt-int8 ${spec.name} CPU work`));
        const theirs = () => w.theirs.push(runProcess(values.python!, [script, '--spec', specFile, '--method', 'minmax', '--tensors', 'equal', '--threads', '1'], `onnxruntime-Python ${spec.name} CPU work`));
        inAlternatingOrder(round, ours, theirs);
      }
      work.set(spec.name, w);
      process.stdout.write(`  CPU work: ${spec.name} done\n`);
    }
  }

  const endLoad = os.loadavg();
  const report: Record<string, unknown> = {};
  const goals: string[] = [];
  console.log(`\nload average at the end ${endLoad.map((l) => l.toFixed(2)).join(' ')}; copy bandwidth ${spread(bandwidths.map((b) => b / 1e9))} GB/s`);
  for (const spec of specs) {
    console.log(`\n${spec.name}: ${spec.batches} batches of [${spec.batchShape.join(', ')}], ${spec.tensors.length} tensors in trt-int8's plan`);
    console.log('  workload  | trt-int8 s (load s)          | onnxruntime-Python s (load s) | speed-up, per round     | excl. loading      | peak MiB ours / theirs');
    for (const workload of workloads) {
      const ours = results.get(`${spec.name}/${workload}/ours`)!;
      const theirs = results.get(`${spec.name}/${workload}/theirs`)!;
      const ratios = ours.map((o, i) => theirs[i]!.totalSeconds / o.totalSeconds);
      const ratiosExcl = ours.map((o, i) => (theirs[i]!.totalSeconds - theirs[i]!.loadSeconds) / (o.totalSeconds - o.loadSeconds));
      const peakOurs = median(ours.map((o) => o.peakRssMiB));
      const peakTheirs = median(theirs.map((t) => t.peakRssMiB));
      console.log(
        `  ${workload.padEnd(9)} | ${spread(ours.map((o) => o.totalSeconds)).padEnd(17)} (${median(ours.map((o) => o.loadSeconds)).toFixed(2)}) | ` +
          `${spread(theirs.map((t) => t.totalSeconds)).padEnd(18)} (${median(theirs.map((t) => t.loadSeconds)).toFixed(2)})  | ${spread(ratios).padEnd(17)}x | ${spread(ratiosExcl).padEnd(16)}x | ${peakOurs.toFixed(0)} / ${peakTheirs.toFixed(0)}` +
          `   (tensors ${ours[0]!.tensors} / ${theirs[0]!.tensors})`,
      );
      report[`${spec.name}/${workload}`] = {
        trtInt8: ours,
        onnxruntimePython: theirs,
        speedup: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios), perRound: ratios },
        speedupExcludingLoading: { median: median(ratiosExcl), min: Math.min(...ratiosExcl), max: Math.max(...ratiosExcl) },
        peakRssMiB: { trtInt8: peakOurs, onnxruntimePython: peakTheirs },
      };
      const goal = GOALS[workload];
      if (goal !== undefined) {
        const met = median(ratios) >= goal && peakOurs <= peakTheirs;
        goals.push(`  ${spec.name} ${workload}: >= ${goal}x at no more peak memory: ${median(ratios).toFixed(2)}x [${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}], ${peakOurs.toFixed(0)} / ${peakTheirs.toFixed(0)} MiB -> ${met ? 'MET' : 'NOT MET'}`);
      }
    }
    // Time breakdown of trt-int8, from its equal-settings runs (medians over rounds).
    for (const workload of workloads.filter((w) => w !== 'defaults')) {
      const ours = results.get(`${spec.name}/${workload}/ours`)!;
      const m = (k: string) => median(ours.map((o) => o[k] as number));
      const histogramRate = median(ours.map((o) => (o.activationBytes as number) / (o.countSeconds as number))) / 1e9;
      console.log(
        `  trt-int8 ${workload} breakdown: load ${m('loadSeconds').toFixed(2)} s, onnxruntime inference ${m('runSeconds').toFixed(2)} s, ` +
          `copying activations out 0 (counted in onnxruntime's memory), histograms ${m('countSeconds').toFixed(2)} s ` +
          `(${(m('activationBytes') / 2 ** 20).toFixed(0)} MiB at ${histogramRate.toFixed(2)} GB/s; copy bandwidth ${median(bandwidths.map((b) => b / 1e9)).toFixed(2)} GB/s), ` +
          `ranges ${m('rangeSeconds').toFixed(3)} s, Q/DQ writing ${m('qdqSeconds').toFixed(3)} s`,
      );
      const theirs = results.get(`${spec.name}/${workload}/theirs`)!;
      const t = (k: string) => median(theirs.map((o) => o[k] as number));
      console.log(`  onnxruntime-Python ${THEIRS[workload].method}: create_calibrator ${t('loadSeconds').toFixed(2)} s, collect_data ${t('collectSeconds').toFixed(2)} s, compute_data ${t('computeSeconds').toFixed(2)} s`);
    }
    for (const workload of workloads) {
      const ours = results.get(`${spec.name}/${workload}/ours`)!;
      const theirs = results.get(`${spec.name}/${workload}/theirs`)!;
      console.log(`  CPU time of the whole calibration (all threads) ${workload}: trt-int8 ${spread(ours.map((o) => o.cpuSeconds as number))} s, onnxruntime-Python ${spread(theirs.map((t) => t.cpuSeconds as number))} s (its idle threads spin by default)`);
    }
    const w = work.get(spec.name);
    if (w) {
      const ours = w.ours.map((o) => (o.runCpuMsPerBatch as number) + (o.countCpuMsPerBatch as number));
      const theirs = w.theirs.map((t) => ((t.collectCpuSeconds as number) * 1000) / spec.batches);
      const ratios = ours.map((o, i) => theirs[i]! / o);
      console.log(
        `  CPU work per batch, min-max, one onnxruntime thread in both: trt-int8 ${spread(ours, 1)} ms (onnxruntime run with in-graph summaries ${spread(w.ours.map((o) => o.runCpuMsPerBatch as number), 1)}, ` +
          `collecting them ${spread(w.ours.map((o) => o.countCpuMsPerBatch as number), 1)}), onnxruntime-Python collect_data ${spread(theirs, 1)} ms: ratio ${spread(ratios)}x; ` +
          `1.5x needs trt-int8 <= ${(median(theirs) / 1.5).toFixed(1)} ms`,
      );
      report[`${spec.name}/cpu-work`] = { trtInt8: w.ours, onnxruntimePython: w.theirs, oursMsPerBatch: ours, theirsMsPerBatch: theirs, ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) } };
    }
    const viaNode = results.get(`${spec.name}/minmax/node-runner`);
    if (viaNode) {
      const native = results.get(`${spec.name}/minmax/ours`)!;
      const copy = viaNode.map((v, i) => (v.runSeconds as number) - (native[i]!.runSeconds as number));
      console.log(
        `  min-max through onnxruntime-node's session.run (before #16): ${spread(viaNode.map((v) => v.totalSeconds))} s, its runs ${spread(viaNode.map((v) => v.runSeconds as number))} s ` +
          `vs ${spread(native.map((v) => v.runSeconds as number))} s here: copying activations out costs ${spread(copy)} s; peak ${median(viaNode.map((v) => v.peakRssMiB)).toFixed(0)} MiB`,
      );
      report[`${spec.name}/minmax-onnxruntime-node-runner`] = viaNode;
    }
  }
  console.log('\nGoals of issue #16 (median speed-up over rounds):');
  for (const g of goals) console.log(g);
  if (values.json) {
    const out = {
      date: new Date().toISOString(),
      command: `npm run bench:calibrate -- ${process.argv.slice(2).join(' ')}`.trim(),
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadavgStart: startLoad, loadavgEnd: endLoad, node: process.version, copyBandwidthGBs: bandwidths.map((b) => b / 1e9) },
      rounds,
      results: report,
    };
    fs.writeFileSync(`${values.json}.tmp`, JSON.stringify(out, null, 2) + '\n');
    fs.renameSync(`${values.json}.tmp`, values.json);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack ?? error.message : error);
  process.exit(1);
});
