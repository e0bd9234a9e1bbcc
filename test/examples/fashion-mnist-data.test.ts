/**
 * The Fashion-MNIST example's data layer: the IDX reader, the normalisation and calibration-selection
 * rules shared with fashion_mnist.py, and the committed model. Tests that need the real files skip with a
 * message until `npm run setup:example` has run; the Python cross-checks skip without python3 + numpy.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isTrtInt8Error } from '../../src/core/errors.js';
import { parseIdx, readIdx } from '../../examples/fashion-mnist/idx.js';
import {
  CALIBRATION_COUNT,
  DEFAULT_DATA_DIR,
  calibrationIndices,
  isFashionMnistPresent,
  loadFashionMnist,
  mulberry32,
  normalizePixels,
  shuffledIndices,
} from '../../examples/fashion-mnist/dataset.js';

const EXAMPLE_DIR = path.resolve(__dirname, '../../examples/fashion-mnist');
const dataPresent = await isFashionMnistPresent();
if (!dataPresent) console.warn(`[fashion-mnist] ${DEFAULT_DATA_DIR} has no data: tests on the real files skip. Run \`npm run setup:example\`.`);

function python(code: string): string | null {
  const result = spawnSync('python3', ['-c', code], { cwd: EXAMPLE_DIR, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error || result.status !== 0) return null;
  return result.stdout;
}
const pythonHasNumpy = python('import numpy') !== null;
if (!pythonHasNumpy) console.warn('[fashion-mnist] python3 with numpy not found: the cross-checks against fashion_mnist.py skip.');

function idxBytes(type: number, dims: number[], data: Uint8Array): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(header.buffer);
  header.set([0, 0, type, dims.length]);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(header.length + data.length);
  out.set(header);
  out.set(data, header.length);
  return out;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isTrtInt8Error(error) ? error.code : `not a TrtInt8Error: ${String(error)}`;
  }
  return undefined;
}

describe('parseIdx', () => {
  const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 37) % 256);

  it('reads dims and data of raw and gzip files alike', () => {
    const raw = idxBytes(0x08, [2, 3, 4], data);
    for (const bytes of [raw, gzipSync(raw)]) {
      const idx = parseIdx(bytes);
      expect(idx.dims).toEqual([2, 3, 4]);
      expect(Array.from(idx.data)).toEqual(Array.from(data));
    }
  });

  it('rejects bad magic, other element types, truncated data and corrupt gzip with ERR_IO naming expected and actual', () => {
    expect(codeOf(() => parseIdx(Uint8Array.from([1, 2, 3, 4, 5])))).toBe('ERR_IO');
    expect(codeOf(() => parseIdx(new Uint8Array(0)))).toBe('ERR_IO');
    expect(codeOf(() => parseIdx(idxBytes(0x0d, [2, 3, 4], data)))).toBe('ERR_IO');
    const truncated = idxBytes(0x08, [2, 3, 4], data).subarray(0, 20);
    try {
      parseIdx(truncated, 'short.idx');
      expect.unreachable();
    } catch (error) {
      expect(isTrtInt8Error(error, 'ERR_IO')).toBe(true);
      const e = error as { input?: string; expected?: unknown; actual?: unknown; fixes: readonly string[] };
      expect(e.input).toBe('short.idx');
      expect(e.expected).toBe('24 data bytes');
      expect(e.actual).toBe(`${20 - 16} data bytes`);
      expect(e.fixes.join(' ')).toContain('setup:example');
    }
    const gz = gzipSync(idxBytes(0x08, [2, 3, 4], data));
    expect(codeOf(() => parseIdx(gz.subarray(0, gz.length - 10)))).toBe('ERR_IO');
  });

  it('reports a missing file as ERR_IO with the setup command as the fix', async () => {
    const error = await readIdx('/nonexistent/train-images-idx3-ubyte.gz').catch((e: unknown) => e);
    expect(isTrtInt8Error(error, 'ERR_IO')).toBe(true);
    expect((error as { fixes: readonly string[] }).fixes).toContain('Download and extract Fashion-MNIST: npm run setup:example');
  });
});

describe('calibration selection rule', () => {
  it('is a seeded permutation: every index once, same seed same order, other seed other order', () => {
    const a = shuffledIndices(60000, 0);
    expect(a.length).toBe(60000);
    expect(new Set(a).size).toBe(60000);
    expect(Math.max(...a)).toBe(59999);
    expect(Array.from(shuffledIndices(60000, 0))).toEqual(Array.from(a));
    const b = shuffledIndices(60000, 1);
    expect(Array.from(b.subarray(0, 100))).not.toEqual(Array.from(a.subarray(0, 100)));
    expect(Array.from(calibrationIndices())).toEqual(Array.from(a.subarray(0, CALIBRATION_COUNT)));
  });

  it('spreads over the data: the 1024 picks cover all six tenths of the index range roughly evenly', () => {
    const picks = calibrationIndices();
    const perTenth = new Array<number>(10).fill(0);
    for (const i of picks) perTenth[Math.floor(i / 6000)]!++;
    for (const n of perTenth) expect(n).toBeGreaterThan(1024 / 10 - 40);
  });

  it('rejects impossible sizes with ERR_BAD_OPTION', () => {
    expect(codeOf(() => calibrationIndices(0))).toBe('ERR_BAD_OPTION');
    expect(codeOf(() => calibrationIndices(60001))).toBe('ERR_BAD_OPTION');
    expect(codeOf(() => calibrationIndices(1.5))).toBe('ERR_BAD_OPTION');
  });

  it.skipIf(!pythonHasNumpy)('matches fashion_mnist.py bit for bit (mulberry32 stream and selection)', () => {
    const out = python('import json, fashion_mnist as f; r = f.mulberry32(12345); print(json.dumps({"u32": [r() for _ in range(5)], "sel": f.calibration_indices(1024, 0).tolist(), "sel7": f.calibration_indices(50, 7).tolist()}))');
    expect(out).not.toBeNull();
    const fromPython = JSON.parse(out!) as { u32: number[]; sel: number[]; sel7: number[] };
    const next = mulberry32(12345);
    expect(Array.from({ length: 5 }, () => next())).toEqual(fromPython.u32);
    expect(Array.from(calibrationIndices(1024, 0))).toEqual(fromPython.sel);
    expect(Array.from(calibrationIndices(50, 7))).toEqual(fromPython.sel7);
  });
});

describe('normalizePixels', () => {
  it('maps 0 and 255 to the ends of the model input range', () => {
    const x = normalizePixels(Uint8Array.from([0, 255]));
    expect(x[0]).toBeCloseTo((0 - 0.286) / 0.353, 5);
    expect(x[1]).toBeCloseTo((1 - 0.286) / 0.353, 5);
  });
});

describe.skipIf(!dataPresent)('the real Fashion-MNIST files', () => {
  it('train: 60,000 images of 28x28, 6,000 per class, normalised to mean ~0 and std ~1', async () => {
    const train = await loadFashionMnist('train');
    expect(train.count).toBe(60000);
    expect(train.images.length).toBe(60000 * 784);
    const perClass = new Array<number>(10).fill(0);
    for (const label of train.labels) perClass[label]!++;
    expect(perClass).toEqual(new Array(10).fill(6000));
    let sum = 0;
    let sumSquares = 0;
    for (const v of train.images) {
      sum += v;
      sumSquares += v * v;
    }
    const mean = sum / train.images.length;
    expect(Math.abs(mean)).toBeLessThan(1e-3);
    expect(Math.sqrt(sumSquares / train.images.length - mean * mean)).toBeCloseTo(1, 2);
  });

  it('test: 10,000 images, 1,000 per class; loading by indices picks exactly those images', async () => {
    const test = await loadFashionMnist('test');
    expect(test.count).toBe(10000);
    const perClass = new Array<number>(10).fill(0);
    for (const label of test.labels) perClass[label]!++;
    expect(perClass).toEqual(new Array(10).fill(1000));
    const some = await loadFashionMnist('test', { indices: [9999, 0, 4242] });
    expect(Array.from(some.labels)).toEqual([test.labels[9999], test.labels[0], test.labels[4242]]);
    expect(Array.from(some.images.subarray(784, 2 * 784))).toEqual(Array.from(test.images.subarray(0, 784)));
    expect(Array.from(some.images.subarray(2 * 784))).toEqual(Array.from(test.images.subarray(4242 * 784, 4243 * 784)));
    await expect(loadFashionMnist('test', { indices: [10000] })).rejects.toMatchObject({ code: 'ERR_BAD_OPTION' });
  });

  it.skipIf(!pythonHasNumpy)('gives the same float32 images and labels as fashion_mnist.py (calibration selection included)', async () => {
    const out = python(
      'import hashlib, json, fashion_mnist as f\n' +
        'x, y = f.load_split("train")\n' +
        'i = f.calibration_indices()\n' +
        'print(json.dumps({"images": hashlib.sha256(x[i].tobytes()).hexdigest(), "labels": y[i].tolist()}))',
    );
    expect(out).not.toBeNull();
    const fromPython = JSON.parse(out!) as { images: string; labels: number[] };
    const calibration = await loadFashionMnist('train', { indices: calibrationIndices() });
    const bytes = new Uint8Array(calibration.images.buffer, calibration.images.byteOffset, calibration.images.byteLength);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(fromPython.images);
    expect(Array.from(calibration.labels)).toEqual(fromPython.labels);
  });

  it('model.onnx: FP32 accuracy on the 10,000 test images matches the training record, any batch size', async () => {
    const summary = JSON.parse(readFileSync(path.join(EXAMPLE_DIR, 'training/train-summary.json'), 'utf8')) as {
      sha256: string;
      test_accuracy_onnxruntime_fp32: number;
    };
    const modelBytes = readFileSync(path.join(EXAMPLE_DIR, 'model.onnx'));
    expect(createHash('sha256').update(modelBytes).digest('hex')).toBe(summary.sha256);

    const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof import('onnxruntime-node');
    const session = await ort.InferenceSession.create(modelBytes);
    try {
      expect(session.inputNames).toEqual(['input']);
      expect(session.outputNames).toEqual(['logits']);
      const test = await loadFashionMnist('test');
      let correct = 0;
      // Uneven batch sizes exercise the dynamic "batch" axis.
      for (let start = 0, size = 997; start < test.count; start += size, size = size === 997 ? 1003 : 997) {
        const n = Math.min(size, test.count - start);
        const input = new ort.Tensor('float32', test.images.subarray(start * 784, (start + n) * 784), [n, 1, 28, 28]);
        const { logits } = await session.run({ input });
        expect(logits!.dims).toEqual([n, 10]);
        const values = logits!.data as Float32Array;
        for (let k = 0; k < n; k++) {
          let best = 0;
          for (let c = 1; c < 10; c++) if (values[k * 10 + c]! > values[k * 10 + best]!) best = c;
          if (best === test.labels[start + k]) correct++;
        }
      }
      // Same model, onnxruntime on another CPU: allow a couple of near-tie flips out of 10,000.
      expect(Math.abs(correct - Math.round(summary.test_accuracy_onnxruntime_fp32 * 10000))).toBeLessThanOrEqual(2);
    } finally {
      await session.release();
    }
  });
});
