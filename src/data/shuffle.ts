/**
 * Deterministic shuffling. Calibration order matters (histogram ranges grow as data arrives), so the order
 * must be reproducible from a seed, in any language: mulberry32 (a 32-bit PRNG by Tommy Ettinger) drives a
 * Fisher-Yates shuffle with j = floor(u32 * (i + 1) / 2^32) for i = n-1 .. 1, integer-exact in JS and numpy.
 */

/** mulberry32: returns a function giving the next uint32 of the sequence for `seed` (any 32-bit integer). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A new array with the items of `items` in seeded Fisher-Yates order (the input is not modified). */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const out = items.slice();
  const next = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    // u32 * (i + 1) < 2^53, so the product and the division by 2^32 are exact.
    const j = Math.floor((next() * (i + 1)) / 4294967296);
    const tmp = out[i]!;
    out[i] = out[j]!;
    out[j] = tmp;
  }
  return out;
}
