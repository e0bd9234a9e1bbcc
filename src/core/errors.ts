/**
 * Every error trt-int8 raises on purpose is a TrtInt8Error with a stable `code`, the input it is about,
 * what was expected and what was found, and a list of possible fixes (in the style of sharp's load errors).
 */
export const ErrorCodes = [
  'ERR_ADDON_NOT_FOUND',
  'ERR_CUDA_UNAVAILABLE',
  'ERR_TENSORRT_NOT_FOUND',
  'ERR_TENSORRT_UNSUPPORTED_VERSION',
  'ERR_BAD_BATCH',
  'ERR_BAD_OPTION',
  'ERR_BAD_MODEL',
  'ERR_EMPTY_DATASET',
  'ERR_CACHE_MISMATCH',
  'ERR_CACHE_FORMAT',
  'ERR_CALIBRATOR_CALLBACK',
  'ERR_BUILD_FAILED',
  'ERR_IO',
  'ERR_ONNXRUNTIME_NOT_FOUND',
  'ABORT_ERR',
] as const;

export type ErrorCode = (typeof ErrorCodes)[number];

export interface TrtInt8ErrorOptions {
  /** The input (tensor, option, file, line) the error is about. */
  input?: string;
  expected?: unknown;
  actual?: unknown;
  /** Possible fixes, most likely first. */
  fixes?: readonly string[];
  /** Extra machine-readable context, e.g. native log lines. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** The most characters of `expected` / `actual` a message embeds; the properties keep the full values. */
export const MAX_DESCRIBED_LENGTH = 500;

/** The most characters of the message's own first part (it may quote a name or a line from a file). */
const MAX_MESSAGE_LENGTH = 2_000;

function bounded(text: string, limit = MAX_DESCRIBED_LENGTH): string {
  if (text.length <= limit) return text;
  return `${text.slice(0, limit)}... (${text.length - limit} more)`;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return bounded(value);
  try {
    return bounded(JSON.stringify(value) ?? String(value));
  } catch {
    return bounded(String(value));
  }
}

export class TrtInt8Error extends Error {
  override readonly name = 'TrtInt8Error';
  readonly code: ErrorCode;
  readonly input?: string;
  readonly expected?: unknown;
  readonly actual?: unknown;
  readonly fixes: readonly string[];
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: TrtInt8ErrorOptions = {}) {
    const lines = [bounded(message, MAX_MESSAGE_LENGTH)];
    if (options.expected !== undefined || options.actual !== undefined) {
      lines.push(`  expected: ${describe(options.expected)}`, `  actual:   ${describe(options.actual)}`);
    }
    if (options.fixes?.length) lines.push('Possible solutions:', ...options.fixes.map((f) => `- ${f}`));
    super(lines.join('\n'), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.input = options.input;
    this.expected = options.expected;
    this.actual = options.actual;
    this.fixes = options.fixes ?? [];
    this.details = options.details ?? {};
  }
}

/** An error's code (for a TrtInt8Error) and first line, for a record that says why something did not run. */
export function failureLine(error: unknown): string {
  return error instanceof TrtInt8Error ? `${error.code}: ${error.message.split('\n')[0]}` : (error as Error)?.message?.split('\n')[0] ?? String(error);
}

export function isTrtInt8Error(error: unknown, code?: ErrorCode): error is TrtInt8Error {
  return error instanceof TrtInt8Error && (code === undefined || error.code === code);
}

/** The error an aborted operation rejects with when the signal carries no reason of its own. */
export function abortError(signal?: AbortSignal): unknown {
  if (signal?.reason !== undefined) return signal.reason;
  return new TrtInt8Error('ABORT_ERR', 'The operation was aborted.');
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortError(signal);
}

/**
 * Settles like `promise`, but rejects with abortError(signal) as soon as `signal` aborts, so a stuck
 * callback (a getBatch that never settles) cannot keep an aborted operation waiting. The promise itself
 * keeps running; its later rejection is handled here so it is never reported as unhandled.
 */
export function untilAborted<T>(promise: T | PromiseLike<T>, signal?: AbortSignal): Promise<T> {
  const settled = Promise.resolve(promise);
  if (!signal) return settled;
  if (signal.aborted) {
    settled.catch(() => undefined);
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      settled.catch(() => undefined);
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    settled.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
