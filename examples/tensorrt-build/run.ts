/**
 * Builds TensorRT engines of the Fashion-MNIST example model with buildEngine() and runs them.
 *
 *   npm run setup:example        # once: the data
 *   npm run example:tensorrt     # bundles this file with the library's sources (tsup) and runs it
 *
 * With TensorRT 10.x: INT8 by TensorRT's own implicit calibration, driven by a TypeScript EntropyCalibrator2.
 * With TensorRT 11.x (no calibrators): the same calibrator feeds our statistics engine, which computes the
 * ranges and writes a Q/DQ model that TensorRT builds strongly typed. Either way an FP32 engine is built too,
 * and both run the 10,000 test images (accuracy, agreement, GPU time per batch).
 *
 * Without TensorRT (CI, our CPU machines) it explains itself: the capability report, what it would do, and
 * how to get TensorRT (the fixes of the typed error), and exits 0. Any other failure exits 1.
 *
 * Options: --data-dir DIR, --out-dir DIR (engines and summary.json), --tensorrt-root DIR (else located).
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
// In an application: from 'trt-int8'. The example imports the sources so that it runs without a prior build.
import {
  buildEngine,
  capabilities,
  isTrtInt8Error,
  resolveTensorRT,
  type BuildEngineOptions,
  type CapabilityReport,
  type Engine,
  type Precision,
  type TensorInfo,
  type TensorRTInstall,
} from '../../src/index.js';
import { DEFAULT_INPUT_ALGORITHM, FashionMnistCalibrator } from '../fashion-mnist/calibrator.js';
import { predictClasses } from '../fashion-mnist/engine-predictions.js';
import { CALIBRATION_COUNT, CALIBRATION_SEED, DEFAULT_DATA_DIR, IMAGE_SIZE, calibrationIndices, loadFashionMnist } from '../fashion-mnist/dataset.js';

/** examples/tensorrt-build, also when this file runs bundled into examples/tensorrt-build/out/. */
const EXAMPLE_DIR = ((here) => (path.basename(here) === 'out' ? path.dirname(here) : here))(path.dirname(fileURLToPath(import.meta.url)));
const MODEL_PATH = path.join(EXAMPLE_DIR, '..', 'fashion-mnist', 'model.onnx');
/** TensorRT 10 calibrates at the OPT shape of the calibration profile, so every calibration batch is full. */
const CALIBRATION_BATCH = 32;
const MAX_BATCH = 256;
const PROFILES = [{ input: { min: [1, 1, 28, 28], opt: [CALIBRATION_BATCH, 1, 28, 28], max: [MAX_BATCH, 1, 28, 28] } }];
/**
 * On TensorRT 10 the calibration is TensorRT's own (entropy over the whole graph, input included), which clips the
 * normalised input at its background spike (docs/study-entropy-input-range.md): the first convolution stays FP32.
 * On the Q/DQ route our engine calibrates the input by min-max instead and every layer is INT8.
 */
const TRT10_KEPT_IN_FP32 = ['/stem1/conv/Conv'];

const yesNo = (b: boolean) => (b ? 'yes' : 'no ');

function printCapabilities(report: CapabilityReport): void {
  console.log('This machine (capabilities()):');
  console.log(`  trt-int8 ${report.package.version}, Node ${report.platform.node}, ${report.platform.os}-${report.platform.arch}`);
  console.log(`  native addon      ${yesNo(report.addon.loaded)} ${report.addon.path ?? report.addon.error?.message ?? ''}`);
  console.log(`  CUDA              ${yesNo(report.cuda.available)} ${report.cuda.available ? report.cuda.devices.map((d) => d.name).join(', ') : report.cuda.reason ?? ''}`);
  const installs = report.tensorrt.installs.map((i) => `${i.version.major}.${i.version.minor}.${i.version.patch} (${i.root})`);
  console.log(`  TensorRT          ${yesNo(report.tensorrt.found)} ${report.tensorrt.found ? installs.join(', ') : report.tensorrt.reason ?? ''}`);
  console.log(`  onnxruntime-node  ${yesNo(report.onnxruntime.found)} ${report.onnxruntime.version ?? report.onnxruntime.reason ?? ''}`);
  for (const [name, backend] of Object.entries(report.backends)) {
    console.log(`  backend ${name.padEnd(20)} ${backend.usable ? 'usable' : 'not usable'}: ${backend.reason}`);
  }
}

function printPlan(install: TensorRTInstall | undefined): void {
  const major = install?.version.major;
  console.log('What this example does with TensorRT:');
  console.log(`  1. FP32 engine of ${path.relative(process.cwd(), MODEL_PATH)}, batch 1..${MAX_BATCH} (optimization profile).`);
  if (major === undefined || major === 10) {
    console.log(`  2. ${major === undefined ? 'TensorRT 10.x: ' : ''}INT8 engine by implicit calibration: TensorRT's IInt8EntropyCalibrator2 calls the TypeScript`);
    console.log(`     EntropyCalibrator2 for ${CALIBRATION_COUNT} training images in batches of ${CALIBRATION_BATCH}; ${TRT10_KEPT_IN_FP32.join(', ')} kept in FP32.`);
  }
  if (major === undefined || major === 11) {
    console.log(`  2. ${major === undefined ? 'TensorRT 11.x: ' : ''}INT8 engine from a Q/DQ model: the same calibrator feeds trt-int8's statistics engine`);
    console.log(`     (onnxruntime, entropy2; graph input by ${DEFAULT_INPUT_ALGORITHM}), TensorRT builds the Q/DQ model strongly typed.`);
  }
  console.log('  3. Both engines run the 10,000 test images: accuracy, top-1 agreement, median GPU time per batch of 1, 32, 256.');
}

