/**
 * The trt-int8 example: INT8 calibration of a small Fashion-MNIST CNN, written the way an application would.
 *
 *   npm run setup:example     # once: Fashion-MNIST from the Debian package into examples/fashion-mnist/data
 *   npm run example           # bundles this file with the library's sources (tsup) and runs it
 *
 * Calibrates model.onnx with the default algorithm ('auto': per tensor, the range with the least quantization
 * error) on 1,024 training images (the selection rule of
 * dataset.ts, shared with the onnxruntime baseline), writes out/fashion-mnist.cache (TensorRT's calibration
 * cache) and out/fashion-mnist.qdq.onnx (Q/DQ model for TensorRT's explicit INT8), then runs FP32 and INT8
 * with onnxruntime on the 10,000 test images and compares them. No GPU or TensorRT needed.
 *
 * Options: --data-dir DIR, --out-dir DIR, --calibration-count N (default 1024), --batch-size N (default 32),
 * --exclude NODE (repeatable: keep that node in FP32), --input-algorithm calibrator|minmax|entropy2|percentile (the
 * algorithm for the graph input; default `calibrator` = no override, the calibrator's 'auto'),
 * --check (exit 1 when a target is missed).
 */
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
// In an application: from 'trt-int8'. The example imports the sources so that it runs without a prior build.
import { calibrate, evaluate, type AlgorithmKind } from '../../src/index.js';
import { FashionMnistCalibrator, testBatches } from './calibrator.js';
import { CALIBRATION_COUNT, CALIBRATION_SEED, DEFAULT_DATA_DIR, EXAMPLE_DIR, calibrationIndices, loadFashionMnist } from './dataset.js';

/** Targets from the project's issue #3: INT8 must stay this close to FP32. */
const TARGETS = { minTop1Agreement: 0.99, maxDropPoints: 0.5 };

interface OrtBaseline {
  methods: Record<string, { int8_accuracy: number; top1_agreement: number; drop_points: number }>;
}

async function readBaseline(file: string): Promise<OrtBaseline | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // the baseline has not been run
    throw error;
  }
  try {
    return JSON.parse(text) as OrtBaseline;
  } catch (error) {
    throw new Error(`${file} is not valid JSON (${(error as Error).message}): delete it or re-run ort_quantize_static.py`);
  }
}

