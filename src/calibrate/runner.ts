/**
 * Runs a model on one batch and hands back the requested intermediate tensors as float32, in groups whose
 * combined size stays under a byte budget: each group is one `session.run(feeds, fetches)`, so peak memory
 * is one group's outputs rather than every activation of the network at once.
 *
 * Output sizes are unknown before a run (the model's value_info rarely has shapes), so the first batch
 * fetches tensors one at a time and records bytes per sample; later batches pack tensors greedily, in
 * graph order, and re-plan when a tensor turns out bigger than recorded.
 */
import { TrtInt8Error, throwIfAborted } from '../core/errors.js';
import type { DType, NormalizedBatch, TypedArray } from '../core/tensor.js';
import type { HistogramCollector, RunFeed, RunOutputs, RunSession } from '../stats/histogram-collector.js';
import { SPLIT_BATCHES_ENV, type OrtModule, type OrtSession, type OrtTensor } from './onnxruntime.js';

const FLOAT_TYPES = new Set(['float32', 'float16', 'float64']);

/** IEEE half -> float32, for float16 outputs (onnxruntime returns their raw bits as Uint16Array). */
function halfToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) out[i] = sign * 2 ** -14 * (fraction / 1024);
    else if (exponent === 31) out[i] = fraction ? NaN : sign * Infinity;
    else out[i] = sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return out;
}

/** The values of a floating-point output as float32; undefined for integer/bool outputs (never calibrated). */
export function outputAsFloat32(tensor: OrtTensor): Float32Array | undefined {
  if (!FLOAT_TYPES.has(tensor.type)) return undefined;
  const data = tensor.data;
  if (data instanceof Float32Array) return data;
  if (data instanceof Float64Array) return Float32Array.from(data);
  if (data instanceof Uint16Array) return halfToFloat32(data);
  // Node builds with Float16Array support hand those back; any array-like of numbers converts.
  return Float32Array.from(data as ArrayLike<number>);
}

/** onnxruntime tensors for a validated batch. */
export function batchToFeeds(ort: OrtModule, batch: NormalizedBatch): Record<string, OrtTensor> {
  const feeds: Record<string, OrtTensor> = {};
  for (const [name, tensor] of batch) {
    let data: TypedArray | Uint8Array = tensor.data;
    // onnxruntime takes bool as Uint8Array and float16 as the raw Uint16 bits, which is what validated batches hold.
    if (tensor.dtype === 'bool' && !(data instanceof Uint8Array)) data = Uint8Array.from(data as ArrayLike<number>, (v) => (v ? 1 : 0));
    feeds[name] = new ort.Tensor(tensor.dtype, data, tensor.shape);
  }
  return feeds;
}

/** onnxruntime's failure to run a model it loaded, as ERR_BAD_MODEL. */
function runFailure(message: string, shapes: string[], fetches: readonly string[], cause: unknown, batchShapes?: string[]): TrtInt8Error {
  return new TrtInt8Error('ERR_BAD_MODEL', `onnxruntime loaded the model but failed to run it: ${message.split('\n')[0]}`, {
    input: 'model',
    expected: 'a model onnxruntime can run on these inputs',
    actual: message,
    fixes: [
      'Run the model once with onnxruntime directly on the same inputs to see where it fails.',
      batchShapes
        ? `The inputs were: ${shapes.join(', ')}, samples of the batch ${batchShapes.join(', ')} (runs at once share each batch; ${SPLIT_BATCHES_ENV}=0 runs it whole).`
        : `The inputs were: ${shapes.join(', ')}.`,
    ],
    details: { fetches: fetches.slice(0, 20) },
    cause,
  });
}

/** session.run, with onnxruntime's failure (a model that loads but cannot run these inputs) as ERR_BAD_MODEL. */
async function runOrExplain(session: OrtSession, feeds: Record<string, OrtTensor>, fetches: readonly string[]): Promise<Record<string, OrtTensor>> {
  try {
    return await session.run(feeds, fetches);
  } catch (cause) {
    if (cause instanceof TrtInt8Error) throw cause;
    const message = cause instanceof Error ? cause.message : String(cause);
    throw runFailure(message, Object.entries(feeds).map(([name, t]) => `${name} [${t.dims.join(', ')}] ${t.type}`), fetches, cause);
  }
}

