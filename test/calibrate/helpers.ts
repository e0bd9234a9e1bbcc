/** Test models and data for calibrate()/evaluate(): small real CNNs built with the ONNX proto API. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildModel, initializer, node, randomValues, valueInfo } from '../onnx/helpers.js';
import type { Batch } from '../../src/core/batch.js';

export { randomValues };

/**
 * input [N,1,8,8] -> Conv(4, 3x3, pad 1) -> Relu -> Conv(4, 3x3, pad 1) -> Relu -> Flatten -> Gemm(256 -> 10) -> logits [N,10].
 * `batch` fixes the batch dimension; by default it is dynamic ("N").
 */
export function smallCnn(options: { batch?: number; seed?: number } = {}): Uint8Array {
  const seed = options.seed ?? 1;
  const n: number | string = options.batch ?? 'N';
  return buildModel({
    inputs: [valueInfo('input', [n, 1, 8, 8])],
    outputs: [valueInfo('logits', [n, 10])],
    initializers: [
      initializer('w1', [4, 1, 3, 3], randomValues(36, seed, 0.6)),
      initializer('b1', [4], randomValues(4, seed + 1, 0.1)),
      initializer('w2', [4, 4, 3, 3], randomValues(144, seed + 2, 0.3)),
      initializer('b2', [4], randomValues(4, seed + 3, 0.1)),
      initializer('w3', [10, 256], randomValues(2560, seed + 4, 0.1)),
      initializer('b3', [10], randomValues(10, seed + 5, 0.1)),
    ],
    nodes: [
      node('Conv', ['input', 'w1', 'b1'], ['conv1'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, 'conv1_node'),
      node('Relu', ['conv1'], ['relu1'], {}, 'relu1_node'),
      node('Conv', ['relu1', 'w2', 'b2'], ['conv2'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, 'conv2_node'),
      node('Relu', ['conv2'], ['relu2'], {}, 'relu2_node'),
      node('Flatten', ['relu2'], ['flat'], { axis: 1 }, 'flatten_node'),
      node('Gemm', ['flat', 'w3', 'b3'], ['logits'], { transB: 1 }, 'gemm_node'),
    ],
  });
}

/** Seeded batches of the small CNN's input: values of N(0-ish, 1) scaled so each batch differs. */
export function cnnBatches(count: number, batchSize: number, seed = 100): Batch[] {
  return Array.from({ length: count }, (_, i) => ({
    input: { data: randomValues(batchSize * 64, seed + i, 1 + i * 0.25), shape: [batchSize, 1, 8, 8] },
  }));
}

export function tempDir(prefix = 'trt-int8-calibrate-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A minimal .npy (v1) writer for test data; the reader itself is checked against files numpy wrote. */
export function npyBytes(data: Float32Array | Int32Array | BigInt64Array | Uint8Array, shape: readonly number[]): Uint8Array {
  const descr = data instanceof Float32Array ? '<f4' : data instanceof Int32Array ? '<i4' : data instanceof BigInt64Array ? '<i8' : '|u1';
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}
