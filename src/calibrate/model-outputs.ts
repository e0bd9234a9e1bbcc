/**
 * Every graph output of a model on a few batches (onnxruntime-node, CPU), and their error against a reference: what
 * measureEndToEnd (sensitivity-report.ts) and 'auto''s whole-model check (model-check.ts) compare Q/DQ models by.
 */
import { validateBatch, type Batch } from '../core/batch.js';
import type { OnnxModel } from '../onnx/index.js';
import { createSession, loadOnnxRuntime } from './onnxruntime.js';
import { batchToFeeds, outputAsFloat32 } from './runner.js';
import { samplesInBatch } from './progress.js';

/** Every graph output of a model on the batches (per batch, per output), and the first output's shape. */
export async function runOutputs(model: OnnxModel, bytes: Uint8Array, batches: readonly Batch[]): Promise<{ values: Float32Array[][]; firstDims: readonly number[]; samples: number }> {
  const ort = loadOnnxRuntime();
  const outputs = model.outputs().map((o) => o.name);
  const session = await createSession(ort, bytes, ['cpu'], model.displayName);
  try {
    const values: Float32Array[][] = [];
    let firstDims: readonly number[] = [];
    let samples = 0;
    for (const [batchIndex, batch] of batches.entries()) {
      const normalized = validateBatch(batch, model.inputs(), { batchIndex });
      samples += samplesInBatch([...normalized.values()].map((t) => t.shape));
      const run = await session.run(batchToFeeds(ort, normalized), outputs);
      values.push(outputs.map((name) => outputAsFloat32(run[name]!) ?? new Float32Array(0)));
      if (batchIndex === 0) firstDims = run[outputs[0]!]!.dims;
    }
    return { values, firstDims, samples };
  } finally {
    await session.release().catch(() => undefined);
  }
}

/** Per graph output: squared error against the reference over all batches, the reference's energy, the values compared. */
export function outputErrors(reference: Float32Array[][], values: Float32Array[][]): { noise: number; signal: number; count: number }[] {
  const perOutput = (reference[0] ?? []).map(() => ({ noise: 0, signal: 0, count: 0 }));
  reference.forEach((batch, b) => {
    batch.forEach((ref, o) => {
      const got = values[b]![o]!;
      const acc = perOutput[o]!;
      for (let i = 0; i < ref.length; i++) {
        const d = got[i]! - ref[i]!;
        acc.noise += d * d;
        acc.signal += ref[i]! * ref[i]!;
      }
      acc.count += ref.length;
    });
  });
  return perOutput;
}