/** ONNX element type codes (TensorProto.DataType) of the dtypes a validated batch holds. */
const ELEMENT_TYPES: Readonly<Record<DType, number>> = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10 };

/** Feeds of the statistics engine's onnxruntime session for a validated batch. */
export function batchToRunFeeds(batch: NormalizedBatch): RunFeed[] {
  const feeds: RunFeed[] = [];
  for (const [name, tensor] of batch) {
    const elementType = ELEMENT_TYPES[tensor.dtype];
    let data: ArrayBufferView = tensor.data;
    // bool as one byte per value, float16 as its raw bits: what validated batches hold.
    if (tensor.dtype === 'bool' && !(data instanceof Uint8Array)) data = Uint8Array.from(tensor.data as ArrayLike<number>, (v) => (v ? 1 : 0));
    feeds.push({ name, elementType, shape: tensor.shape, data });
  }
  return feeds;
}

export interface FetchGroupsOptions {
  /** Largest combined size of the outputs fetched by one run; undefined = everything in one run. */
  readonly maxOutputBytesPerRun?: number;
  /** runInto(): count a group's histograms while the next group runs (see runInto). */
  readonly overlap?: boolean;
  /**
   * runInto() without maxOutputBytesPerRun: how many batches' runs may be in flight at once (default 1). The session
   * must run that many at once (createRunSession's concurrentRuns); see runInto.
   */
  readonly concurrentRuns?: number;
  /**
   * runInto(): tensors summarized in the graph, by the name of their summary output (OnnxModel.withTensorSummaries):
   * that output is fetched instead of the tensor, and the collector takes it as the tensor's min, max and counts.
   */
  readonly summaries?: ReadonlyMap<string, string>;
}

export class GroupedRunner {
  /** Bytes per sample of each tensor, learned from runs. */
  private readonly bytesPerSample = new Map<string, number>();
  private groups: string[][] | undefined;
  private runs = 0;
  /** Milliseconds in onnxruntime runs (with onnxruntime-node: including the copy of the outputs into JavaScript). */
  runMs = 0;
  /** Milliseconds counting histograms of the fetched activations. */
  countMs = 0;
  /** Bytes of floating-point activations fetched (as float32). */
  activationBytes = 0;

  constructor(
    private readonly session: OrtSession | undefined,
    private readonly tensors: readonly string[],
    private readonly options: FetchGroupsOptions = {},
  ) {
    const limit = options.maxOutputBytesPerRun;
    if (limit !== undefined && (!Number.isFinite(limit) || limit <= 0)) {
      throw new TrtInt8Error('ERR_BAD_OPTION', 'maxOutputBytesPerRun must be a positive number of bytes.', {
        input: 'maxOutputBytesPerRun',
        expected: 'a number > 0',
        actual: limit,
      });
    }
  }

  /** How many session.run calls have been made. */
  get runCount(): number {
    return this.runs;
  }

  private plan(samples: number): string[][] {
    const limit = this.options.maxOutputBytesPerRun;
    if (limit === undefined) return [[...this.tensors]];
    const groups: string[][] = [];
    let current: string[] = [];
    let currentBytes = 0;
    for (const name of this.tensors) {
      const known = this.bytesPerSample.get(name);
      if (known === undefined) {
        // Not measured yet: fetch alone, so one unexpectedly large tensor cannot blow the budget.
        groups.push([name]);
        continue;
      }
      const bytes = known * samples;
      if (current.length > 0 && currentBytes + bytes > limit) {
        groups.push(current);
        current = [];
        currentBytes = 0;
      }
      current.push(name);
      currentBytes += bytes;
    }
    if (current.length > 0) groups.push(current);
    return groups;
  }

