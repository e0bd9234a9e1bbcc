/**
 * The whole-model check of 'auto' (issue #10 item 1, "confirmed by the model's output error"). 'auto' picks each
 * tensor's range by its own histogram's quantization MSE; nothing in one histogram says how the network as a whole
 * reacts to a slightly wider or narrower range (docs/accuracy-evidence.md measures models where it matters). So,
 * after the per-tensor choice, calibrate() builds whole-model alternatives from the same histograms (every tensor at
 * percentile 99.99, every tensor at percentile 99.999), runs each set's Q/DQ model and the FP32 model on the first
 * calibration batches, and keeps the set with the least output error; the per-tensor set unless another is lower by
 * more than MODEL_CHECK_MARGIN. Per-tensor overrides keep their range in every set; exclusions apply to every set.
 */
import { TrtInt8Error, throwIfAborted } from '../core/errors.js';
import type { CalibrationAlgorithm } from '../core/algorithm.js';
import type { Batch } from '../core/batch.js';
import type { NormalizedBatch } from '../core/tensor.js';
import { insertQdq, type NodeExclusion, type OnnxModel } from '../onnx/index.js';
import { computeAmax } from '../stats/index.js';
import type { ModelCheck, ModelCheckCandidate, ModelCheckSet, TensorCalibration } from './result.js';
import { outputErrors, runOutputs } from './model-outputs.js';

/** At most this many samples of the first calibration batches are kept for the check. */
export const MODEL_CHECK_MAX_SAMPLES = 256;
/** ... and at most this many bytes of input data (the FP32 outputs kept besides are of the model's output size). */
export const MODEL_CHECK_MAX_BYTES = 64 * 2 ** 20;
/** Another set replaces the per-tensor one only when its output error is lower by more than this share. */
export const MODEL_CHECK_MARGIN = 0.05;
/** The uniform sets weighed against the per-tensor choice, in this order. */
export const MODEL_CHECK_PERCENTILES = [99.99, 99.999] as const;

/** calibrate()'s modelCheck option: false turns the check off; the object bounds the data it keeps. */
export interface ModelCheckOptions {
  /** Samples of the first batches kept for the check (default 64); whole batches, at least one. */
  readonly maxSamples?: number;
  /** Bytes of input data kept (default 64 MiB); a first batch larger than this turns the check off for the run. */
  readonly maxBytes?: number;
}

/** The first calibration batches, copied as they arrive, within the bounds. */
export class RetainedBatches {
  readonly batches: Batch[] = [];
  samples = 0;
  bytes = 0;
  /** No more batches are taken (a bound reached): later batches never replace earlier ones. */
  full = false;
  /** The first batch alone was over maxBytes: nothing kept, the check is skipped. */
  firstTooLarge = false;
  constructor(readonly maxSamples: number, readonly maxBytes: number) {}

  offer(batch: NormalizedBatch, samples: number): void {
    if (this.full) return;
    let size = 0;
    for (const t of batch.values()) size += t.data.byteLength;
    if (this.samples >= this.maxSamples || this.bytes + size > this.maxBytes) {
      if (this.batches.length === 0) this.firstTooLarge = true;
      this.full = true;
      return;
    }
    this.batches.push(Object.fromEntries([...batch].map(([name, t]) => [name, { data: t.data.slice(), shape: [...t.shape] }])) as Batch);
    this.samples += samples;
    this.bytes += size;
    if (this.samples >= this.maxSamples) this.full = true;
  }
}

export function modelCheckBounds(option: boolean | ModelCheckOptions | undefined): { maxSamples: number; maxBytes: number } | undefined {
  if (option === false) return undefined;
  const o = typeof option === 'object' ? option : {};
  return { maxSamples: o.maxSamples ?? MODEL_CHECK_MAX_SAMPLES, maxBytes: o.maxBytes ?? MODEL_CHECK_MAX_BYTES };
}

/** The uniform set at one percentile: every tensor calibrated by the calibrator's algorithm gets that percentile of its histogram. */
function uniformSet(tensors: readonly TensorCalibration[], percentile: number): TensorCalibration[] {
  const algorithm: CalibrationAlgorithm = { kind: 'percentile', percentile };
  return tensors.map((t) => {
    if (t.algorithm !== undefined || t.histogram === undefined || t.histogram.binWidth === 0) return t;
    return { ...t, amax: computeAmax(t.histogram, algorithm), algorithm };
  });
}

/**
 * Mean over the float graph outputs of Σ(q - f)² / Σf² (per output, so that outputs of different scales weigh
 * alike; an output that is zero in FP32 counts its mean squared error).
 */
