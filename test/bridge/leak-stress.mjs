// Leak check for the bridge under the --asan dev build (see docs/bridge.md): runs many jobs through every ending
// (end of data, cache echo, failed callback, abort, native failure, worker teardown), drops everything, forces GC so
// native finalizers run, and exits. LeakSanitizer then reports any native allocation left unreachable; a clean run
// has no stack with a trt_int8_core.node frame. Usage:
//   node --expose-gc test/bridge/leak-stress.mjs <addon.node> [host|cuda]
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const addonPath = process.argv[2];
const memory = process.argv[3] ?? 'host';
const { bridge, cuda } = createRequire(import.meta.url)(addonPath);
const inputs = [
  { name: 'a', byteLength: 4096 },
  { name: 'b', byteLength: 100 },
];

function runOne(mode) {
  const session = new bridge.Session({ inputs, memory, slots: 2 });
  const arrays = session.inputArrays();
  const driver = bridge.createTestDriverJob({ inputs, writeCache: mode === 'native-fail' ? null : 'echo', failAfterBatches: mode === 'native-fail' ? 2 : -1 });
  let batches = 0;
  const handle = bridge.runJob(driver.job, session, (kind, id, slot) => {
    if (kind === 'log') return;
    setImmediate(() => {
      if (kind === 'readCache') handle.reply(id, 1, new Uint8Array(64).fill(7));
      else if (kind === 'writeCache') handle.reply(id, 0);
      else if (mode === 'callback-fail' && batches === 2) handle.reply(id, -1);
      else if (mode === 'abort' && batches === 2) handle.abort();
      else if (batches++ < 4) {
        new Uint8Array(arrays[slot][0]).fill(batches);
        session.stage(slot, 1, new Uint8Array(100).fill(batches));
        handle.reply(id, 1);
      } else handle.reply(id, 0);
    });
  });
  return handle.promise.then((result) => {
    session.dispose();
    return result.status;
  });
}

const statuses = {};
for (let round = 0; round < 50; round++) {
  const results = await Promise.all(['ok', 'callback-fail', 'abort', 'native-fail'].map(runOne));
  for (const status of results) statuses[status] = (statuses[status] ?? 0) + 1;
}
// A job that never got run: its External's finalizer must destroy it.
for (let i = 0; i < 20; i++) bridge.createTestDriverJob({ inputs });
if (cuda.probe().available) {
  for (let i = 0; i < 20; i++) {
    const pinned = new cuda.PinnedBuffer(1 << 16);
    const view = pinned.arrayBuffer();
    const device = new cuda.DeviceBuffer(1 << 16);
    device.copyFrom(pinned);
    device.copyTo(new Uint8Array(view));
    pinned.dispose();
    if (i % 2) device.dispose();
  }
}
// Worker torn down mid-job: the cleanup hook must end and join the thread.
for (let i = 0; i < 5; i++) {
  const worker = new Worker(new URL('./worker-job.mjs', import.meta.url), { workerData: { addonPath } });
  await new Promise((resolve) => worker.once('message', resolve));
  await worker.terminate();
}
for (let i = 0; i < 10; i++) {
  globalThis.gc();
  await new Promise((resolve) => setTimeout(resolve, 20));
}
console.log(JSON.stringify({ statuses, liveJobThreads: bridge.liveJobThreads() }));
