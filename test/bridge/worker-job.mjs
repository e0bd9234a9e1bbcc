// Runs in a worker_threads Worker: starts a bridge job whose getBatch never answers, then tells the parent, which
// terminates the worker mid-job. Uses the raw addon (no TypeScript loader in workers).
import { parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';

const { bridge } = createRequire(import.meta.url)(workerData.addonPath);
const session = new bridge.Session({ inputs: [{ name: 'x', byteLength: 64 }], memory: workerData.memory ?? 'host' });
const driver = bridge.createTestDriverJob({ inputs: [{ name: 'x', byteLength: 64 }], readCache: false, writeCache: null });
bridge.runJob(driver.job, session, (kind) => {
  if (kind === 'batch') parentPort.postMessage({ waiting: true, live: bridge.liveJobThreads() });
  // never reply: the job thread stays blocked in get_batch until teardown wakes it
});
