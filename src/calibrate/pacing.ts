/**
 * onnxruntime-node runs a session in one synchronous native call on the JavaScript thread, so an abort
 * (or Ctrl-C) waits for the run in progress: 27 s for an 8,192-sample batch of a small CNN on a slow CPU.
 * RunPacer keeps runs short: once a run shows that a whole batch would take longer than about
 * 2 x targetMs, later batches are cut along the sample dimension into slices of about targetMs each, so
 * an abort takes effect within about that time. Fast runs are never cut.
 */
import type { InputSpec, NormalizedBatch, NormalizedTensor, TypedArray } from '../core/tensor.js';

/** The time one onnxruntime run should take at most, about (milliseconds). */
export const TARGET_RUN_MS = 500;

export class RunPacer {
  #msPerSample: number | undefined;

  constructor(private readonly targetMs: number = TARGET_RUN_MS) {}

  /** How many samples of a batch of `samples` to run at once. */
  samplesPerRun(samples: number): number {
    const perSample = this.#msPerSample;
    if (perSample === undefined || perSample * samples <= 2 * this.targetMs) return samples;
    return Math.max(1, Math.min(samples, Math.floor(this.targetMs / perSample)));
  }

  /** Records that `samples` samples took `ms`; the slowest rate seen is kept, so a slow model stays cut. */
  record(samples: number, ms: number): void {
    if (samples <= 0) return;
    const perSample = ms / samples;
    this.#msPerSample = Math.max(this.#msPerSample ?? 0, perSample);
  }
}

/** Whether a batch can be cut along its first dimension: every model input has a dynamic batch dimension. */
export function canSlice(inputs: readonly InputSpec[], batch: NormalizedBatch, samples: number): boolean {
  return inputs.every((spec) => (spec.shape[0] ?? 0) < 0) && [...batch.values()].every((t) => t.shape.length > 0 && t.shape[0] === samples);
}

/** Samples [start, start + count) of a batch, as views (no copy). */
export function sliceBatch(batch: NormalizedBatch, start: number, count: number): NormalizedBatch {
  const out = new Map<string, NormalizedTensor>();
  for (const [name, tensor] of batch) {
    const perSample = tensor.data.length / tensor.shape[0]!;
    const data = tensor.data.subarray(start * perSample, (start + count) * perSample) as TypedArray;
    out.set(name, { ...tensor, shape: [count, ...tensor.shape.slice(1)], data });
  }
  return out;
}
