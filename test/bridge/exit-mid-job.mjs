// A child process that exits (process.exit) while a bridge job waits for a batch: must exit promptly and cleanly.
import { createRequire } from 'node:module';

const { bridge } = createRequire(import.meta.url)(process.env.TRT_INT8_ADDON_PATH);
const session = new bridge.Session({ inputs: [{ name: 'x', byteLength: 64 }], memory: 'host' });
const driver = bridge.createTestDriverJob({ inputs: [{ name: 'x', byteLength: 64 }], readCache: false, writeCache: null });
bridge.runJob(driver.job, session, (kind) => {
  if (kind === 'batch') {
    process.stdout.write('waiting\n');
    setTimeout(() => process.exit(0), 20);
  }
});
