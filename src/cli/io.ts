/**
 * What every trt-int8 command shares about talking to the user: the CliIO it writes through, progress
 * (a bar redrawn in place on a terminal, plain lines elsewhere), how errors become exit codes, and Ctrl-C.
 */
import { TrtInt8Error } from '../core/errors.js';
import type { CalibrationProgress } from '../calibrate/progress.js';
import { UsageError } from './args.js';

/** Where a command writes its results (stdout) and its messages (stderr); tests pass a fake. */
export interface CliIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** Where the in-place progress bar is drawn when it is a terminal (process.stderr by default). */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

/** Exit codes, as docs/cli.md states them. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

export interface ProgressReporter {
  update(p: CalibrationProgress): void;
  done(): void;
}

function describeProgress(label: string, p: CalibrationProgress): string {
  const rate = `${p.samplesPerSecond.toFixed(1)} samples/s`;
  const eta = p.etaSeconds === undefined ? '' : `  ETA ${Math.ceil(p.etaSeconds)}s`;
  const of = p.batchCount === undefined ? `${p.batchesDone}` : `${p.batchesDone}/${p.batchCount}`;
  if (p.modelCheck) return `${label}: ${p.batchesDone} batches read; checking ranges in the model: evaluation ${p.modelCheck.evaluations}/${p.modelCheck.planned}`;
  return `${label}: batch ${of}, ${p.samplesDone} samples, ${rate}${eta}`;
}

function progressBar(p: CalibrationProgress, width = 24): string {
  if (p.batchCount === undefined || p.batchCount === 0) return '';
  const filled = Math.round((Math.min(p.batchesDone, p.batchCount) / p.batchCount) * width);
  return `[${'#'.repeat(filled).padEnd(width, '.')}] `;
}

/**
 * A progress bar on a TTY (redrawn in place), or plain lines on io.stderr otherwise: one line per
 * update, at most once a second, never a carriage return (logs and CI output stay readable).
 */
export function progressReporter(io: CliIO, stream: ProgressStream, label: string): ProgressReporter {
  const tty = Boolean(stream.isTTY);
  let lastPlain = 0;
  let drawn = false;
  let pending: CalibrationProgress | undefined;
  return {
    update(p) {
      if (tty) {
        stream.write(`\r\x1b[2K${progressBar(p)}${describeProgress(label, p)}`);
        drawn = true;
        return;
      }
      const now = Date.now();
      // The last batch, and the model check's last run, are always printed; everything else at most once a second.
      const last = p.modelCheck ? p.modelCheck.evaluations === p.modelCheck.planned : p.batchesDone === p.batchCount;
      if (now - lastPlain >= 1000 || last) {
        io.stderr(describeProgress(label, p));
        lastPlain = now;
        pending = undefined;
      } else {
        pending = p;
      }
    },
    done() {
      if (tty && drawn) stream.write('\n');
      // Plain output always ends with the final count, even when it fell inside the one-second throttle.
      if (!tty && pending) io.stderr(describeProgress(label, pending));
    },
  };
}

/** API options named in error fixes, and what the command line says instead. */
const CLI_EQUIVALENTS: readonly { readonly api: RegExp; readonly cli: string }[] = [
  { api: /\bnonFinite\b/, cli: '--non-finite warn (or allow) calibrates anyway; the statistics skip NaN and Infinity.' },
  { api: /\bexecutionProviders\b/, cli: '--cpu runs onnxruntime on the CPU only (the default); --cuda uses its CUDA provider.' },
  { api: /tensorrt: \{ root/, cli: '--tensorrt <folder> points build and inspect at a TensorRT folder (or set TENSORRT_ROOT).' },
  { api: /model\.nodes\b/, cli: 'trt-int8 inspect <model.onnx> lists the node names and op types (for --exclude).' },
];

/** The command-line equivalents of the API options a TrtInt8Error's fixes name. */
export function cliEquivalents(error: TrtInt8Error): string[] {
  const text = [error.message, ...error.fixes].join('\n');
  return CLI_EQUIVALENTS.filter((e) => e.api.test(text)).map((e) => e.cli);
}

/** Prints a usage mistake (exit 2), a TrtInt8Error with its fixes (exit 1; 130 when interrupted) or anything else (exit 1). */
export function reportError(error: unknown, io: CliIO, usage: string): number {
  if (error instanceof UsageError) {
    io.stderr(`error [${error.code}]: ${error.message}\n\n${usage}`);
    return EXIT_USAGE;
  }
  if (error instanceof TrtInt8Error) {
    const equivalents = cliEquivalents(error);
    io.stderr(`error [${error.code}]: ${error.message}${equivalents.length ? `\nOn the command line:\n${equivalents.map((e) => `- ${e}`).join('\n')}` : ''}`);
    return error.code === 'ABORT_ERR' ? EXIT_INTERRUPTED : EXIT_FAILURE;
  }
  io.stderr(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return EXIT_FAILURE;
}

/** Ctrl-C aborts the run cleanly (the partial outputs are never written) instead of killing it mid-write. */
export function abortOnSigint(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSigint = () => controller.abort(new TrtInt8Error('ABORT_ERR', 'Interrupted (Ctrl-C).'));
  process.once('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.removeListener('SIGINT', onSigint) };
}

/** Runs one command body with Ctrl-C handling and the error-to-exit-code rule every command shares. */
export async function runCommand(io: CliIO, usage: string, body: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const interrupt = abortOnSigint();
  try {
    return await body(interrupt.signal);
  } catch (error) {
    return reportError(error, io, usage);
  } finally {
    interrupt.dispose();
  }
}

/** Adds the total and an ETA to progress from code that does not know the batch count (evaluate() does not). */
export function withTotal(p: CalibrationProgress, batchCount: number | undefined): CalibrationProgress {
  if (batchCount === undefined || p.batchCount !== undefined) return p;
  const seconds = p.samplesPerSecond > 0 ? p.samplesDone / p.samplesPerSecond : 0;
  const etaSeconds = p.batchesDone > 0 ? Math.max(0, batchCount - p.batchesDone) * (seconds / p.batchesDone) : undefined;
  return { ...p, batchCount, ...(etaSeconds !== undefined ? { etaSeconds } : {}) };
}