function normalisedError(reference: Float32Array[][], values: Float32Array[][]): { error: number; sqnrDb: number | null } {
  const perOutput = outputErrors(reference, values);
  let sum = 0;
  let used = 0;
  let noise = 0;
  let signal = 0;
  for (const o of perOutput) {
    if (o.count === 0) continue;
    sum += o.signal > 0 ? o.noise / o.signal : o.noise / o.count;
    used++;
    noise += o.noise;
    signal += o.signal;
  }
  return { error: used === 0 ? 0 : sum / used, sqnrDb: noise === 0 ? null : 10 * Math.log10(signal / noise) };
}

/**
 * Runs the check: FP32 and one Q/DQ model per candidate set on the retained batches. Returns the record and the
 * tensors of the set kept. Never throws except for an abort: a check that cannot run keeps the per-tensor set and
 * says why.
 */
export async function checkRangeSets(
  model: OnnxModel,
  perTensor: readonly TensorCalibration[],
  retained: RetainedBatches,
  exclude: NodeExclusion | undefined,
  signal: AbortSignal,
): Promise<{ check: ModelCheck; tensors: readonly TensorCalibration[] }> {
  const started = performance.now();
  const skipped = (reason: string) => ({
    check: { chosen: 'auto' as const, batches: retained.batches.length, samples: retained.samples, margin: MODEL_CHECK_MARGIN, evaluations: 0, outputs: [], candidates: [], skipped: reason, seconds: (performance.now() - started) / 1000 },
    tensors: perTensor,
  });
  if (retained.batches.length === 0) {
    return skipped(retained.firstTooLarge ? `the first batch is larger than the ${retained.maxBytes} bytes the check may keep` : 'no batch kept');
  }
  const sets: { set: ModelCheckSet; tensors: readonly TensorCalibration[] }[] = [{ set: 'auto', tensors: perTensor }];
  for (const p of MODEL_CHECK_PERCENTILES) {
    try {
      sets.push({ set: `percentile-${p}`, tensors: uniformSet(perTensor, p) });
    } catch (error) {
      return skipped(`percentile-${p} ranges could not be computed: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  try {
    const floatBytes = model.withInlinedExternalData();
    const reference = await runOutputs(floatBytes, floatBytes.toBytes(), retained.batches);
    let evaluations = 1;
    const candidates: ModelCheckCandidate[] = [];
    for (const { set, tensors } of sets) {
      throwIfAborted(signal);
      const amax = new Map(tensors.map((t) => [t.name, t.amax]));
      const changed = set === 'auto' ? 0 : tensors.filter((t, i) => t.amax !== perTensor[i]!.amax).length;
      if (set !== 'auto' && changed === 0) {
        candidates.push({ set, outputError: candidates[0]!.outputError, outputSqnrDb: candidates[0]!.outputSqnrDb, tensorsChanged: 0 });
        continue;
      }
      const bytes = insertQdq(floatBytes, { amax, ...(exclude !== undefined ? { exclude } : {}) }).toBytes();
      const { values } = await runOutputs(floatBytes, bytes, retained.batches);
      evaluations++;
      const { error, sqnrDb } = normalisedError(reference.values, values);
      if (!Number.isFinite(error)) throw new Error(`the ${set} Q/DQ model's output error is not finite`);
      candidates.push({ set, outputError: error, outputSqnrDb: sqnrDb, tensorsChanged: changed });
    }
    // The per-tensor set unless another is lower by more than the margin; among those, the lowest.
    const base = candidates[0]!;
    let chosen = base;
    for (const c of candidates.slice(1)) {
      if (c.outputError < base.outputError * (1 - MODEL_CHECK_MARGIN) && c.outputError < chosen.outputError) chosen = c;
    }
    const check: ModelCheck = {
      chosen: chosen.set,
      batches: retained.batches.length,
      samples: reference.samples,
      margin: MODEL_CHECK_MARGIN,
      evaluations,
      outputs: model.outputs().map((o) => o.name),
      candidates,
      seconds: (performance.now() - started) / 1000,
    };
    return { check, tensors: sets.find((s) => s.set === chosen.set)!.tensors };
  } catch (error) {
    if (signal.aborted) throw error;
    const message = error instanceof TrtInt8Error ? `${error.code}: ${error.message.split('\n')[0]}` : (error as Error)?.message?.split('\n')[0] ?? String(error);
    return skipped(`the check could not run: ${message}`);
  }
}