async function medianGpuMs(engine: Engine, images: Float32Array, n: number): Promise<number> {
  const { gpuMs } = await engine.infer({ input: { data: images.subarray(0, n * IMAGE_SIZE), shape: [n, 1, 28, 28] } }, { warmup: 10, repeat: 100 });
  const sorted = [...gpuMs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string', default: DEFAULT_DATA_DIR },
      'out-dir': { type: 'string', default: path.join(EXAMPLE_DIR, 'out') },
      'tensorrt-root': { type: 'string' },
    },
  });
  const report = await capabilities();
  printCapabilities(report);
  console.log('');

  // The same lookup buildEngine() starts with: the typed error says what was searched and how to fix it.
  const choice = values['tensorrt-root'] === undefined ? undefined : { root: values['tensorrt-root'] };
  let install: TensorRTInstall;
  try {
    install = resolveTensorRT(choice);
  } catch (error) {
    if (!isTrtInt8Error(error, 'ERR_TENSORRT_NOT_FOUND')) throw error;
    printPlan(undefined);
    console.log('');
    console.log(`No TensorRT here (${error.code}): ${error.message.split('\n')[0]}`);
    console.log(`  searched: ${String(error.actual)}`);
    console.log('To run this example, get TensorRT:');
    for (const fix of error.fixes) console.log(`  - ${fix}`);
    console.log('Without TensorRT, `npm run example` calibrates the same model on the CPU and writes the calibration cache and the Q/DQ model.');
    return 0;
  }
  console.log(`Using TensorRT ${install.version.major}.${install.version.minor}.${install.version.patch} from ${install.root}`);
  printPlan(install);
  console.log('');

  const dataDir = values['data-dir']!;
  const outDir = values['out-dir']!;
  await mkdir(outDir, { recursive: true });
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const test = await loadFashionMnist('test', { dataDir });
  const calibration = await loadFashionMnist('train', { dataDir, indices: calibrationIndices(CALIBRATION_COUNT, CALIBRATION_SEED) });

  const implicit = install.version.major === 10;
  const summary: Record<string, unknown> = { tensorrt: install.version };
  let fp32Predictions: Uint8Array | undefined;
  for (const precision of ['fp32', 'int8'] as Precision[]) {
    const options: BuildEngineOptions = {
      precision,
      profiles: PROFILES,
      tensorrt: install,
      signal: controller.signal,
      timingCache: path.join(outDir, 'fashion-mnist.timing'),
      logger: { error: (m) => console.error(`  [TensorRT] ${m}`), warning: (m) => console.error(`  [TensorRT warning] ${m}`) },
      ...(precision === 'int8'
        ? {
            calibrator: new FashionMnistCalibrator(calibration.images, CALIBRATION_BATCH, { cachePath: path.join(outDir, `fashion-mnist.trt${install.version.major}.cache`) }),
            ...(implicit
              ? { exclude: { names: TRT10_KEPT_IN_FP32 } }
              : { calibrate: { tensorAlgorithms: ({ isGraphInput }: TensorInfo) => (isGraphInput ? DEFAULT_INPUT_ALGORITHM : undefined) } }),
          }
        : {}),
    };
    console.log(`Building the ${precision.toUpperCase()} engine...`);
    const started = performance.now();
    const engine = await buildEngine(MODEL_PATH, options);
    try {
      const buildSeconds = (performance.now() - started) / 1000;
      const enginePath = path.join(outDir, `fashion-mnist.${precision}.engine`);
      await engine.save(enginePath);
      const predictions = await predictClasses(engine, test.images, test.count, MAX_BATCH);
      if (precision === 'fp32') fp32Predictions = predictions;
      let correct = 0;
      let agree = 0;
      for (let i = 0; i < test.count; i++) {
        if (predictions[i] === test.labels[i]) correct++;
        if (fp32Predictions && predictions[i] === fp32Predictions[i]) agree++;
      }
      const latency: Record<string, number> = {};
      for (const n of [1, 32, MAX_BATCH]) latency[`batch${n}`] = await medianGpuMs(engine, test.images, n);
      summary[precision] = { buildSeconds, engine: enginePath, accuracy: correct / test.count, top1AgreementWithFp32: agree / test.count, medianGpuMs: latency };
      console.log(`  built in ${buildSeconds.toFixed(1)} s, saved ${path.relative(process.cwd(), enginePath)}`);
      console.log(`  accuracy ${((correct / test.count) * 100).toFixed(2)} %, agreement with FP32 ${((agree / test.count) * 100).toFixed(2)} %`);
      console.log(`  median GPU ms: ${Object.entries(latency).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}`);
    } finally {
      engine.dispose();
    }
  }
  const summaryPath = path.join(outDir, 'summary.json');
  await writeFile(`${summaryPath}.tmp`, JSON.stringify(summary, null, 2) + '\n');
  await rename(`${summaryPath}.tmp`, summaryPath);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
