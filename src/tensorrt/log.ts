/** Routing of TensorRT's log lines (ILogger severities) to a TensorRTLogger, and of progress lines to onProgress. */
import type { BuildProgress, TensorRTLogger } from './types.js';

/** cpp/tensorrt/trt_logger.h sends IProgressMonitor events as log lines with this prefix. */
export const PROGRESS_PREFIX = 'trt-int8:progress ';

const SEVERITY_METHOD = ['error', 'error', 'warning', 'info', 'verbose'] as const;

/** The most verbose ILogger severity anyone listens to (so TensorRT's verbose output is not produced for nothing). */
export function maxLogSeverity(logger: TensorRTLogger | undefined): number {
  if (!logger) return 1;
  for (let s = 4; s >= 0; s--) if (typeof logger[SEVERITY_METHOD[s]!] === 'function') return s;
  return 1;
}

/**
 * The ILogger severities to forward from C++, as a bit mask (bit s = severity s): those the logger has a method for,
 * and errors always (they also go into the job's log for error reports). TensorRT's other lines are dropped in C++
 * before anything is copied or queued for JavaScript.
 */
export function logSeverityMask(logger: TensorRTLogger | undefined): number {
  let mask = 0b11;
  for (let s = 2; s <= 4; s++) if (logger && typeof logger[SEVERITY_METHOD[s]!] === 'function') mask |= 1 << s;
  return mask;
}

export function parseProgressLine(message: string): BuildProgress | undefined {
  if (!message.startsWith(PROGRESS_PREFIX)) return undefined;
  try {
    const raw = JSON.parse(message.slice(PROGRESS_PREFIX.length)) as { event?: unknown; phase?: unknown; parent?: unknown; n?: unknown };
    if ((raw.event !== 'start' && raw.event !== 'step' && raw.event !== 'finish') || typeof raw.phase !== 'string' || typeof raw.n !== 'number') return undefined;
    return { event: raw.event, phase: raw.phase, n: raw.n, ...(typeof raw.parent === 'string' ? { parent: raw.parent } : {}) };
  } catch {
    return undefined;
  }
}

/** One native log line -> onProgress or the logger method for its severity. Handler errors are swallowed: a
 * throwing logger must not break a build that runs on another thread. */
export function routeLogLine(line: { severity: number; message: string }, logger: TensorRTLogger | undefined, onProgress: ((p: BuildProgress) => void) | undefined): void {
  const progress = parseProgressLine(line.message);
  try {
    if (progress) {
      onProgress?.(progress);
      return;
    }
    const method = SEVERITY_METHOD[Math.min(Math.max(line.severity, 0), 4)]!;
    logger?.[method]?.(line.message);
  } catch {
    /* see above */
  }
}
