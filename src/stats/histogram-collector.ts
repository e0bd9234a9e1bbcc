/**
 * Streaming per-tensor histograms of |x|, computed natively on the collector's own threads
 * (cpp/core/stats_module.cc). Binning follows NVIDIA pytorch-quantization's HistogramCalibrator:
 * 2048 equal bins from 0 by default, the first non-zero batch sets the bin width (max|x| / numBins),
 * later batches beyond the range append bins of the same width; past maxBins the bin width doubles (bins merge
 * pairwise) instead, so any range is absorbed whatever the order of the batches. Memory does not grow with the
 * number of batches. See docs/algorithms.md.
 */
import os from 'node:os';
import { abortError, throwIfAborted, TrtInt8Error } from '../core/errors.js';
import { nativeModule, type NativeBatchOutcome, type NativeHistogramCollector, type NativeOutputsCollector, type NativeRunOutcome } from '../native/index.js';
import type { TensorHistogram, TensorSummary } from './types.js';
import { optionErrors } from '../core/is.js';

export interface HistogramCollectorOptions {
  /** Bins of the first range. Default 2048 (as pytorch-quantization). */
  readonly numBins?: number;
  /** Worker threads of this collector. Default os.availableParallelism(). */
  readonly threads?: number;
  /**
   * Most bins a tensor's histogram may grow to when later batches exceed the first range; a batch needing more
   * re-bins the histogram (the bin width doubles until the range fits) rather than failing. Default 65536
   * (32 x the first range with 2048 bins).
   */
  readonly maxBins?: number;
  /**
   * Count histograms (default true). false: only each tensor's min, max and counts of finite and non-finite values
   * (summaries()), one pass over the values with no bins: what min-max calibration needs, for about a third less
   * CPU per value and no bin memory. histograms() then throws.
   */
  readonly histograms?: boolean;
}

/** One model input of RunSession.run(): the ONNX element type code (TensorProto.DataType) and the values. */
export interface RunFeed {
  readonly name: string;
  readonly elementType: number;
  readonly shape: readonly number[];
  readonly data: ArrayBufferView;
}

/** Outputs of one RunSession.run(), held where onnxruntime wrote them until HistogramCollector.addOutputs() counts them. */
export interface RunOutputs {
  readonly fetches: readonly string[];
  /** Element count of each fetch; -1 for an output that is not a tensor. */
  readonly elements: readonly number[];
  /** Wall time of onnxruntime's run, milliseconds. */
  readonly runMs: number;
  /**
   * Per fetch, when not empty: the fetch is the in-graph summary of that tensor (the TensorSummary operator of a
   * session created with summaryOps), taken as that tensor's min, max and counts. Collectors without histograms only.
   */
  readonly summaryOf?: readonly string[];
  /** @internal the native handle; emptied by addOutputs(). */
  readonly handle: unknown;
}

/**
 * A CPU session of onnxruntime's C API inside the statistics engine (cpp/core/stats_onnxruntime.h): its outputs are
 * counted into histograms where onnxruntime wrote them, never copied into JavaScript, and a run goes on while the
 * collector counts the previous one. Internal to calibrate().
 */
export interface RunSession {
  /** Runs the model on its own thread (the feeds are copied first); onnxruntime's failure message as `runFailed`. */
  run(feeds: readonly RunFeed[], fetches: readonly string[], signal?: AbortSignal): Promise<RunOutputs | { readonly runFailed: string }>;
  /** Drops the session; runs in flight and uncounted outputs keep it until they are done. Idempotent. */
  release(): void;
}

/**
 * Opens `libraryPath` (onnxruntime's shared library) and creates a CPU session of `model`; intraOpThreads 0 is
 * onnxruntime's default. Up to `concurrentRuns` runs go at once, each on a thread of its own; they may settle out of
 * call order. Throws the native coded error: ERR_ONNXRUNTIME_NOT_FOUND (library), ERR_BAD_MODEL (model).
 */
export function createRunSession(libraryPath: string, model: Uint8Array, intraOpThreads = 0, concurrentRuns = 1, summaryOps = false): RunSession {
  const Session = nativeModule('stats').OnnxRuntimeSession;
  if (!Session) throw new TrtInt8Error('ERR_ONNXRUNTIME_NOT_FOUND', 'The native addon was built without the onnxruntime session; rebuild it (npm run build:native).');
  const native = new Session(libraryPath, model, intraOpThreads, concurrentRuns, summaryOps);
  return {
    async run(feeds, fetches, signal) {
      throwIfAborted(signal);
      const running = native.run(
        feeds.map((f) => f.name),
        feeds.map((f) => f.elementType),
        feeds.map((f) => [...f.shape]),
        feeds.map((f) => f.data),
        [...fetches],
      );
      const cancel = (): void => native.cancelRuns();
      signal?.addEventListener('abort', cancel, { once: true });
      let outcome: NativeRunOutcome;
      try {
        outcome = await running;
      } finally {
        signal?.removeEventListener('abort', cancel);
      }
      throwIfAborted(signal);
      if (outcome.kind === 'runFailed') return { runFailed: outcome.message };
      if (outcome.kind === 'outOfMemory') {
        throw new TrtInt8Error('ERR_BAD_BATCH', 'Out of memory while preparing an onnxruntime run.', { input: 'batch', expected: 'inputs that fit in memory', actual: 'allocation failed' });
      }
      return { fetches: [...fetches], elements: outcome.elements, runMs: outcome.runMs, handle: outcome.outputs };
    },
    release: () => native.release(),
  };
}

