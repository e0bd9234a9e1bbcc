/** Small numeric helpers shared by the GPU scripts: percentiles of timings, ratios, agreement of predictions. */

/** The q-quantile (0..1) of `values` by the nearest-rank rule; NaN for an empty list. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

export interface LatencySummary {
  readonly medianMs: number;
  readonly p90Ms: number;
  readonly runs: number;
}

export function summarizeLatency(gpuMs: readonly number[]): LatencySummary {
  return { medianMs: quantile(gpuMs, 0.5), p90Ms: quantile(gpuMs, 0.9), runs: gpuMs.length };
}

/** a / b, or null when either side is missing (a failed build must not print as a ratio of 0 or Infinity). */
export function ratio(a: number | undefined | null, b: number | undefined | null): number | null {
  if (a === undefined || a === null || b === undefined || b === null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

/** Fraction of positions where two class predictions agree. */
export function agreement(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length || a.length === 0) throw new Error(`agreement: ${a.length} vs ${b.length} predictions`);
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

/** Index of the largest value in each row of `values` (rows of `width`). */
export function argmaxRows(values: Float32Array, width: number): Uint32Array {
  const rows = values.length / width;
  const out = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let i = 1; i < width; i++) if (values[r * width + i]! > values[r * width + best]!) best = i;
    out[r] = best;
  }
  return out;
}

export function seconds(sinceMs: number): number {
  return Math.round(performance.now() - sinceMs) / 1000;
}
