/** Seeded mutations of valid inputs for the fuzz tests: the same inputs on every run (fixed seed). */
import { mulberry32 } from '../stats/prng.js';

export type Random = () => number;

export function seeded(seed: number): Random {
  return mulberry32(seed);
}

const INTERESTING = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe, 0x20, 0x0a, 0x0d, 0x3a];

/** One to a few mutations: bit flips, interesting bytes, truncation, random splices, duplicated ranges, 32-bit extremes. */
export function mutate(input: Uint8Array, random: Random): Uint8Array {
  let bytes = Uint8Array.from(input);
  const count = 1 + Math.floor(random() * 4);
  const at = (n: number) => Math.floor(random() * Math.max(1, n));
  for (let k = 0; k < count; k++) {
    const kind = at(7);
    if (bytes.length === 0) bytes = Uint8Array.of(at(256));
    if (kind === 0) {
      const i = at(bytes.length);
      bytes[i] = bytes[i]! ^ (1 << at(8));
    }
    else if (kind === 1) bytes[at(bytes.length)] = INTERESTING[at(INTERESTING.length)]!;
    else if (kind === 2) bytes = bytes.slice(0, at(bytes.length));
    else if (kind === 3) {
      const where = at(bytes.length);
      const junk = Uint8Array.from({ length: 1 + at(16) }, () => at(256));
      bytes = Uint8Array.from([...bytes.subarray(0, where), ...junk, ...bytes.subarray(where)]);
    } else if (kind === 4) {
      const from = at(bytes.length);
      const length = at(Math.min(64, bytes.length - from));
      const where = at(bytes.length);
      bytes = Uint8Array.from([...bytes.subarray(0, where), ...bytes.subarray(from, from + length), ...bytes.subarray(where)]);
    } else if (kind === 5 && bytes.length >= 4) {
      const where = at(bytes.length - 3);
      const value = [0xffffffff, 0x7fffffff, 0x80000000, 0, 0xffff][at(5)]!;
      new DataView(bytes.buffer).setUint32(where, value, random() < 0.5);
    } else if (kind === 6) {
      const where = at(bytes.length);
      bytes = bytes.slice(0, where).length === bytes.length ? bytes : Uint8Array.from([...bytes.subarray(where), ...bytes.subarray(0, where)]);
    }
  }
  return bytes;
}

/**
 * Runs `parse` on every input; a TrtInt8Error is fine, so is success. Anything else thrown, or one input
 * taking longer than `boundMs`, is collected and returned (the test asserts there are none).
 */
export async function fuzz(
  inputs: Iterable<Uint8Array>,
  parse: (bytes: Uint8Array) => unknown,
  isTyped: (error: unknown) => boolean,
  boundMs: number,
): Promise<{ runs: number; failures: string[] }> {
  const failures: string[] = [];
  let runs = 0;
  for (const bytes of inputs) {
    runs++;
    const started = performance.now();
    try {
      await parse(bytes);
    } catch (error) {
      if (!isTyped(error)) failures.push(`untyped ${String(error).slice(0, 200)} for ${bytes.length} bytes: ${Buffer.from(bytes.subarray(0, 48)).toString('hex')}`);
    }
    const ms = performance.now() - started;
    if (ms > boundMs) failures.push(`took ${ms.toFixed(0)} ms (bound ${boundMs}) for ${bytes.length} bytes`);
    if (failures.length >= 5) break;
  }
  return { runs, failures };
}
