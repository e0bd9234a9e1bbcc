/** Class predictions of a TensorRT engine on Fashion-MNIST images, shared by the TensorRT example and its GPU check. */
// In an application: from 'trt-int8'.
import type { Engine } from '../../src/index.js';
import { IMAGE_SIZE } from './dataset.js';

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** The predicted class of each of the first `count` images, run `batchSize` images at a time. */
export async function predictClasses(engine: Engine, images: Float32Array, count: number, batchSize: number): Promise<Uint8Array> {
  const predictions = new Uint8Array(count);
  const input = engine.inputs[0]!.name;
  const output = engine.outputs[0]!.name;
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    const { outputs } = await engine.infer({ [input]: { data: images.subarray(start * IMAGE_SIZE, (start + n) * IMAGE_SIZE), shape: [n, 1, 28, 28] } });
    const logits = outputs[output]!.data as Float32Array;
    const classes = logits.length / n;
    for (let i = 0; i < n; i++) predictions[start + i] = argmax(logits.subarray(i * classes, (i + 1) * classes));
  }
  return predictions;
}
