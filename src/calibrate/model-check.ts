/**
 * The whole-model check of 'auto' (issue #10 item 1, "confirmed by the model's output error"). 'auto' picks each
 * tensor's range by its own histogram's quantization MSE; nothing in one histogram says how the network as a whole
 * reacts to a slightly wider or narrower range (docs/accuracy-evidence.md measures models where it matters). So,
 * after the per-tensor choice, calibrate() builds whole-model alternatives from the same histograms (every tensor at
 * percentile 99.99, every tensor at percentile 99.999), runs each set's Q/DQ model and the FP32 model on a fixed
 * subset of the calibration samples (CheckSamples), and keeps the set with the least output error; the per-tensor set unless another is lower by
 * more than MODEL_CHECK_MARGIN. Then, per tensor, the per-tensor range and the best uniform set's are weighed against
 * each other in the model where they differ (tensor-confirmation.ts). Per-tensor overrides keep their range in every
 * set; exclusions apply to every set.
 */
import { failureLine, throwIfAborted } from '../core/errors.js';
import type { CalibrationAlgorithm } from '../core/algorithm.js';
import type { Batch } from '../core/batch.js';
import type { NormalizedBatch, NormalizedTensor } from '../core/tensor.js';
import { insertQdq, type OnnxModel, type PlanOptions } from '../onnx/index.js';
import { computeAmax } from '../stats/index.js';
import type { ModelCheck, ModelCheckCandidate, ModelCheckSet, TensorCalibration } from './result.js';
import { outputErrors, runOutputs } from './model-outputs.js';
import { confirmTensors, contestedTensors } from './tensor-confirmation.js';

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
  /** Calibration samples kept for the check (default 256; never fewer than one calibration batch holds). */
  readonly maxSamples?: number;
  /** Bytes of input data kept (default 64 MiB); a calibration batch larger than this turns the check off for the run. */
  readonly maxBytes?: number;
  /**
   * The per-tensor step after the set choice (default true): one more model evaluation per tensor whose per-tensor
   * and uniform ranges differ by more than 2 %. false keeps the chosen set as it is.
   */
  readonly confirmTensors?: boolean;
}

/** What checkRangeSets is told besides the data: modelCheckBounds' result, and where to report its evaluations. */
export interface RangeCheckOptions {
  readonly confirmTensors: boolean;
  /** After each model evaluation: evaluations done, and planned so far (the per-tensor step's are known once the sets ran). */
  readonly onEvaluation?: (done: number, planned: number) => void;
}

/** One calibration sample kept for the check: its slice of every input, and the key it is chosen by. */
interface KeptSample {
  readonly key: number;
  readonly bytes: number;
  readonly tensors: readonly NormalizedTensor[];
}

/**
 * The samples the check runs on: of all calibration samples, those with the smallest content hash, within the bounds
 * (maxSamples, and never fewer than one calibration batch's worth; maxBytes). That is a fixed pseudo-random subset
 * spread over the whole data and the same whatever order the samples come in, where the first batches would follow
 * the order (a data set sorted by class gives one class first). Kept as copies, since the caller's buffers are reused.
 */
export class CheckSamples {
  readonly #kept: KeptSample[] = []; // ascending key
  #bytes = 0;
  /** The most samples one calibration batch held: the check's batches are that size. */
  #batchSize = 0;
  /** Some batch could not be split into samples (an input without the batch as its first dimension). */
  #unsplittable = false;
  /** One calibration batch is larger than maxBytes: the check is skipped. */
  tooLarge = false;
  constructor(readonly maxSamples: number, readonly maxBytes: number) {}

