/**
 * CalibrationSession: the buffers a native job (TensorRT's calibrator, the bridge's test driver) reads batches from,
 * and `run(job, calibrator)`, which serves that job's requests from a TypeScript Calibrator.
 *
 * The native side owns the job thread. When it needs a batch it posts a request to this thread and waits; we call
 * the calibrator (sync or async), validate the batch with nextValidatedBatch, copy it into the session's staging
 * memory (or skip the copy when the calibrator filled the lent arrays in place), and reply. For CUDA sessions the job
 * thread then copies staging (pinned) -> device with cuMemcpyHtoDAsync and hands TensorRT device pointers.
 */
import type { Calibrator } from '../calibrators/calibrator.js';
import { nextValidatedBatch } from '../calibrators/calibrator.js';
import type { BatchContext } from '../core/batch.js';
import { DTYPES, isDType, product, type InputSpec, type NormalizedBatch, type TypedArray } from '../core/tensor.js';
import { abortError, throwIfAborted, TrtInt8Error } from '../core/errors.js';
import { optionErrors } from '../core/is.js';
import {
  callNative,
  fromNativeError,
  nativeModule,
  type NativeBridgeSession,
  type NativeJobExternal,
  type NativeJobResult,
  type NativeJobRun,
  type NativeLogLine,
} from '../native/index.js';

/** Status numbers of cpp/core/bridge_abi.h. */
const BATCH_READY = 1;
const END_OF_DATA = 0;
const FAILED = -1;
const CACHE_PRESENT = 1;
const CACHE_ABSENT = 0;

export type NativeJob = NativeJobExternal;
export type { NativeLogLine };

export interface CalibrationSessionOptions {
  /** The inputs, with the concrete shape of one calibration batch (TensorRT: the calibration profile's OPT shape). */
  readonly inputs: readonly InputSpec[];
  /** 'cuda': pinned staging + device memory (TensorRT needs this). 'host': host memory only. Default 'auto'. */
  readonly memory?: 'auto' | 'cuda' | 'host';
  /** CUDA device index. Default 0. */
  readonly device?: number;
  /**
   * Lend the staging memory to JS as the arrays in ctx.buffers (zero copy). Default true; falls back to copying
   * where the runtime refuses external ArrayBuffers (e.g. Electron).
   */
  readonly zeroCopy?: boolean;
  /**
   * Ask the calibrator for batch k+1 as soon as batch k is handed to the job (default true), so that getBatch and the
   * copy to the GPU overlap TensorRT's work. Costs a second set of staging/device buffers; getBatch may then be called
   * once more than the job consumes (when the job stops before the end of the data).
   */
  readonly prefetch?: boolean;
}

/** What getBatch receives from a session: BatchContext plus, when lent, the arrays to fill in place. */
export interface BridgeBatchContext extends BatchContext {
  /**
   * Per input, a TypedArray over the memory the batch is delivered from. Fill it and return it (as the input's value)
   * to skip the copy. Only touch it inside getBatch: the job thread reads it after getBatch settles. Null when the
   * session copies instead (zeroCopy: false, or external buffers refused).
   */
  readonly buffers: ReadonlyMap<string, TypedArray> | null;
}

export interface RunOptions {
  readonly signal?: AbortSignal;
  /** Native log lines (e.g. TensorRT's logger), live. */
  readonly onLog?: (line: NativeLogLine) => void;
}

export interface RunResult {
  /** Batches delivered to the job. */
  readonly batches: number;
  readonly cacheRead: boolean;
  readonly cacheWritten: boolean;
  readonly log: readonly NativeLogLine[];
  /** Log lines that found the live queue to JavaScript full (they are counted, and JS is told, never queued). */
  readonly logLinesNotDelivered: number;
  /** The most log lines ever waiting for JavaScript at once (bounded by the bridge). */
  readonly logQueueHighWater: number;
}

const badOption = optionErrors('calibration session');

function checkInputs(inputs: unknown): readonly InputSpec[] {
  if (!Array.isArray(inputs) || inputs.length === 0) throw badOption('inputs', 'a non-empty array of { name, shape, dtype }', inputs);
  const names = new Set<string>();
  for (const [i, spec] of (inputs as InputSpec[]).entries()) {
    const where = `inputs[${i}]`;
    if (typeof spec !== 'object' || spec === null || typeof spec.name !== 'string' || spec.name === '') {
      throw badOption(`${where}.name`, 'a non-empty string', spec?.name);
    }
    if (names.has(spec.name)) throw badOption(`${where}.name`, 'unique input names', spec.name);
    names.add(spec.name);
    if (!isDType(spec.dtype)) throw badOption(`${spec.name}.dtype`, Object.keys(DTYPES).join(' | '), spec.dtype);
    if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw badOption(`${spec.name}.shape`, 'concrete dimensions (integers >= 0)', spec.shape, [
        'Give the shape of one calibration batch; for dynamic axes use the calibration profile\'s OPT shape.',
      ]);
    }
  }
  return inputs as readonly InputSpec[];
}

