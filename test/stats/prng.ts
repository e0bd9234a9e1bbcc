/** Seeded random numbers for the statistics tests: mulberry32 and Box-Muller, so data are the same on every run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function normalArray(length: number, seed: number, mean = 0, sd = 1): Float32Array {
  const uniform = mulberry32(seed);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i += 2) {
    const u = 1 - uniform();
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u)) * sd;
    out[i] = mean + r * Math.cos(2 * Math.PI * v);
    if (i + 1 < length) out[i + 1] = mean + r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

export function laplaceArray(length: number, seed: number, scale = 1): Float32Array {
  const uniform = mulberry32(seed);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const u = uniform() - 0.5;
    out[i] = -scale * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
  }
  return out;
}

/**
 * An independent JS statement of the binning rule we match (torch.histc's CPU formula in float32):
 * bin = floor((|x| * numBins) / rangeMax), |x| == rangeMax in the last bin; NaN/Inf skipped.
 */
export function referenceCounts(values: Float32Array[], numBins: number, rangeMax: number): Float64Array {
  const counts = new Float64Array(numBins);
  const n = Math.fround(numBins);
  const m = Math.fround(rangeMax);
  for (const array of values) {
    for (const v of array) {
      const a = Math.abs(v);
      if (!(a <= m)) continue;
      const pos = Math.fround(Math.fround(a * n) / m);
      const bin = pos < n ? Math.floor(pos) : numBins - 1;
      counts[bin] = counts[bin]! + 1;
    }
  }
  return counts;
}

/** A TensorHistogram of `values` binned as the collector bins a single batch (for tests that need no addon). */
export function histogramOf(name: string, values: Float32Array, numBins = 2048) {
  let absMax = 0, min = Infinity, max = -Infinity, count = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    count++;
    absMax = Math.max(absMax, Math.abs(v));
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const counts = referenceCounts([values], numBins, absMax);
  return { name, counts, binWidth: Math.fround(absMax / numBins), min, max, absMax, count, nonFinite: values.length - count };
}