  /**
   * Runs the batch and calls `consume` once per group with name -> float32 values (integer outputs
   * are skipped). Awaits `consume` before the next run so only one group is alive at a time.
   */
  async run(feeds: Record<string, OrtTensor>, samples: number, consume: (outputs: Map<string, Float32Array>) => Promise<void> | void, signal?: AbortSignal): Promise<void> {
    if (this.tensors.length === 0) return;
    const groups = this.groups && this.options.maxOutputBytesPerRun !== undefined ? this.groups : this.plan(samples);
    let replan = this.groups === undefined;
    for (const fetches of groups) {
      throwIfAborted(signal);
      const started = performance.now();
      const results = await runOrExplain(this.session!, feeds, fetches);
      this.runMs += performance.now() - started;
      this.runs++;
      const outputs = new Map<string, Float32Array>();
      let groupBytes = 0;
      for (const name of fetches) {
        const tensor = results[name];
        if (!tensor) continue;
        const bytes = tensor.size * 4;
        groupBytes += bytes;
        const perSample = bytes / Math.max(1, samples);
        const previous = this.bytesPerSample.get(name);
        if (previous === undefined || perSample > previous) {
          this.bytesPerSample.set(name, perSample);
          if (previous !== undefined) replan = true;
        }
        const values = outputAsFloat32(tensor);
        if (values) {
          outputs.set(name, values);
          this.activationBytes += values.byteLength;
        }
      }
      if (this.options.maxOutputBytesPerRun !== undefined && fetches.length > 1 && groupBytes > this.options.maxOutputBytesPerRun) replan = true;
      const counting = performance.now();
      await consume(outputs);
      this.countMs += performance.now() - counting;
    }
    if (replan) this.groups = this.plan(samples);
  }

  /** The histograms of the last group run by runInto(), still being counted. */
  private counting: Promise<void> | undefined;

  /**
   * The same groups as run(), each run by the statistics engine's onnxruntime session and counted by `collector`
   * where onnxruntime wrote them: the activations never reach JavaScript. With `overlap`, a group's histograms are
   * counted while the next group (or batch) runs (two groups' outputs alive at a time); without (the default), each
   * group is counted before the next run: on a 2-core machine the two compete for the same cores and onnxruntime's
   * spinning threads lose more than the overlap gains (docs/calibration-speed.md). Call flush() after the last.
   * `batch`: the batch's feeds when `feeds` are a slice of its samples (named in the error of a run that fails).
   */
  async runInto(collector: HistogramCollector, session: RunSession, feeds: readonly RunFeed[], samples: number, signal?: AbortSignal, batch?: readonly RunFeed[]): Promise<void> {
    if (this.tensors.length === 0) return;
    if (this.concurrent) return this.startConcurrent(collector, session, feeds, samples, signal, batch);
    const bounded = this.options.maxOutputBytesPerRun !== undefined;
    const groups = this.groups && bounded ? this.groups : this.plan(samples);
    let replan = this.groups === undefined;
    for (const fetches of groups) {
      throwIfAborted(signal);
      if (bounded || !this.options.overlap) await this.flush();
      const outcome = await session.run(feeds, this.outputNames(fetches), signal);
      if ('runFailed' in outcome) await this.flush().catch(() => undefined);
      const { groupBytes, grew } = this.account(outcome, feeds, fetches, samples, batch);
      if (grew) replan = true;
      if (bounded && fetches.length > 1 && groupBytes > this.options.maxOutputBytesPerRun!) replan = true;
      await this.flush(); // the previous group's histograms (counted while this group ran)
      this.track(this.count(collector, this.withSummaries(outcome as RunOutputs, fetches), signal));
    }
    if (replan) this.groups = this.plan(samples);
  }

  /** What to fetch for `tensors`: each one, or its summary output. */
  private outputNames(tensors: readonly string[]): string[] {
    const summaries = this.options.summaries;
    return summaries ? tensors.map((t) => summaries.get(t) ?? t) : [...tensors];
  }

  /** A run's outputs, saying which are summaries of which of `tensors` (fetched as outputNames(tensors)). */
  private withSummaries(outputs: RunOutputs, tensors: readonly string[]): RunOutputs {
    const summaries = this.options.summaries;
    return summaries ? { ...outputs, summaryOf: tensors.map((t) => (summaries.has(t) ? t : '')) } : outputs;
  }

  /** Whether runInto() keeps several batches' runs in flight (concurrentRuns > 1, no memory bound). */
  get concurrent(): boolean {
    return (this.options.concurrentRuns ?? 1) > 1 && this.options.maxOutputBytesPerRun === undefined;
  }

  /** Whether runInto() returns before a batch's activations are counted (overlapped or concurrent, no memory bound). */
  get countsInBackground(): boolean {
    return this.options.maxOutputBytesPerRun === undefined && (this.concurrent || this.options.overlap === true);
  }

