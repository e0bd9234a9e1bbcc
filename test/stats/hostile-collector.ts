// HistogramCollector.add (the public class) with a batch whose buffer the caller transfers or shrinks right after
// add() returns, run by vite-node in a child process (test/stats/native-hostile.test.ts) so that a crash fails the
// test instead of killing vitest. Prints "counted <n> absMax <m>" and exits 0 when the process survived.
import { HistogramCollector } from '../../src/stats/index.js';

const LENGTH = 1 << 24; // 16M floats: the threads are still reading when the caller strikes

function fill(a: Float32Array): Float32Array {
  for (let i = 0; i < a.length; i += 97) a[i] = (i % 1000) / 10;
  return a;
}

const c = new HistogramCollector({ threads: 2 });
const mode = process.argv[2];
if (mode === 'transfer') {
  const a = fill(new Float32Array(LENGTH));
  const added = c.add(new Map([['a', a]]));
  structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
  (globalThis as { gc?: () => void }).gc?.();
  await added;
} else if (mode === 'shrink') {
  const buffer = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(LENGTH * 4, { maxByteLength: LENGTH * 4 });
  const added = c.add(new Map([['a', fill(new Float32Array(buffer))]]));
  buffer.resize(0);
  await added;
} else {
  throw new Error(`unknown mode ${mode}`);
}
const h = c.histograms().get('a')!;
console.log(`counted ${h.count} absMax ${h.absMax}`);
c.dispose();
