// One hostile use of the raw stats addon per run (argv[2] names it), in a child process so that a crash fails
// the test in test/stats/native-hostile.test.ts instead of killing vitest. Prints "settled <how>" and exits 0
// when the process survived; a crash, abort or hang is the failure.
import { createRequire } from 'node:module';

const { stats } = createRequire(import.meta.url)(process.env.TRT_INT8_ADDON_PATH);
const BIG = 1 << 24; // 16M floats (64 MiB): the threads are still reading when the caller strikes

function bigArray(buffer) {
  const a = new Float32Array(buffer ?? new ArrayBuffer(BIG * 4));
  for (let i = 0; i < a.length; i += 97) a[i] = (i % 1000) / 10;
  return a;
}

/** An array whose element `index` is a getter running `onRead` (then giving `value`). */
function withGetter(items, index, onRead) {
  const array = [...items];
  const value = array[index];
  Object.defineProperty(array, index, { get() { onRead(); return value; } });
  return array;
}

async function settle(promise) {
  const timeout = new Promise((resolve) => setTimeout(() => resolve('hung'), 10_000).unref());
  try {
    const outcome = await Promise.race([promise, timeout]);
    return outcome === 'hung' ? 'hung' : `resolved ${outcome === undefined ? 'committed' : outcome.kind}`;
  } catch (error) {
    return `rejected ${error?.constructor?.name}`;
  }
}

const cases = {
  // An element getter that starts another batch on the same collector.
  async reenter() {
    const c = new stats.HistogramCollector(2048, 2, 65536);
    let inner;
    const values = withGetter([new Float32Array([1, 2]), new Float32Array([3])], 1, () => {
      inner = c.add(['x'], [new Float32Array([5])]);
    });
    let outer;
    try {
      outer = await settle(c.add(['a', 'b'], values));
    } catch (error) {
      outer = `threw ${error.constructor.name}`;
    }
    return `${outer}; inner ${await settle(inner)}`;
  },
  // An element getter that detaches (transfers) the buffer of an element read before it.
  async detach() {
    const c = new stats.HistogramCollector(2048, 2, 65536);
    const first = bigArray();
    const values = withGetter([first, new Float32Array([1])], 1, () => {
      structuredClone(first.buffer, { transfer: [first.buffer] });
      globalThis.gc?.();
    });
    const outcome = await settle(c.add(['a', 'b'], values));
    const h = c.snapshot();
    return `${outcome} (${h.map((t) => `${t.name}:${t.count}`).join(',')})`;
  },
  // An element getter that disposes the collector.
  async dispose() {
    const c = new stats.HistogramCollector(2048, 2, 65536);
    const values = withGetter([new Float32Array([1]), new Float32Array([2])], 1, () => c.dispose());
    try {
      return await settle(c.add(['a', 'b'], values));
    } catch (error) {
      return `threw ${error.constructor.name}`;
    }
  },
  // The batch's buffer is transferred right after add() returns, while the threads read it.
  async transfer() {
    const c = new stats.HistogramCollector(2048, 2, 65536);
    const a = bigArray();
    const promise = c.add(['a'], [a]);
    structuredClone(a.buffer, { transfer: [a.buffer] });
    globalThis.gc?.();
    const outcome = await settle(promise);
    return `${outcome} (count ${c.snapshot()[0]?.count})`;
  },
  // A resizable buffer shrunk to nothing right after add() returns.
  async shrink() {
    const c = new stats.HistogramCollector(2048, 2, 65536);
    const buffer = new ArrayBuffer(BIG * 4, { maxByteLength: BIG * 4 });
    const a = bigArray(buffer);
    let promise;
    try {
      promise = c.add(['a'], [a]);
    } catch (error) {
      return `threw ${error.constructor.name}`;
    }
    buffer.resize(0);
    return await settle(promise);
  },
};

const name = process.argv[2];
if (!Object.hasOwn(cases, name)) throw new Error(`unknown case ${name}`);
console.log(`settled ${await cases[name]()}`);
