// Child process of abort-exit.test.ts: starts a build on the fixture TensorRT (its createInferBuilder takes a while,
// then writes a marker file), aborts it, reports whether buildEngine rejected before TensorRT returned, and exits
// at once with process.exit, as a CLI interrupted by Ctrl-C would.
import fs from 'node:fs';
import { buildEngine } from '../../src/index.js';
import { cnn } from './models.js';

const root = process.env.FIXTURE_TENSORRT_ROOT!;
const marker = process.env.FIXTURE_MARKER!;
const controller = new AbortController();
const reason = new Error('abort-exit-child: stop');
// Half a second in: the job thread is inside the fixture's createInferBuilder by then.
setTimeout(() => controller.abort(reason), 500);
try {
  const engine = await buildEngine(cnn({ fixedBatch: 1 }), { tensorrt: { root }, signal: controller.signal });
  engine.dispose();
  console.log(JSON.stringify({ built: true }));
} catch (error) {
  console.log(JSON.stringify({ rejectedWithReason: error === reason, tensorrtReturnedBeforeRejection: fs.existsSync(marker) }));
}
process.exit(0);