function byteLengthOf(spec: InputSpec): number {
  return product(spec.shape) * DTYPES[spec.dtype].bytes;
}

function bytesView(data: TypedArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Attaches the job's native log to the user's own error without wrapping it (stack and identity intact). */
function attachNativeLog(error: unknown, log: readonly NativeLogLine[]): void {
  if (typeof error !== 'object' || error === null || !Object.isExtensible(error)) return;
  try {
    Object.defineProperty(error, 'nativeLog', { value: log, configurable: true, writable: true, enumerable: false });
    if (error instanceof TrtInt8Error) error.details.nativeLog = log;
  } catch {
    /* a frozen or exotic error object: leave it as it is */
  }
}

/** What one run() learns while the native job runs. */
interface JobState {
  /** ctx.signal: aborted on the caller's abort and when the job ends, so a slow getBatch can give up. */
  readonly jobSignal: AbortController;
  batchesAsked: number;
  cacheRead: boolean;
  cacheWritten: boolean;
  /** The first calibrator callback that threw: what the run rejects with. */
  callbackError?: { error: unknown };
}

function deliverLog(onLog: RunOptions['onLog'], line: NativeLogLine): void {
  try {
    onLog?.(line);
  } catch {
    /* a throwing log handler must not break the job */
  }
}

async function readCacheChecked(calibrator: Calibrator): Promise<Uint8Array | null> {
  const bytes = await calibrator.readCache();
  if (bytes !== null && !(bytes instanceof Uint8Array)) {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'readCache() must resolve to a Uint8Array or null.', {
      input: 'readCache',
      expected: 'Uint8Array | null',
      actual: typeof bytes,
    });
  }
  return bytes;
}

/** How long a process that exits waits for its job threads (an aborted TensorRT build stops within seconds). */
const EXIT_WAIT_MS = 60_000;
let exitHookInstalled = false;

/**
 * A job can outlive its promise (buildEngine rejects at the abort; TensorRT stops at its next step). When the process
 * exits meanwhile, node would tear itself and TensorRT's statics down beside the unwinding build (on the H200 such
 * exits crashed). The 'exit' listener runs first in process.exit() and at a natural end: it stops the jobs and waits
 * for their threads to return.
 */
function waitForJobsAtExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    try {
      nativeModule('bridge').stopJobsForExit(EXIT_WAIT_MS);
    } catch {
      /* an addon that cannot be reached has no job running */
    }
  });
}

/** Waits for the native job, passing the caller's abort on to it; afterwards ctx.signal tells getBatch the job is over. */
async function awaitJob(handle: NativeJobRun, jobSignal: AbortController, signal: AbortSignal | undefined): Promise<NativeJobResult> {
  const onAbort = (): void => {
    jobSignal.abort(signal!.reason);
    handle.abort();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort(); // aborted while the job was being started
  try {
    return await handle.promise;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!jobSignal.signal.aborted) jobSignal.abort(new TrtInt8Error('ABORT_ERR', 'The native job has ended.'));
  }
}

/** The run's result, or the error it rejects with: the calibrator's own error first, then abort, then a failed job. */
function jobOutcome(result: NativeJobResult, state: JobState, signal: AbortSignal | undefined): RunResult {
  if (state.callbackError) {
    attachNativeLog(state.callbackError.error, result.log);
    throw state.callbackError.error;
  }
  if (result.status === 'aborted' || signal?.aborted) {
    const reason = abortError(signal);
    attachNativeLog(reason, result.log);
    throw reason;
  }
  if (result.status === 'failed') {
    const why = result.stopReason ?? result.runError ?? `run() returned ${result.runStatus}`;
    throw new TrtInt8Error('ERR_BUILD_FAILED', `The native job failed: ${why}`, {
      input: 'job',
      expected: 'run() to return 0',
      actual: result.runError ?? result.runStatus,
      details: { nativeLog: result.log, runStatus: result.runStatus, stopReason: result.stopReason },
    });
  }
  const { cacheRead, cacheWritten } = state;
  return { batches: result.delivered, cacheRead, cacheWritten, log: result.log, logLinesNotDelivered: result.logLinesNotDelivered, logQueueHighWater: result.logQueueHighWater };
}