  /** Runs started by startConcurrent() whose outputs are not counted yet, oldest first. */
  private readonly pipeline: Promise<void>[] = [];
  /** Settles once the last started run's outputs were handed to the collector (rejects if that run failed). */
  private handedOver: Promise<void> = Promise.resolve();

  /**
   * runInto() with concurrentRuns > 1: starts the batch's run and returns once it is started, so that the caller can
   * start the next batch while this one runs. Two runs of one onnxruntime thread each keep 2 cores busy at less CPU
   * than one run split over 2 threads (docs/calibration-speed.md). Runs may finish in any order, but their outputs go
   * to the collector in the order the runs were started, so the histograms are those of the sequential path. At most
   * concurrentRuns batches' outputs are alive: a run starts once the oldest started one has been counted.
   */
  private async startConcurrent(collector: HistogramCollector, session: RunSession, feeds: readonly RunFeed[], samples: number, signal?: AbortSignal, batch?: readonly RunFeed[]): Promise<void> {
    while (this.pipeline.length >= this.options.concurrentRuns!) await this.pipeline.shift();
    throwIfAborted(signal);
    const fetches = [...this.tensors];
    const ran = session.run(feeds, this.outputNames(fetches), signal); // the feeds are copied before run() returns
    const previous = this.handedOver;
    const handover = (async () => {
      const outcome = await ran;
      await previous; // the batch started before this one goes to the collector first
      this.account(outcome, feeds, fetches, samples, batch);
      return { counting: this.count(collector, this.withSummaries(outcome as RunOutputs, fetches), signal) };
    })();
    this.handedOver = handover.then(() => undefined);
    const counted = handover.then((h) => h.counting);
    // Awaited by the next runInto() or by flush(); never an unhandled rejection meanwhile.
    this.handedOver.catch(() => undefined);
    counted.catch(() => undefined);
    this.pipeline.push(counted);
  }

  /** Records a run's sizes; throws ERR_BAD_MODEL for a run onnxruntime failed. `grew`: a tensor was larger than recorded. */
  private account(outcome: RunOutputs | { readonly runFailed: string }, feeds: readonly RunFeed[], fetches: readonly string[], samples: number, batch?: readonly RunFeed[]): { groupBytes: number; grew: boolean } {
    if ('runFailed' in outcome) {
      const shapes = (of: readonly RunFeed[]) => of.map((f) => `${f.name} [${f.shape.join(', ')}] ${(Object.keys(ELEMENT_TYPES) as DType[]).find((k) => ELEMENT_TYPES[k] === f.elementType) ?? f.elementType}`);
      throw runFailure(outcome.runFailed, shapes(feeds), fetches, new Error(outcome.runFailed), batch && shapes(batch));
    }
    this.runs++;
    this.runMs += outcome.runMs;
    let groupBytes = 0;
    let grew = false;
    fetches.forEach((name, i) => {
      const elements = outcome.elements[i] ?? -1;
      if (elements < 0) return;
      const bytes = elements * 4;
      groupBytes += bytes;
      this.activationBytes += bytes;
      const perSample = bytes / Math.max(1, samples);
      const previous = this.bytesPerSample.get(name);
      if (previous === undefined || perSample > previous) {
        this.bytesPerSample.set(name, perSample);
        if (previous !== undefined) grew = true;
      }
    });
    return { groupBytes, grew };
  }

  /** Hands a run's outputs to the collector (called in batch order); settles once they are counted. */
  private count(collector: HistogramCollector, outputs: RunOutputs, signal?: AbortSignal): Promise<void> {
    const started = performance.now();
    return collector.addOutputs(outputs, signal).then(() => void (this.countMs += performance.now() - started));
  }

  /** Adds `work` (histograms counted in the background) to what flush() waits for. */
  track(work: Promise<void>): void {
    const previous = this.counting;
    const both = previous ? Promise.all([previous, work]).then(() => undefined) : work;
    both.catch(() => undefined);
    this.counting = both;
  }

  /** Waits for the histograms of every run runInto() started (rejects with the first failure, once all settled). */
  async flush(): Promise<void> {
    const counting = this.counting;
    this.counting = undefined;
    const started = this.pipeline.splice(0);
    const settled = await Promise.allSettled([...started, ...(counting ? [counting] : [])]);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