const percent = (x: number) => `${(x * 100).toFixed(2)}%`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string', default: DEFAULT_DATA_DIR },
      'out-dir': { type: 'string', default: path.join(EXAMPLE_DIR, 'out') },
      'calibration-count': { type: 'string', default: String(CALIBRATION_COUNT) },
      'batch-size': { type: 'string', default: '32' },
      exclude: { type: 'string', multiple: true, default: [] },
      'input-algorithm': { type: 'string', default: 'calibrator' },
      check: { type: 'boolean', default: false },
    },
  });
  const dataDir = values['data-dir']!;
  const outDir = values['out-dir']!;
  const calibrationCount = Number(values['calibration-count']);
  const batchSize = Number(values['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`--batch-size must be a positive integer, got ${values['batch-size']}`);
  const excluded = values.exclude!.filter((name) => name !== 'none');
  const inputAlgorithm = values['input-algorithm']!;
  const modelPath = path.join(EXAMPLE_DIR, 'model.onnx');
  const cachePath = path.join(outDir, 'fashion-mnist.cache');
  const qdqPath = path.join(outDir, 'fashion-mnist.qdq.onnx');
  await mkdir(outDir, { recursive: true });

  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());

  // 1. Calibrate on the shared selection of training images.
  const calibration = await loadFashionMnist('train', { dataDir, indices: calibrationIndices(calibrationCount, CALIBRATION_SEED) });
  const calibrator = new FashionMnistCalibrator(calibration.images, batchSize);
  console.log(`Calibrating ${path.relative(process.cwd(), modelPath)} on ${calibration.count} training images (seed ${CALIBRATION_SEED}), batches of ${batchSize}...`);
  if (excluded.length > 0) console.log(`  kept in FP32: ${excluded.join(', ')}`);
  if (inputAlgorithm !== 'calibrator') console.log(`  graph input calibrated with ${inputAlgorithm}, activations with ${calibrator.algorithm.kind}`);
  const result = await calibrate(modelPath, calibrator, {
    exclude: { names: excluded },
    // No override by default; --input-algorithm sets the graph input's algorithm by hand (e.g. DEFAULT_INPUT_ALGORITHM).
    tensorAlgorithms: ({ isGraphInput }) => (isGraphInput && inputAlgorithm !== 'calibrator' ? (inputAlgorithm as AlgorithmKind) : undefined),
    signal: controller.signal,
    onProgress: (p) => {
      // After the batches, 'auto' checks its ranges in the model (p.modelCheck: model runs done / planned).
      const check = p.modelCheck;
      const line = check ? `  checking ranges in the model: run ${check.evaluations}/${check.planned}` : `  batch ${p.batchesDone}/${p.batchCount ?? '?'}  ${Math.round(p.samplesPerSecond)} images/s`;
      // One updating line on a terminal; every 8th batch, and the check's last run, in a log.
      if (process.stdout.isTTY) process.stdout.write(`\r${line}   `);
      else if (check ? check.evaluations === check.planned : p.batchesDone % 8 === 0 || p.batchesDone === p.batchCount) console.log(line);
    },
  });
  if (process.stdout.isTTY) process.stdout.write('\n');
  console.log(`  ${result.tensors.size} tensors calibrated in ${result.summary.seconds.toFixed(2)} s`);
  const check = result.modelCheck;
  if (check && check.skipped === undefined) {
    const steps = check.tensorSteps ? `, then ${check.tensorSteps.kept.length} of ${check.tensorSteps.contested} contested tensor ranges changed per tensor` : '';
    console.log(`  model check on ${check.samples} samples: kept the ${check.chosen} ranges${steps}`);
  } else if (check) console.log(`  model check not run: ${check.skipped}`);
  await result.writeCache(cachePath);
  await result.writeQdqModel(qdqPath);
  console.log(`  wrote ${path.relative(process.cwd(), cachePath)} and ${path.relative(process.cwd(), qdqPath)}`);

  // 2. FP32 vs INT8 (Q/DQ run by onnxruntime) on the 10,000 test images.
  const test = await loadFashionMnist('test', { dataDir });
  console.log(`Evaluating FP32 vs INT8 on ${test.count} test images...`);
  const evaluation = await evaluate(modelPath, qdqPath, testBatches(test.images, test.count, 500), {
    labels: test.labels,
    signal: controller.signal,
  });
  const accuracy = evaluation.accuracy!;
  const dropPoints = (accuracy.float - accuracy.quantized) * 100;
  console.log(`  FP32 accuracy      ${percent(accuracy.float)}`);
  console.log(`  INT8 accuracy      ${percent(accuracy.quantized)}`);
  console.log(`  drop               ${dropPoints.toFixed(2)} points`);
  console.log(`  top-1 agreement    ${percent(evaluation.top1Agreement)}`);
  for (const output of evaluation.outputs) console.log(`  ${output.name}: cosine ${output.cosine.toFixed(5)}, SQNR ${output.sqnr.toFixed(1)} dB`);
  if (evaluation.worstLayers.length > 0) {
    console.log('  lowest-SQNR layers: ' + evaluation.worstLayers.slice(0, 3).map((l) => `${l.tensor} ${l.sqnr.toFixed(1)} dB`).join(', '));
  }

  // 3. Targets, and onnxruntime's quantize_static when its baseline has been run.
  const checks: [string, boolean][] = [
    [`top-1 agreement >= ${percent(TARGETS.minTop1Agreement)}`, evaluation.top1Agreement >= TARGETS.minTop1Agreement],
    [`accuracy drop <= ${TARGETS.maxDropPoints} points`, dropPoints <= TARGETS.maxDropPoints],
  ];
  const baseline = await readBaseline(path.join(outDir, 'ort-baseline.json'));
  const notes: string[] = [];
  if (baseline) {
    // Like for like: onnxruntime's entropy calibration at TensorRT's 2048 bins. Its quantize_static "entropy"
    // (128 bins, 128 levels) can only pick the full range, i.e. it is MinMax: shown for information.
    for (const [method, ort] of Object.entries(baseline.methods)) {
      const delta = (accuracy.quantized - ort.int8_accuracy) * 100;
      const line = `onnxruntime ${method}: INT8 ${percent(ort.int8_accuracy)}, agreement ${percent(ort.top1_agreement)} (ours ${delta >= 0 ? '+' : ''}${delta.toFixed(2)} points)`;
      if (method === 'entropy-2048') checks.push([`INT8 accuracy >= ${line}`, delta >= 0]);
      else notes.push(line);
    }
  } else {
    notes.push('no onnxruntime baseline: run python3 examples/fashion-mnist/ort_quantize_static.py to compare');
  }
  for (const [what, ok] of checks) console.log(`  ${ok ? 'PASS' : 'MISS'}  ${what}`);
  for (const note of notes) console.log(`  info  ${note}`);

  const summary = {
    model: 'examples/fashion-mnist/model.onnx',
    calibration: { images: calibration.count, seed: CALIBRATION_SEED, batchSize, algorithm: result.algorithm, inputAlgorithm, excluded, seconds: result.summary.seconds },
    test: { images: evaluation.samples, fp32Accuracy: accuracy.float, int8Accuracy: accuracy.quantized, dropPoints, top1Agreement: evaluation.top1Agreement },
    outputs: evaluation.outputs,
    worstLayers: evaluation.worstLayers.slice(0, 5),
    checks: Object.fromEntries(checks),
    notes,
  };
  const summaryPath = path.join(outDir, 'fashion-mnist.summary.json');
  await writeFile(`${summaryPath}.tmp`, JSON.stringify(summary, null, 2) + '\n');
  await rename(`${summaryPath}.tmp`, summaryPath);
  return values.check && checks.some(([, ok]) => !ok) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
