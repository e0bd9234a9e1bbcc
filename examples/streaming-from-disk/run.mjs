/**
 * Streaming calibration data from disk with a user-written calibrator (a subclass of EntropyCalibrator2).
 *
 *   npm run setup:example        # once: Fashion-MNIST into examples/fashion-mnist/data
 *   npm run example:streaming    # builds dist/ (npm run build:ts) and runs this file
 *
 * 1. Writes the 1,024 calibration images of the Fashion-MNIST example (same seeded selection) as PNG files
 *    into data/images/ (once), plus data/calibration_list.txt naming them, like a real image data set.
 * 2. Calibrates examples/fashion-mnist/model.onnx with StreamingCalibrator: each getBatch reads its PNGs
 *    with fs.promises and preprocesses them with createImagePreprocessor, the same function an inference
 *    service would call; the next batch is read while the model runs on the current one.
 * 3. Writes out/streaming.cache and out/streaming.qdq.onnx and compares FP32 and INT8 on 2,000 test images.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { PNG } from 'pngjs';
// In an application: from 'trt-int8'.
import { EntropyCalibrator2, calibrate, createImagePreprocessor, evaluate, readListFile, seededShuffle, TrtInt8Error } from '../../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fashionDir = path.join(here, '..', 'fashion-mnist');
const modelPath = path.join(fashionDir, 'model.onnx');
const dataDir = path.join(here, 'data');
const listPath = path.join(dataDir, 'calibration_list.txt');
const outDir = path.join(here, 'out');
const CALIBRATION_COUNT = 1024;
const BATCH_SIZE = 32;
const TEST_COUNT = 2000;

// The model's preprocessing (see examples/fashion-mnist/dataset.ts): (pixel / 255 - 0.286) / 0.353, NCHW.
const preprocess = createImagePreprocessor({ width: 28, height: 28, channels: 'gray', scale: 1 / 255, mean: 0.286, std: 0.353 });

/** A user-written calibrator: batches of PNG files, read and preprocessed as TensorRT asks for them. */
class StreamingCalibrator extends EntropyCalibrator2 {
  #files;
  #batchSize;
  #prefetch = new Map(); // batch index -> Promise<Float32Array>

  constructor(files, batchSize, cachePath) {
    // batchCount is only for progress; the last incomplete batch is left out (TensorRT wants full batches).
    super({ cachePath, batchCount: Math.floor(files.length / batchSize) });
    this.#files = files;
    this.#batchSize = batchSize;
  }

  async #load(batchIndex, signal) {
    const files = this.#files.slice(batchIndex * this.#batchSize, (batchIndex + 1) * this.#batchSize);
    const data = new Float32Array(this.#batchSize * 28 * 28);
    const images = await Promise.all(files.map((file) => readFile(file, { signal }).then((bytes) => preprocess(bytes))));
    images.forEach((image, i) => data.set(image.data, i * 28 * 28));
    return data;
  }

