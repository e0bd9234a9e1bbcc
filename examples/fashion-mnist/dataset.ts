/**
 * Fashion-MNIST for the trt-int8 example, the TypeScript side. fashion_mnist.py implements the same rules
 * for train.py, ort_quantize_static.py and the benchmark; keep the two in step:
 *   - normalisation: x = (pixel / 255 - MEAN) / STD, float32, NCHW [N, 1, 28, 28];
 *   - calibration selection: the first N indices of a Fisher-Yates shuffle of the 60,000 training images
 *     driven by mulberry32(seed), j = floor(u32 * (i + 1) / 2^32) for i = count-1 .. 1 (integer-exact in
 *     both languages). Defaults: seed 0, N 1024 (32 batches of 32; onnxruntime's histogram calibrators
 *     need equal batch sizes).
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrtInt8Error } from '../../src/core/errors.js';
import { readIdx } from './idx.js';

/** Mean and standard deviation of the training pixels scaled to [0, 1] (0.28604, 0.35302). */
export const MEAN = 0.286;
export const STD = 0.353;
export const IMAGE_SHAPE = [1, 28, 28] as const;
export const IMAGE_SIZE = 28 * 28;
export const CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;
export const CALIBRATION_SEED = 0;
export const CALIBRATION_COUNT = 1024;

export type Split = 'train' | 'test';

const FILES: Record<Split, { images: string; labels: string; count: number }> = {
  train: { images: 'train-images-idx3-ubyte.gz', labels: 'train-labels-idx1-ubyte.gz', count: 60000 },
  test: { images: 't10k-images-idx3-ubyte.gz', labels: 't10k-labels-idx1-ubyte.gz', count: 10000 },
};

/** examples/fashion-mnist, also when this file runs bundled into examples/fashion-mnist/out/ (npm run example). */
export const EXAMPLE_DIR = ((here) => (path.basename(here) === 'out' ? path.dirname(here) : here))(path.dirname(fileURLToPath(import.meta.url)));
/** Where `npm run setup:example` puts the files. */
export const DEFAULT_DATA_DIR = path.join(EXAMPLE_DIR, 'data');

export interface FashionMnistSplit {
  /** Normalised images, [count, 1, 28, 28] row-major. */
  readonly images: Float32Array;
  /** Class index 0..9 per image. */
  readonly labels: Uint8Array;
  readonly count: number;
}

export interface LoadOptions {
  readonly dataDir?: string;
  /** Load only these images, in this order (e.g. calibrationIndices()). */
  readonly indices?: ArrayLike<number>;
}

/** True when all four files of the data set are in dataDir. */
export async function isFashionMnistPresent(dataDir = DEFAULT_DATA_DIR): Promise<boolean> {
  const names = Object.values(FILES).flatMap((f) => [f.images, f.labels]);
  const found = await Promise.all(names.map((n) => access(path.join(dataDir, n)).then(() => true, () => false)));
  return found.every(Boolean);
}

/** Pixels (uint8) -> the model's input scale, written into `out` at `offset`. */
export function normalizePixels(pixels: Uint8Array, out = new Float32Array(pixels.length), offset = 0): Float32Array {
  // Same float32 operation order as numpy in fashion_mnist.normalize: (p / 255 - MEAN) / STD.
  const f = Math.fround;
  const scale = f(255);
  const mean = f(MEAN);
  const std = f(STD);
  for (let i = 0; i < pixels.length; i++) out[offset + i] = f(f(f(pixels[i]! / scale) - mean) / std);
  return out;
}

/** Loads one split, normalised, optionally only some images. */
export async function loadFashionMnist(split: Split, options: LoadOptions = {}): Promise<FashionMnistSplit> {
  const spec = FILES[split];
  if (!spec) throw new TrtInt8Error('ERR_BAD_OPTION', 'Unknown Fashion-MNIST split.', { input: 'split', expected: "'train' | 'test'", actual: split });
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  const [images, labels] = await Promise.all([readIdx(path.join(dataDir, spec.images)), readIdx(path.join(dataDir, spec.labels))]);
  const [count, rows, cols] = images.dims;
  if (images.dims.length !== 3 || rows !== 28 || cols !== 28 || count !== spec.count) {
    throw new TrtInt8Error('ERR_IO', `${spec.images} does not hold the Fashion-MNIST ${split} images.`, {
      input: path.join(dataDir, spec.images),
      expected: `[${spec.count}, 28, 28]`,
      actual: `[${images.dims.join(', ')}]`,
      fixes: ['npm run setup:example -- --force'],
    });
  }
  if (labels.dims.length !== 1 || labels.dims[0] !== count) {
    throw new TrtInt8Error('ERR_IO', `${spec.labels} does not match its images.`, {
      input: path.join(dataDir, spec.labels),
      expected: `[${count}]`,
      actual: `[${labels.dims.join(', ')}]`,
      fixes: ['npm run setup:example -- --force'],
    });
  }
  const indices = options.indices ?? null;
  const n = indices ? indices.length : count;
  const out = new Float32Array(n * IMAGE_SIZE);
  const outLabels = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const i = indices ? indices[k]! : k;
    if (!Number.isInteger(i) || i < 0 || i >= count) {
      throw new TrtInt8Error('ERR_BAD_OPTION', `indices[${k}] is not an image of the ${split} split.`, { input: 'indices', expected: `an integer in [0, ${count})`, actual: i });
    }
    normalizePixels(images.data.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE), out, k * IMAGE_SIZE);
    outLabels[k] = labels.data[i]!;
  }
  return { images: out, labels: outLabels, count: n };
}

/** mulberry32 (Tommy Ettinger): a tiny 32-bit generator that fashion_mnist.py reproduces bit for bit. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t = (t + Math.imul(t ^ (t >>> 7), t | 61)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Fisher-Yates permutation of 0..count-1 driven by mulberry32(seed). */
export function shuffledIndices(count: number, seed: number): Uint32Array {
  if (!Number.isInteger(count) || count < 1 || count > 2 ** 21) {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'shuffledIndices: bad count.', { input: 'count', expected: 'an integer in [1, 2^21]', actual: count });
  }
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  const next = mulberry32(seed);
  for (let i = count - 1; i > 0; i--) {
    // u32 * (i + 1) < 2^53, so this floor is exact; Python computes (u * (i + 1)) >> 32.
    const j = Math.floor((next() * (i + 1)) / 2 ** 32);
    const tmp = order[i]!;
    order[i] = order[j]!;
    order[j] = tmp;
  }
  return order;
}

/** The training images every calibrator of the example sees (ours and onnxruntime's): the first n of the shuffle. */
export function calibrationIndices(n = CALIBRATION_COUNT, seed = CALIBRATION_SEED, count = FILES.train.count): Uint32Array {
  if (!Number.isInteger(n) || n < 1 || n > count) {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'calibrationIndices: bad image count.', { input: 'n', expected: `an integer in [1, ${count}]`, actual: n });
  }
  return shuffledIndices(count, seed).slice(0, n);
}
