/**
 * The PP-OCRv4 text detector (ch_PP-OCRv4_det_infer.onnx, input x[N,3,H,W], N/H/W dynamic) and the real photos
 * of `npm run setup:ocr` (OpenCV's samples: calibration/ and held-out/), preprocessed as PaddleOCR does.
 * The constants and the size rule repeat examples/ocr-dynamic/paddle-det.mjs (a .mjs file TypeScript cannot
 * import with types); keep the two in step.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createImagePreprocessor, decodeImage, type Engine, type ImagePreprocessor, type OnnxModel } from '../../../../src/index.js';

export const OCR_MODEL_FILE = 'ch_PP-OCRv4_det_infer.onnx';
const LIMIT_SIDE_LEN = 960;
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
/** PaddleOCR's det_db_thresh: pixels of the probability map above it are text. */
export const DB_THRESHOLD = 0.3;

export interface OcrImage {
  readonly file: string;
  readonly data: Float32Array;
  /** [1, 3, H, W]. */
  readonly shape: readonly number[];
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** PaddleOCR's detector input size: long side <= 960, both sides multiples of 32. */
export function paddleDetSize(width: number, height: number): { width: number; height: number } {
  const ratio = Math.max(width, height) > LIMIT_SIDE_LEN ? LIMIT_SIDE_LEN / Math.max(width, height) : 1;
  return {
    width: Math.max(roundHalfEven(Math.trunc(width * ratio) / 32) * 32, 32),
    height: Math.max(roundHalfEven(Math.trunc(height * ratio) / 32) * 32, 32),
  };
}

const preprocessors = new Map<string, ImagePreprocessor>();
function preprocessorFor(width: number, height: number): ImagePreprocessor {
  const key = `${width}x${height}`;
  let p = preprocessors.get(key);
  if (!p) {
    p = createImagePreprocessor({ width, height, resize: 'stretch', channels: 'bgr', scale: 1 / 255, mean: MEAN, std: STD, layout: 'nchw' });
    preprocessors.set(key, p);
  }
  return p;
}

/**
 * The photos of `set` ('calibration' | 'held-out'), each at its own PaddleOCR size, or all at `fixed` (e.g.
 * 640x640 for the speed benchmark).
 */
export async function loadOcrImages(dataDir: string, set: 'calibration' | 'held-out', options: { limit?: number; fixed?: { width: number; height: number } } = {}): Promise<OcrImage[]> {
  const dir = path.join(dataDir, set);
  const names = (await fs.readdir(dir)).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort().slice(0, options.limit ?? Infinity);
  const images: OcrImage[] = [];
  for (const name of names) {
    const decoded = decodeImage(new Uint8Array(await fs.readFile(path.join(dir, name))), name);
    const size = options.fixed ?? paddleDetSize(decoded.width, decoded.height);
    const image = preprocessorFor(size.width, size.height).fromPixels(decoded);
    images.push({ file: name, data: image.data, shape: [1, ...image.shape] });
  }
  if (images.length === 0) throw new Error(`no photos in ${dir}: run npm run setup:ocr (or scripts/device/pack.sh)`);
  return images;
}

/** The detector's probability map for one image. */
export async function probabilityMap(engine: Engine, image: OcrImage): Promise<Float32Array> {
  const { outputs } = await engine.infer({ [engine.inputs[0]!.name]: { data: image.data, shape: image.shape } });
  return outputs[engine.outputs[0]!.name]!.data as Float32Array;
}

/** IoU of the text masks (p > threshold) of two probability maps, pooled over all images, and the mean |p - q|. */
export function mapAgreement(reference: readonly Float32Array[], other: readonly Float32Array[], threshold = DB_THRESHOLD): { iou: number; meanAbsDiff: number; textPixels: number } {
  let both = 0;
  let either = 0;
  let sumAbs = 0;
  let pixels = 0;
  let textPixels = 0;
  reference.forEach((p, k) => {
    const q = other[k]!;
    for (let i = 0; i < p.length; i++) {
      const a = p[i]! > threshold;
      const b = q[i]! > threshold;
      if (a && b) both++;
      if (a || b) either++;
      if (a) textPixels++;
      sumAbs += Math.abs(p[i]! - q[i]!);
    }
    pixels += p.length;
  });
  return { iou: either === 0 ? 1 : both / either, meanAbsDiff: sumAbs / Math.max(1, pixels), textPixels };
}

/** Op types whose semantics do not change from opset 11 to 13 in the ways this model uses them (as in the example). */
const OPSET_13_SAFE = new Set(['Constant', 'Conv', 'ConvTranspose', 'BatchNormalization', 'Mul', 'Add', 'Div', 'Clip', 'GlobalAveragePool', 'Relu', 'HardSigmoid', 'Resize', 'Concat', 'Sigmoid']);

/**
 * The detector is opset 11; Q/DQ with per-channel weights needs 13. None of its op types changed meaning from 11
 * to 13 (examples/ocr-dynamic/run.mjs checks the outputs are identical), so raising the import is enough.
 */
export function ocrModelAtOpset13(model: OnnxModel): OnnxModel {
  const unknown = [...new Set(model.nodes.map((n) => n.opType))].filter((t) => !OPSET_13_SAFE.has(t));
  if (unknown.length > 0) throw new Error(`not known to be unchanged from opset 11 to 13: ${unknown.join(', ')}`);
  const upgraded = model.clone();
  const entry = upgraded.proto.opsetImport.find((o) => !o.domain);
  if (!entry) throw new Error('the model imports no default-domain opset');
  entry.version = 13;
  if (Number(upgraded.proto.irVersion) < 7) upgraded.proto.irVersion = 7;
  return upgraded;
}
