/**
 * bench/calibrate: wall time of trt-int8's calibrate() on the Fashion-MNIST example against onnxruntime-Python's
 * own calibrators, in one run, on the same machine, same images, same batches of 32, one after the other.
 *
 *   npm run bench:calibrate [-- --repeats 3 --ort-methods minmax,entropy,entropy-2048 --json out.json]
 *
 * Timed on our side: calibrate(model, calibrator) from the call to the returned CalibrationResult (model
 * parsing, onnxruntime session with the extra outputs, running the batches, histograms, ranges). Not
 * timed: loading the images (in memory as float32 beforehand), writing the cache or the Q/DQ model.
 * The Python side (ort_calibration_timing.py) times create_calibrator + collect_data + compute_data,
 * the same work. Each measurement is the median of --repeats runs, after one untimed warm-up of ours;
 * the runs alternate between the two sides (round r: ours, then theirs) so that load changes hit both.
 * Both use onnxruntime's default thread count on the CPU execution provider.
 */
import { spawnSync } from 'node:child_process';
import { writeFile, rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { calibrate, calibratorFromBatches, type AlgorithmKind, type Batch } from '../../src/index.js';
import { CALIBRATION_COUNT, CALIBRATION_SEED, EXAMPLE_DIR, IMAGE_SIZE, calibrationIndices, loadFashionMnist } from '../../examples/fashion-mnist/dataset.js';

// npm run bench:calibrate bundles this file into examples/fashion-mnist/out/ (git-ignored), so locate the
// Python half from the example folder rather than from this file.
const BENCH_DIR = path.resolve(EXAMPLE_DIR, '../../bench/calibrate');

/** The goal from issue #3: at least this many times faster than onnxruntime-Python's EntropyCalibrater. */
const GOAL_SPEEDUP_VS_ORT_ENTROPY = 5;

function* batches(images: Float32Array, count: number, size: number): Generator<Batch> {
  for (let start = 0; start < count; start += size) {
    const n = Math.min(size, count - start);
    yield { input: { data: images.subarray(start * IMAGE_SIZE, (start + n) * IMAGE_SIZE), shape: [n, 1, 28, 28] } };
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface OrtTimings {
  onnxruntime: string;
  methods: Record<string, { calibrator: string; options: unknown; runs_seconds: number[]; median_seconds: number }>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      repeats: { type: 'string', default: '3' },
      algorithms: { type: 'string', default: 'entropy2,minmax' },
      'ort-methods': { type: 'string', default: 'minmax,entropy,entropy-2048' },
      python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
      json: { type: 'string' },
    },
  });
  const repeats = Number(values.repeats);
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`--repeats must be a positive integer, got ${values.repeats}`);
  const algorithms = values.algorithms!.split(',').filter(Boolean) as AlgorithmKind[];
  const modelPath = path.join(EXAMPLE_DIR, 'model.onnx');
  const calibration = await loadFashionMnist('train', { indices: calibrationIndices(CALIBRATION_COUNT, CALIBRATION_SEED) });

  console.log(`Calibrating ${calibration.count} images (batches of 32), ${repeats} timed run(s) each, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'})`);
  const script = path.join(BENCH_DIR, 'ort_calibration_timing.py');
  const ortMethods = values['ort-methods']!;
  /** One timed run of each onnxruntime method, in a fresh Python process (its start-up is not timed). */
  const runOrtOnce = (): OrtTimings => {
    const python = spawnSync(values.python!, [script, '--repeats', '1', '--methods', ortMethods, '--calibration-count', String(calibration.count)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 16 * 1024 * 1024,
    });
    if (python.error || python.status !== 0) {
      throw new Error(
        `The Python half (${script}) failed${python.error ? `: ${python.error.message}` : ` with exit ${python.status}`}:\n${python.stderr.split('\n').slice(-15).join('\n')}\n` +
          'It needs onnxruntime and numpy: python3 -m pip install onnxruntime numpy (or --python PATH).',
      );
    }
    return JSON.parse(python.stdout.trim().split('\n').pop()!) as OrtTimings;
  };
  const timeOurs = async (algorithm: AlgorithmKind): Promise<number> => {
    const calibrator = calibratorFromBatches(batches(calibration.images, calibration.count, 32), { algorithm });
    const started = performance.now();
    await calibrate(modelPath, calibrator);
    return (performance.now() - started) / 1000;
  };

  // Rounds interleave the two sides, so that a change in the machine's load hits both alike.
  for (const algorithm of algorithms) await timeOurs(algorithm); // warm-up: loads onnxruntime-node and the addon
  const ourRuns: Record<string, number[]> = Object.fromEntries(algorithms.map((a) => [a, []]));
  let ort: OrtTimings | undefined;
  for (let round = 0; round < repeats; round++) {
    for (const algorithm of algorithms) ourRuns[algorithm]!.push(await timeOurs(algorithm));
    const once = runOrtOnce();
    if (!ort) ort = once;
    else for (const [method, t] of Object.entries(once.methods)) ort.methods[method]!.runs_seconds.push(...t.runs_seconds);
    process.stdout.write(`  round ${round + 1}/${repeats} done\n`);
  }
  for (const t of Object.values(ort!.methods)) t.median_seconds = median(t.runs_seconds);
  const ours = Object.fromEntries(
    Object.entries(ourRuns).map(([algorithm, runs]) => [algorithm, { runs_seconds: runs.map((s) => +s.toFixed(4)), median_seconds: median(runs) }]),
  );
  for (const [algorithm, t] of Object.entries(ours)) {
    console.log(`  trt-int8 calibrate() ${algorithm.padEnd(12)} median ${t.median_seconds.toFixed(3)} s   runs ${t.runs_seconds.map((s) => s.toFixed(3)).join(', ')}`);
  }
  for (const [method, t] of Object.entries(ort!.methods)) {
    console.log(`  onnxruntime ${ort!.onnxruntime} ${t.calibrator} (${method.padEnd(12)}) median ${t.median_seconds.toFixed(3)} s   runs ${t.runs_seconds.map((s) => s.toFixed(3)).join(', ')}`);
  }

  console.log('Speed-up (onnxruntime median / trt-int8 median; > 1 means trt-int8 is faster):');
  const ratios: Record<string, number> = {};
  for (const [algorithm, mine] of Object.entries(ours)) {
    for (const [method, theirs] of Object.entries(ort!.methods)) {
      const ratio = theirs.median_seconds / mine.median_seconds;
      ratios[`${algorithm} vs ort ${method}`] = +ratio.toFixed(2);
      console.log(`  trt-int8 ${algorithm.padEnd(9)} vs onnxruntime ${method.padEnd(13)} ${ratio.toFixed(2)}x`);
    }
  }
  const entropyGoal = ours.entropy2 && ort!.methods['entropy-2048']
    ? ort!.methods['entropy-2048'].median_seconds / ours.entropy2.median_seconds
    : undefined;
  if (entropyGoal !== undefined) {
    console.log(`Goal: trt-int8 entropy2 >= ${GOAL_SPEEDUP_VS_ORT_ENTROPY}x faster than onnxruntime's EntropyCalibrater at the same 2048 bins: ${entropyGoal.toFixed(2)}x -> ${entropyGoal >= GOAL_SPEEDUP_VS_ORT_ENTROPY ? 'MET' : 'NOT MET'}`);
  }
  if (values.json) {
    const report = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadavg: os.loadavg(), node: process.version },
      images: calibration.count,
      batchSize: 32,
      repeats,
      trtInt8: ours,
      onnxruntime: ort,
      speedups: ratios,
    };
    await writeFile(`${values.json}.tmp`, JSON.stringify(report, null, 2) + '\n');
    await rename(`${values.json}.tmp`, values.json);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