export class CalibrationSession implements Disposable {
  readonly inputs: readonly InputSpec[];
  readonly memory: 'cuda' | 'host';
  readonly #native: NativeBridgeSession;
  readonly #byteLengths: readonly number[];
  /** [slot][input] views of the staging memory, or null in copy mode. */
  readonly #lent: readonly (readonly TypedArray[])[] | null;
  readonly #lentMaps: readonly ReadonlyMap<string, TypedArray>[] | null;

  constructor(options: CalibrationSessionOptions) {
    if (typeof options !== 'object' || options === null) throw badOption('options', 'an options object', options);
    this.inputs = checkInputs(options.inputs);
    const memory = options.memory ?? 'auto';
    if (memory !== 'auto' && memory !== 'cuda' && memory !== 'host') throw badOption('memory', "'auto' | 'cuda' | 'host'", memory);
    const device = options.device ?? 0;
    if (!Number.isSafeInteger(device) || device < 0) throw badOption('device', 'a CUDA device index (integer >= 0)', device);
    const bridge = nativeModule('bridge');
    this.memory = memory === 'auto' ? (nativeModule('cuda').probe().available ? 'cuda' : 'host') : memory;
    this.#byteLengths = this.inputs.map(byteLengthOf);
    const specs = this.inputs.map((spec, i) => ({ name: spec.name, byteLength: this.#byteLengths[i]! }));
    const slots = options.prefetch === false ? 1 : 2;
    this.#native = callNative('CalibrationSession', () => new bridge.Session({ inputs: specs, memory: this.memory, device, slots }));
    const buffers = this.#native.inputArrays({ forceCopy: options.zeroCopy === false });
    const lent = buffers.map((slot) =>
      slot.map((buffer, i) => {
        if (!buffer) return null;
        const spec = this.inputs[i]!;
        return DTYPES[spec.dtype].view(buffer, this.#byteLengths[i]! / DTYPES[spec.dtype].bytes);
      }),
    );
    const complete = lent.every((slot) => slot.every((array) => array !== null));
    this.#lent = complete ? (lent as TypedArray[][]) : null;
    this.#lentMaps = complete ? this.#lent!.map((slot) => new Map(this.inputs.map((spec, i) => [spec.name, slot[i]!]))) : null;
  }

  /** True when batches are filled in place (ctx.buffers); false when each batch is copied into staging. */
  get zeroCopy(): boolean {
    return this.#lentMaps !== null;
  }
  /** Whether the session reads one batch ahead (see CalibrationSessionOptions.prefetch). */
  get prefetch(): boolean {
    return this.#native.slots > 1;
  }
  get disposed(): boolean {
    return this.#native.disposed;
  }
  get busy(): boolean {
    return this.#native.busy;
  }

  /**
   * The arrays getBatch may fill in place, one map per slot (ctx.buffers is the slot of the batch asked for), or
   * null in copy mode. Useful to fill fixed data once, before run().
   */
  lendInputArrays(): readonly ReadonlyMap<string, TypedArray>[] | null {
    return this.#lentMaps;
  }

  /** Copies the bytes the job side sees for `name` (device memory for CUDA sessions) into `target`. */
  readBack(name: string, target: TypedArray): void {
    const index = this.inputs.findIndex((spec) => spec.name === name);
    if (index < 0) throw badOption('name', this.inputs.map((s) => s.name).join(' | '), name);
    if (target.byteLength !== this.#byteLengths[index]) throw badOption('target', `${this.#byteLengths[index]} bytes`, target.byteLength);
    callNative('CalibrationSession.readBack', () => this.#native.readBack(index, target));
  }

  /**
   * Runs a native job (from a TensorRT module, or createBridgeTestDriver) on its own thread, serving its batch and
   * cache requests from `calibrator`. Rejects with the calibrator's ORIGINAL error if a callback throws (with the
   * job's native log attached as `error.nativeLog`), with signal.reason on abort, with ERR_BAD_BATCH for a bad batch,
   * and with ERR_BUILD_FAILED if the job itself fails.
   */
  async run(job: NativeJob, calibrator: Calibrator, options: RunOptions = {}): Promise<RunResult> {
    const { signal } = options;
    throwIfAborted(signal);
    if (this.disposed) throw badOption('session', 'a live session', 'disposed');
    if (typeof calibrator?.getBatch !== 'function') throw badOption('calibrator', 'a Calibrator (with getBatch)', calibrator);
    const state: JobState = { jobSignal: new AbortController(), batchesAsked: 0, cacheRead: false, cacheWritten: false };
    let handle!: NativeJobRun;
    const onRequest = (kind: string, id: number, payload: unknown): void => {
      if (kind === 'log') return deliverLog(options.onLog, payload as NativeLogLine);
      void this.#serve(calibrator, state, handle, kind, id, payload);
    };
    waitForJobsAtExit();
    handle = callNative('CalibrationSession.run', () => nativeModule('bridge').runJob(job, this.#native, onRequest));
    const result = await awaitJob(handle, state.jobSignal, signal);
    return jobOutcome(result, state, signal);
  }

  /** Answers one batch / cache request of the native job from the calibrator. */
  async #serve(calibrator: Calibrator, state: JobState, handle: NativeJobRun, kind: string, id: number, payload: unknown): Promise<void> {
    try {
      if (kind === 'batch') {
        const status = await this.#deliverBatch(calibrator, state.batchesAsked, payload as number, state.jobSignal.signal);
        if (status === BATCH_READY) state.batchesAsked++;
        handle.reply(id, status);
      } else if (kind === 'readCache') {
        const bytes = await readCacheChecked(calibrator);
        state.cacheRead = bytes !== null && bytes.byteLength > 0;
        handle.reply(id, state.cacheRead ? CACHE_PRESENT : CACHE_ABSENT, state.cacheRead ? bytes! : undefined);
      } else if (kind === 'writeCache') {
        await calibrator.writeCache(payload as Uint8Array);
        state.cacheWritten = true;
        handle.reply(id, 0);
      }
    } catch (error) {
      // Errors after the job was stopped (e.g. a getBatch giving up on ctx.signal) are consequences, not causes.
      if (!state.jobSignal.signal.aborted) {
        state.callbackError ??= { error };
        state.jobSignal.abort(error);
      }
      handle.reply(id, FAILED);
    }
  }

  async #deliverBatch(calibrator: Calibrator, batchIndex: number, slot: number, signal: AbortSignal): Promise<number> {
    const ctx: BridgeBatchContext = { inputs: this.inputs, batchIndex, signal, buffers: this.#lentMaps?.[slot] ?? null };
    const batch = await nextValidatedBatch(calibrator, ctx);
    if (batch === null) return END_OF_DATA;
    if (signal.aborted) return FAILED;  // the job is gone; its buffers may already serve another run
    this.#checkSizes(batch, batchIndex);
    // Everything is checked before the first byte is copied: a bad batch leaves the staging memory untouched.
    for (const [i, spec] of this.inputs.entries()) {
      const data = batch.get(spec.name)!.data;
      const lent = this.#lent?.[slot]?.[i];
      if (lent) {
        if (lent.buffer === data.buffer && lent.byteOffset === data.byteOffset) continue; // filled in place
        bytesView(lent).set(bytesView(data));
      } else {
        this.#native.stage(slot, i, data);
      }
    }
    return BATCH_READY;
  }

  #checkSizes(batch: NormalizedBatch, batchIndex: number): void {
    for (const [i, spec] of this.inputs.entries()) {
      const tensor = batch.get(spec.name);
      const expected = this.#byteLengths[i]!;
      if (!tensor || tensor.data.byteLength !== expected) {
        throw new TrtInt8Error('ERR_BAD_BATCH', `Calibration batch ${batchIndex}: input "${spec.name}" does not have the session's shape.`, {
          input: spec.name,
          expected: `shape [${spec.shape.join(', ')}] (${expected} bytes)`,
          actual: tensor ? `shape [${tensor.shape.join(', ')}] (${tensor.data.byteLength} bytes)` : 'missing',
          fixes: ['Every calibration batch must have the calibration shape (TensorRT: the OPT shape of the calibration profile).'],
          details: { batchIndex },
        });
      }
    }
  }

  /** Frees the staging and device memory (lent arrays keep their staging memory alive until collected). */
  dispose(): void {
    try {
      this.#native.dispose();
    } catch (error) {
      throw fromNativeError(error, 'CalibrationSession.dispose');
    }
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Runs a native job with a fresh session for `inputs`, disposed afterwards. */
export async function runNativeJob(
  job: NativeJob,
  calibrator: Calibrator,
  options: CalibrationSessionOptions & RunOptions,
): Promise<RunResult> {
  const session = new CalibrationSession(options);
  try {
    return await session.run(job, calibrator, options);
  } finally {
    session.dispose();
  }
}