  async getBatch({ batchIndex, inputs, signal }) {
    if ((batchIndex + 1) * this.#batchSize > this.#files.length) return null; // end of data
    const pending = this.#prefetch.get(batchIndex) ?? this.#load(batchIndex, signal);
    this.#prefetch.delete(batchIndex);
    // Start reading the next batch now: it overlaps with the model running on this one.
    if ((batchIndex + 2) * this.#batchSize <= this.#files.length) {
      const next = this.#load(batchIndex + 1, signal);
      next.catch(() => {}); // its error, if any, surfaces when that batch is asked for
      this.#prefetch.set(batchIndex + 1, next);
    }
    return { [inputs[0].name]: { data: await pending, shape: [this.#batchSize, 1, 28, 28] } };
  }

  async close() {
    this.#prefetch.clear();
  }
}

/** IDX (gzip) -> { dims, data }: the format Fashion-MNIST ships in. */
async function readIdx(file) {
  if (!existsSync(file)) {
    throw new TrtInt8Error('ERR_IO', `${file} is missing.`, { input: file, expected: 'the Fashion-MNIST files', actual: 'missing', fixes: ['npm run setup:example'] });
  }
  const raw = gunzipSync(await readFile(file));
  const ndim = raw[3];
  const dims = Array.from({ length: ndim }, (_, i) => raw.readUInt32BE(4 + 4 * i));
  return { dims, data: raw.subarray(4 + 4 * ndim) };
}

/** Step 1: the calibration images as PNG files and a list file, written once (atomically: temp folder + rename). */
async function writeCalibrationImages() {
  if (existsSync(listPath)) return;
  const { dims, data } = await readIdx(path.join(fashionDir, 'data', 'train-images-idx3-ubyte.gz'));
  // The Fashion-MNIST example's selection: the first 1,024 of a mulberry32 Fisher-Yates shuffle (seed 0).
  const order = seededShuffle(Array.from({ length: dims[0] }, (_, i) => i), 0).slice(0, CALIBRATION_COUNT);
  const staging = path.join(here, `data.tmp-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(path.join(staging, 'images'), { recursive: true });
  const names = [];
  for (const index of order) {
    const png = new PNG({ width: 28, height: 28 });
    png.data = Buffer.from(data.subarray(index * 784, (index + 1) * 784)); // 8-bit gray in, 8-bit gray PNG out
    const name = `images/train-${String(index).padStart(5, '0')}.png`;
    await writeFile(path.join(staging, name), PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false }));
    names.push(name);
  }
  await writeFile(path.join(staging, 'calibration_list.txt'), `# ${CALIBRATION_COUNT} Fashion-MNIST training images (seed 0)\n${names.join('\n')}\n`);
  await rm(dataDir, { recursive: true, force: true });
  await rename(staging, dataDir);
  console.log(`wrote ${names.length} PNGs and ${path.relative(process.cwd(), listPath)}`);
}

async function main() {
  await writeCalibrationImages();
  await mkdir(outDir, { recursive: true });
  const files = await readListFile(listPath);
  const cachePath = path.join(outDir, 'streaming.cache');
  // calibrate() reuses a matching cache (calibrator.readCache) instead of reading the data, as TensorRT does;
  // this example is about streaming, so it starts from scratch every time.
  await rm(cachePath, { force: true });
  const calibrator = new StreamingCalibrator(files, BATCH_SIZE, cachePath);
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());

  console.log(`Calibrating ${path.relative(process.cwd(), modelPath)} on ${files.length} PNGs streamed from disk, batches of ${BATCH_SIZE}...`);
  console.log(`  preprocessing: ${JSON.stringify(preprocess.options)}`);
  // The image input takes min-max, the activations the calibrator's entropy: entropy calibration of this input
  // (half of it background pixels, one spike) would clip its bright pixels (docs/study-entropy-input-range.md).
  const result = await calibrate(modelPath, calibrator, {
    tensorAlgorithms: ({ isGraphInput }) => (isGraphInput ? 'minmax' : undefined),
    signal: controller.signal,
  });
  const { summary } = result;
  console.log(`  ${result.tensors.size} tensors (${result.algorithm.kind}) from ${summary.samples} images in ${summary.batches} batches, ${summary.seconds.toFixed(2)} s (${summary.samplesPerSecond.toFixed(0)} images/s)`);
  for (const tensor of [...result.tensors.values()].slice(0, 4)) console.log(`    ${tensor.name.padEnd(40)} amax ${tensor.amax.toFixed(4)}`);
  const qdqPath = path.join(outDir, 'streaming.qdq.onnx');
  await result.writeQdqModel(qdqPath);
  console.log(`  wrote ${path.relative(process.cwd(), calibrator.cachePath)} (by calibrate(), through calibrator.writeCache) and ${path.relative(process.cwd(), qdqPath)}`);

  // FP32 vs INT8 on test images, through the same preprocessor (pixels in, as an inference service would get them).
  const images = await readIdx(path.join(fashionDir, 'data', 't10k-images-idx3-ubyte.gz'));
  const labels = await readIdx(path.join(fashionDir, 'data', 't10k-labels-idx1-ubyte.gz'));
  async function* testBatches() {
    for (let start = 0; start < TEST_COUNT; start += 500) {
      const data = new Float32Array(500 * 784);
      for (let i = 0; i < 500; i++) {
        const gray = images.data.subarray((start + i) * 784, (start + i + 1) * 784);
        const rgba = new Uint8Array(784 * 4);
        for (let p = 0; p < 784; p++) rgba.fill(gray[p], p * 4, p * 4 + 3), (rgba[p * 4 + 3] = 255);
        data.set(preprocess.fromPixels({ width: 28, height: 28, rgba }).data, i * 784);
      }
      yield { input: { data, shape: [500, 1, 28, 28] } };
    }
  }
  const evaluation = await evaluate(modelPath, qdqPath, testBatches(), { labels: Int32Array.from(labels.data.subarray(0, TEST_COUNT)), signal: controller.signal });
  const pct = (x) => `${(x * 100).toFixed(2)}%`;
  console.log(`FP32 ${pct(evaluation.accuracy.float)}, INT8 ${pct(evaluation.accuracy.quantized)}, top-1 agreement ${pct(evaluation.top1Agreement)} on ${evaluation.samples} test images`);
}

main().catch((error) => {
  console.error(error instanceof TrtInt8Error ? `error [${error.code}]: ${error.message}` : error);
  process.exitCode = 1;
});