export const DEFAULT_NUM_BINS = 2048;
export const DEFAULT_MAX_BINS = 65536;
const MAX_BINS_LIMIT = 1 << 24;
const MAX_THREADS = 256;

const badOption = optionErrors('HistogramCollector');

function integerOption(input: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw badOption(input, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

export class HistogramCollector {
  readonly numBins: number;
  readonly threads: number;
  readonly maxBins: number;
  /** false: summaries only (see HistogramCollectorOptions.histograms). */
  readonly countsHistograms: boolean;
  #native: NativeHistogramCollector | undefined;
  /** Settles when the previous batch has settled: batches run one at a time, in call order. */
  #tail: Promise<void> = Promise.resolve();
  #disposed = false;
  /** Batches called and not yet settled (running or waiting). */
  #inFlight = 0;
  /** add() calls so far: the batchIndex of errors. */
  #calls = 0;

  constructor(options: HistogramCollectorOptions = {}) {
    if (options === null || typeof options !== 'object') throw badOption('options', 'an object or undefined', options);
    this.numBins = integerOption('numBins', options.numBins, DEFAULT_NUM_BINS, 1, MAX_BINS_LIMIT);
    this.threads = integerOption('threads', options.threads, Math.min(MAX_THREADS, os.availableParallelism()), 1, MAX_THREADS);
    this.maxBins = integerOption('maxBins', options.maxBins, Math.max(DEFAULT_MAX_BINS, this.numBins), this.numBins, MAX_BINS_LIMIT);
    if (options.histograms !== undefined && typeof options.histograms !== 'boolean') throw badOption('histograms', 'true or false', options.histograms);
    this.countsHistograms = options.histograms ?? true;
  }

  #nativeCollector(): NativeHistogramCollector {
    this.#native ??= new (nativeModule('stats').HistogramCollector)(this.numBins, this.threads, this.maxBins, this.countsHistograms);
    return this.#native;
  }

  #throwIfDisposed(): void {
    if (this.#disposed) {
      throw new TrtInt8Error('ERR_BAD_OPTION', 'This HistogramCollector was disposed.', {
        input: 'HistogramCollector',
        expected: 'a collector that was not disposed',
        actual: 'disposed',
        fixes: ['Read histograms() before calling dispose().', 'Create a new HistogramCollector.'],
      });
    }
  }

  /**
   * Adds one batch: each Float32Array's |x| goes into the histogram of its tensor name. Resolves once the batch
   * is counted; the JS thread does not wait meanwhile. The values are copied before add() returns (one memcpy per
   * tensor), so the caller may reuse, transfer or resize the buffers as soon as add() returns: what is counted is the
   * batch as it was at the call. A batch is applied whole or not at all: on abort or error nothing of it is counted.
   */
  async add(tensors: ReadonlyMap<string, Float32Array>, signal?: AbortSignal): Promise<void> {
    this.#throwIfDisposed();
    throwIfAborted(signal);
    const batchIndex = this.#calls++;
    const { names, values } = validateBatch(tensors, batchIndex);
    await this.#countInOrder(batchIndex, signal, (native) => native.add(names, values));
  }

  /**
   * Adds the floating-point outputs of one RunSession.run() as one batch, as add() would with their values, read
   * where onnxruntime wrote them (then released). Same ordering, abort and all-or-nothing rules as add().
   */
  async addOutputs(outputs: RunOutputs, signal?: AbortSignal): Promise<void> {
    this.#throwIfDisposed();
    throwIfAborted(signal);
    const batchIndex = this.#calls++;
    await this.#countInOrder(batchIndex, signal, (native) => native.addOutputs(outputs.handle, outputs.summaryOf));
  }

  /**
   * Counts one batch after the batches before it. A batch starts natively right here when none is in flight, so an
   * abort or dispose() that follows the call always reaches the native threads; otherwise it waits for them.
   */
  async #countInOrder(batchIndex: number, signal: AbortSignal | undefined, count: (native: NativeOutputsCollector) => Promise<NativeBatchOutcome | undefined>): Promise<void> {
    const previous = this.#tail;
    const mustWait = this.#inFlight > 0;
    this.#inFlight++;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => (release = resolve));
    try {
      if (mustWait) {
        await waitUnlessAborted(previous, signal);
        if (this.#disposed) throw new TrtInt8Error('ABORT_ERR', 'The HistogramCollector was disposed before the batch was counted.');
      }
      const native = this.#nativeCollector() as NativeOutputsCollector;
      const cancel = (): void => native.cancel();
      signal?.addEventListener('abort', cancel, { once: true });
      let outcome: NativeBatchOutcome | undefined;
      try {
        outcome = await count(native);
      } finally {
        signal?.removeEventListener('abort', cancel);
      }
      if (outcome) throw this.#outcomeError(outcome, signal, batchIndex);
    } finally {
      this.#inFlight--;
      // An aborted wait must not let the next batch start before the previous one has settled.
      void previous.then(release);
    }
  }

  #outcomeError(outcome: NativeBatchOutcome, signal: AbortSignal | undefined, batchIndex: number): unknown {
    if (outcome.kind === 'aborted') {
      if (this.#disposed && !signal?.aborted) return new TrtInt8Error('ABORT_ERR', 'The HistogramCollector was disposed while the batch was being counted.');
      return abortError(signal);
    }
    // outOfMemory (the native collector no longer refuses a wide range: it re-bins).
    return new TrtInt8Error('ERR_BAD_BATCH', `Out of memory while counting batch ${batchIndex} into histograms; nothing of it was counted.`, {
      input: 'tensors',
      expected: 'histogram buffers that fit in memory',
      actual: 'allocation failed',
      fixes: ['Lower maxBins or numBins.', 'Use fewer threads (each thread of a large tensor keeps a partial histogram).'],
      details: { batchIndex },
    });
  }

  /** Each tensor's min, max and value counts so far, by tensor name in first-seen order (with or without histograms). */
  summaries(): Map<string, TensorSummary> {
    this.#throwIfDisposed();
    const result = new Map<string, TensorSummary>();
    if (!this.#native) return result;
    for (const h of this.#native.snapshot()) {
      result.set(h.name, { name: h.name, min: h.min, max: h.max, absMax: h.absMax, count: h.count, nonFinite: h.nonFinite });
    }
    return result;
  }

  /** Copies of the histograms counted so far, by tensor name in first-seen order. Throws for a collector without. */
  histograms(): Map<string, TensorHistogram> {
    this.#throwIfDisposed();
    if (!this.countsHistograms) {
      throw new TrtInt8Error('ERR_BAD_OPTION', 'This HistogramCollector was created with histograms: false; it keeps only each tensor\'s min and max.', {
        input: 'histograms',
        expected: 'a collector that counts histograms',
        actual: false,
        fixes: ['Create it with new HistogramCollector({ histograms: true }) (the default).', 'Or read summaries(): min, max and counts, which both kinds keep.'],
      });
    }
    const result = new Map<string, TensorHistogram>();
    if (!this.#native) return result;
    for (const h of this.#native.snapshot()) {
      result.set(h.name, {
        name: h.name,
        counts: h.counts!,
        binWidth: h.binWidth!,
        min: h.min,
        max: h.max,
        absMax: h.absMax,
        count: h.count,
        nonFinite: h.nonFinite,
      });
    }
    return result;
  }

  tensorNames(): string[] {
    this.#throwIfDisposed();
    return this.#native ? this.#native.tensorNames() : [];
  }

  /** Frees the histograms and stops the threads. A batch still running rejects with ABORT_ERR. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#native?.dispose();
  }
}

function validateBatch(tensors: ReadonlyMap<string, Float32Array>, batchIndex: number): { names: string[]; values: Float32Array[] } {
  if (!(tensors instanceof Map)) {
    throw new TrtInt8Error('ERR_BAD_BATCH', 'HistogramCollector.add expects a Map from tensor name to Float32Array.', {
      input: 'tensors',
      expected: 'Map<string, Float32Array>',
      actual: tensors === null ? 'null' : typeof tensors === 'object' ? Object.prototype.toString.call(tensors) : typeof tensors,
      fixes: ['Wrap a plain object: new Map(Object.entries(values))'],
      details: { batchIndex },
    });
  }
  const names: string[] = [];
  const values: Float32Array[] = [];
  for (const [name, value] of tensors) {
    if (typeof name !== 'string' || name === '') {
      throw new TrtInt8Error('ERR_BAD_BATCH', 'Tensor names must be non-empty strings.', { input: 'tensors', expected: 'a non-empty string key', actual: name, details: { batchIndex } });
    }
    if (!(value instanceof Float32Array)) {
      const actual = value === null ? 'null' : typeof value === 'object' ? Object.prototype.toString.call(value) : typeof value;
      throw new TrtInt8Error('ERR_BAD_BATCH', `Tensor "${name}" is not a Float32Array.`, {
        input: name,
        expected: 'Float32Array',
        actual,
        fixes: ['Convert it first: Float32Array.from(values)', 'Histograms of float16 / int8 tensors need converting to float32.'],
        details: { batchIndex },
      });
    }
    names.push(name);
    values.push(value);
  }
  return { names, values };
}

function waitUnlessAborted(previous: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return previous;
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    void previous.then(() => {
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted) reject(abortError(signal));
      else resolve();
    });
  });
}