  offer(batch: NormalizedBatch, samples: number): void {
    if (this.tooLarge || this.#unsplittable || samples < 1) return;
    const tensors = [...batch.values()];
    if (!tensors.every((t) => t.shape[0] === samples && t.data.length % samples === 0)) {
      this.#unsplittable = true; // the check then keeps nothing and is skipped, saying why
      return;
    }
    const batchBytes = tensors.reduce((sum, t) => sum + t.data.byteLength, 0);
    if (batchBytes > this.maxBytes) {
      this.tooLarge = true;
      return;
    }
    this.#batchSize = Math.max(this.#batchSize, samples);
    for (let s = 0; s < samples; s++) this.#consider(tensors, s, samples);
  }

  /** Why nothing can be checked, or undefined. */
  get unusable(): string | undefined {
    if (this.tooLarge) return `a calibration batch is larger than the ${this.maxBytes} bytes the check may keep`;
    if (this.#unsplittable) return 'a calibration batch has an input whose first dimension is not the batch';
    return this.#kept.length === 0 ? 'no sample kept' : undefined;
  }

  /** How many kept samples the check uses: whole batches of the calibration batch size where there are enough. */
  get samples(): number {
    const size = this.#batchSize;
    return this.#kept.length >= size ? this.#kept.length - (this.#kept.length % size) : this.#kept.length;
  }

  /** The samples the check uses, in key order, as batches of the calibration batch size (models may fix it). */
  get batches(): Batch[] {
    const used = this.samples;
    const batches: Batch[] = [];
    for (let start = 0; start < used; start += this.#batchSize) batches.push(joinSamples(this.#kept.slice(start, Math.min(start + this.#batchSize, used))));
    return batches;
  }

  #consider(tensors: readonly NormalizedTensor[], s: number, samples: number): void {
    const key = sampleKey(tensors, s, samples);
    const capacity = Math.max(this.maxSamples, this.#batchSize);
    const last = this.#kept[this.#kept.length - 1];
    if (this.#kept.length >= capacity && last !== undefined && key >= last.key) return;
    const slices = tensors.map((t) => {
      const per = t.data.length / samples;
      return { ...t, shape: [1, ...t.shape.slice(1)], data: t.data.slice(s * per, (s + 1) * per) } as NormalizedTensor;
    });
    const bytes = slices.reduce((sum, t) => sum + t.data.byteLength, 0);
    let at = this.#kept.length;
    while (at > 0 && this.#kept[at - 1]!.key > key) at--;
    this.#kept.splice(at, 0, { key, bytes, tensors: slices });
    this.#bytes += bytes;
    while (this.#kept.length > capacity || (this.#bytes > this.maxBytes && this.#kept.length > 1)) this.#bytes -= this.#kept.pop()!.bytes;
  }
}

/** A 32-bit hash of one sample's bytes (every input, up to 1,024 evenly spaced 4-byte words each), mixed so that keys spread evenly. */
function sampleKey(tensors: readonly NormalizedTensor[], s: number, samples: number): number {
  let h = 0x811c9dc5;
  for (const t of tensors) {
    const per = t.data.byteLength / samples;
    const view = new DataView(t.data.buffer, t.data.byteOffset + s * per, per);
    const words = Math.floor(per / 4);
    const step = Math.max(1, Math.floor(words / 1024));
    for (let w = 0; w < words; w += step) h = Math.imul(h ^ view.getUint32(w * 4, true), 0x01000193);
    for (let b = words * 4; b < per; b++) h = Math.imul(h ^ view.getUint8(b), 0x01000193);
  }
  // murmur3's finaliser: every input bit reaches every output bit.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Samples (each [1, ...]) stacked into one batch. */
function joinSamples(samples: readonly KeptSample[]): Batch {
  const batch: Record<string, { data: NormalizedTensor['data']; shape: number[] }> = {};
  samples[0]!.tensors.forEach((first, i) => {
    const per = first.data.length;
    const data = new (first.data.constructor as new (length: number) => NormalizedTensor['data'])(per * samples.length);
    samples.forEach((sample, k) => (data as unknown as { set(a: ArrayLike<unknown>, at: number): void }).set(sample.tensors[i]!.data as ArrayLike<unknown>, k * per));
    batch[first.name] = { data, shape: [samples.length, ...first.shape.slice(1)] };
  });
  return batch as Batch;
}

export function modelCheckBounds(option: boolean | ModelCheckOptions | undefined): { maxSamples: number; maxBytes: number; confirmTensors: boolean } | undefined {
  if (option === false) return undefined;
  const o = typeof option === 'object' ? option : {};
  return { maxSamples: o.maxSamples ?? MODEL_CHECK_MAX_SAMPLES, maxBytes: o.maxBytes ?? MODEL_CHECK_MAX_BYTES, confirmTensors: o.confirmTensors ?? true };
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
 * Runs the check: FP32 and one Q/DQ model per candidate set on the retained batches, then the per-tensor step.
 * Returns the record and the tensors kept. Throws only for an abort or an error of the caller's onEvaluation: a check
 * that cannot run keeps the per-tensor set and says why, and a per-tensor step whose model run fails keeps the set
 * and the changes made before it (tensorSteps.stopped).
 */
export async function checkRangeSets(
  model: OnnxModel,
  perTensor: readonly TensorCalibration[],
  retained: CheckSamples,
  planOptions: PlanOptions,
  options: RangeCheckOptions,
  signal: AbortSignal,
): Promise<{ check: ModelCheck; tensors: readonly TensorCalibration[] }> {
  const started = performance.now();
  const batches = retained.unusable === undefined ? retained.batches : [];
  const samples = retained.unusable === undefined ? retained.samples : 0;
  const skipped = (reason: string) => ({
    check: { chosen: 'auto' as const, batches: batches.length, samples, margin: MODEL_CHECK_MARGIN, evaluations: 0, outputs: [], candidates: [], skipped: reason, seconds: (performance.now() - started) / 1000 },
    tensors: perTensor,
  });
  if (retained.unusable !== undefined) return skipped(retained.unusable);
  const sets: { set: ModelCheckSet; tensors: readonly TensorCalibration[] }[] = [{ set: 'auto', tensors: perTensor }];
  for (const p of MODEL_CHECK_PERCENTILES) {
    try {
      sets.push({ set: `percentile-${p}`, tensors: uniformSet(perTensor, p) });
    } catch (error) {
      return skipped(`percentile-${p} ranges could not be computed: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  let callbackError: { error: unknown } | undefined;
  try {
    const floatBytes = model.withInlinedExternalData();
    const changed = sets.map(({ set, tensors }) => (set === 'auto' ? 0 : tensors.filter((t, i) => t.amax !== perTensor[i]!.amax).length));
    let evaluations = 0;
    // FP32, 'auto', then each set that differs from it; the per-tensor step's runs are added once known.
    let planned = 2 + changed.filter((count) => count > 0).length;
    const report = () => {
      try {
        options.onEvaluation?.(evaluations, planned);
      } catch (error) {
        // The caller's onProgress failed: that is the caller's error, as during the batches, not a check that cannot run.
        callbackError = { error };
        throw error;
      }
    };
    const reference = await runOutputs(floatBytes, floatBytes.toBytes(), batches);
    evaluations++;
    report();
    /** The output error of one set of ranges (one evaluation). */
    const errorOf = async (tensors: readonly TensorCalibration[], what: string) => {
      throwIfAborted(signal);
      const amax = new Map(tensors.map((t) => [t.name, t.amax]));
      const bytes = insertQdq(floatBytes, { amax, ...planOptions }).toBytes();
      const { values } = await runOutputs(floatBytes, bytes, batches);
      evaluations++;
      const measured = normalisedError(reference.values, values);
      if (!Number.isFinite(measured.error)) throw new Error(`the ${what} Q/DQ model's output error is not finite`);
      return measured;
    };
    const candidates: ModelCheckCandidate[] = [];
    for (const [i, { set, tensors }] of sets.entries()) {
      if (set !== 'auto' && changed[i] === 0) {
        candidates.push({ set, outputError: candidates[0]!.outputError, outputSqnrDb: candidates[0]!.outputSqnrDb, tensorsChanged: 0 });
        continue;
      }
      const { error, sqnrDb } = await errorOf(tensors, set);
      candidates.push({ set, outputError: error, outputSqnrDb: sqnrDb, tensorsChanged: changed[i]! });
      if (evaluations < planned) report(); // the last set's is reported once the per-tensor step is planned
    }
    const chosen = chosenSet(candidates);
    const setEvaluations = evaluations;
    let tensors = sets.find((s) => s.set === chosen.set)!.tensors;
    // The per-tensor step weighs the per-tensor ranges against the best uniform set that differs from them.
    const rival = options.confirmTensors ? bestUniform(candidates) : undefined;
    const uniform = rival === undefined ? undefined : sets.find((s) => s.set === rival.set)!.tensors;
    const contested = uniform === undefined ? [] : contestedTensors(perTensor, uniform, model.tensorOrder());
    planned += contested.length;
    report();
    let tensorSteps: ModelCheck['tensorSteps'];
    if (uniform !== undefined) {
      const confirmed = await confirmTensors({
        perTensor,
        uniform,
        start: tensors,
        startError: chosen.outputError,
        contested,
        errorOf: async (trial) => {
          const { error } = await errorOf(trial, 'per-tensor step');
          report();
          return error;
        },
        isModelFailure: () => callbackError === undefined,
        signal,
      });
      tensorSteps = confirmed.steps;
      tensors = confirmed.tensors;
    }
    const check: ModelCheck = {
      chosen: chosen.set,
      batches: batches.length,
      samples: reference.samples,
      margin: MODEL_CHECK_MARGIN,
      evaluations: setEvaluations,
      outputs: model.outputs().map((o) => o.name),
      candidates,
      ...(tensorSteps ? { tensorSteps } : {}),
      seconds: (performance.now() - started) / 1000,
    };
    return { check, tensors };
  } catch (error) {
    if (signal.aborted) throw error;
    if (callbackError) throw callbackError.error;
    return skipped(`the check could not run: ${failureLine(error)}`);
  }
}

/** The per-tensor set unless another is lower by more than the margin; among those, the lowest. */
function chosenSet(candidates: readonly ModelCheckCandidate[]): ModelCheckCandidate {
  const base = candidates[0]!;
  let chosen = base;
  for (const c of candidates.slice(1)) {
    if (c.outputError < base.outputError * (1 - MODEL_CHECK_MARGIN) && c.outputError < chosen.outputError) chosen = c;
  }
  return chosen;
}

/** The uniform set of least output error among those that differ from the per-tensor set; undefined if none does. */
function bestUniform(candidates: readonly ModelCheckCandidate[]): ModelCheckCandidate | undefined {
  let best: ModelCheckCandidate | undefined;
  for (const c of candidates.slice(1)) if (c.tensorsChanged > 0 && (best === undefined || c.outputError < best.outputError)) best = c;
  return best;
}
