/**
 * The bridge scenarios of test/bridge/bridge.test.ts with real device memory, for the GPU machine (which has node
 * but no vitest): every batch is copied back from the GPU by the native driver and compared by checksum. Prints one
 * line per scenario and exits non-zero on the first failure. Build and run: see docs/bridge.md.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { CalibrationSession, createBridgeTestDriver, DeviceBuffer, fnv1a32, PinnedBuffer } from '../../src/bridge/index.js';
import { isTrtInt8Error } from '../../src/core/errors.js';
import { core, nativeModule } from '../../src/native/index.js';
import { driverInputs, INPUTS, makeBatch, TestCalibrator } from '../../test/bridge/helpers.js';

// --host runs the same scenarios on host memory (to check this script where there is no GPU).
const memory: 'cuda' | 'host' = process.argv.includes('--host') ? 'host' : 'cuda';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sums = (batches: Record<string, Float32Array | Int32Array>[]) => batches.map((b) => INPUTS.map((s) => fnv1a32(b[s.name]!)));
const results: { name: string; ok: boolean; ms: number; error?: string }[] = [];
let prefetch = true;

async function scenario(title: string, body: () => Promise<void> | void): Promise<void> {
  const name = `${title} [prefetch ${prefetch}]`;
  const start = performance.now();
  try {
    await body();
    results.push({ name, ok: true, ms: performance.now() - start });
    console.log(`ok   ${name} (${(performance.now() - start).toFixed(1)} ms)`);
  } catch (error) {
    results.push({ name, ok: false, ms: performance.now() - start, error: String((error as Error)?.stack ?? error) });
    console.log(`FAIL ${name}\n${(error as Error)?.stack ?? error}`);
    process.exitCode = 1;
  }
}

async function main(): Promise<void> {
  const probe = nativeModule('cuda').probe();
  console.log(JSON.stringify(probe));
  if (memory === 'cuda') assert.equal(probe.available, true, `CUDA unavailable: ${probe.reason}`);

  if (memory === 'cuda') await scenario('DeviceBuffer/PinnedBuffer round trips (pinned, pageable, offsets)', () => {
    const bytes = crypto.randomBytes(1 << 20);
    using pinned = new PinnedBuffer(bytes.length);
    using device = new DeviceBuffer(bytes.length);
    assert.equal(device.byteLength, bytes.length);
    assert.ok(device.address > 0n);
    pinned.copyFrom(bytes);
    device.copyFrom(pinned);
    const back = new Uint8Array(bytes.length);
    device.copyTo(back);
    assert.ok(Buffer.from(back).equals(bytes));
    const other = crypto.randomBytes(4096);
    device.copyFrom(other, 1000); // pageable, at an offset
    const slice = new Uint8Array(4096);
    device.copyTo(slice, 1000);
    assert.ok(Buffer.from(slice).equals(other));
    const view = pinned.view()!;
    device.copyTo(pinned);
    assert.equal(view[1000], other[0]);
    assert.throws(() => device.copyFrom(new Uint8Array(bytes.length + 1)), (e: unknown) => isTrtInt8Error(e, 'ERR_BAD_OPTION'));
    device.dispose();
    assert.throws(() => device.copyTo(back), (e: unknown) => isTrtInt8Error(e, 'ERR_BAD_OPTION'));
  });

  for (prefetch of [true, false]) {
    await scenario('sync getBatch: every byte reaches device memory', async () => {
      const batches = [0, 1, 2, 3, 4].map((i) => makeBatch(i));
      using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory });
      const driver = createBridgeTestDriver({ inputs: driverInputs(), writeCache: null });
      const result = await session.run(driver.job, new TestCalibrator((ctx) => batches[ctx.batchIndex] ?? null));
      assert.equal(result.batches, 5);
      assert.equal(driver.results().memory, memory);
      assert.deepEqual(driver.results().checksums, sums(batches));
    });

    await scenario('async getBatch, zero copy in place and copy fallback', async () => {
      const batches = [0, 1, 2].map((i) => makeBatch(i + 20));
      for (const zeroCopy of [true, false]) {
        using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory, zeroCopy });
        assert.equal(session.zeroCopy, zeroCopy);
        const driver = createBridgeTestDriver({ inputs: driverInputs(), writeCache: null });
        await session.run(
          driver.job,
          new TestCalibrator(async (ctx) => {
            await sleep(2);
            const source = batches[ctx.batchIndex];
            const lent = (ctx as { buffers?: ReadonlyMap<string, Float32Array | Int32Array> | null }).buffers;
            if (!source || !lent) return source ?? null;
            for (const [name, array] of lent) array.set(source[name] as never);
            return Object.fromEntries(lent);
          }),
        );
        assert.deepEqual(driver.results().checksums, sums(batches));
        const back = new Float32Array(2 * 3 * 8 * 8);
        session.readBack('images', back);
        assert.equal(fnv1a32(back), fnv1a32(batches[2]!.images!));
      }
    });

    await scenario('a 64x3x224x224 float32 batch arrives intact', async () => {
      const inputs = [{ name: 'input', shape: [64, 3, 224, 224], dtype: 'float32' as const }];
      const data = new Float32Array(64 * 3 * 224 * 224).map((_, i) => Math.sin(i));
      using session = new CalibrationSession({ inputs, memory, prefetch });
      const driver = createBridgeTestDriver({ inputs: [{ name: 'input', byteLength: data.byteLength }], writeCache: null, maxBatches: 2 });
      await session.run(driver.job, new TestCalibrator(() => ({ input: data })));
      const sum = fnv1a32(data);
      assert.deepEqual(driver.results().checksums, [[sum], [sum]]);
    });

    await scenario('cache read then write: identical bytes', async () => {
      const cache = crypto.randomBytes(2048);
      using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory });
      const driver = createBridgeTestDriver({ inputs: driverInputs(), writeCache: 'echo', maxBatches: 1 });
      const calibrator = new TestCalibrator(() => makeBatch(0), new Uint8Array(cache));
      await session.run(driver.job, calibrator);
      assert.ok(Buffer.from(driver.results().cacheRead!).equals(cache));
      assert.ok(Buffer.from(calibrator.written[0]!).equals(cache));
    });

    await scenario('thrown error and rejected Promise: the original error objects', async () => {
      for (const async of [false, true]) {
        const original = new TypeError(`boom ${async}`);
        using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory });
        const driver = createBridgeTestDriver({ inputs: driverInputs() });
        const calibrator = new TestCalibrator((ctx) => {
          if (ctx.batchIndex === 1) return async ? Promise.reject(original) : (() => { throw original; })();
          return makeBatch(ctx.batchIndex);
        });
        const error = await session.run(driver.job, calibrator).catch((e: unknown) => e);
        assert.equal(error, original);
        assert.ok(Array.isArray((error as { nativeLog?: unknown }).nativeLog));
      }
    });

    await scenario('abort in the middle is prompt (< 1 s)', async () => {
      using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory });
      const driver = createBridgeTestDriver({ inputs: driverInputs() });
      const controller = new AbortController();
      let waiting = false;
      const running = session.run(
        driver.job,
        new TestCalibrator((ctx) => {
          if (ctx.batchIndex < 2) return makeBatch(ctx.batchIndex);
          waiting = true;
          return new Promise(() => {});
        }),
        { signal: controller.signal },
      );
      while (!waiting) await sleep(2);
      const reason = new Error('stop');
      const start = performance.now();
      controller.abort(reason);
      assert.equal(await running.catch((e: unknown) => e), reason);
      const ms = performance.now() - start;
      console.log(`     abort took ${ms.toFixed(2)} ms`);
      assert.ok(ms < 1000);
    });

    await scenario('bad batch: ERR_BAD_BATCH, device memory keeps the previous batch', async () => {
      using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory, zeroCopy: false });
      const driver = createBridgeTestDriver({ inputs: driverInputs() });
      const good = makeBatch(0);
      const error = await session
        .run(driver.job, new TestCalibrator((ctx) => (ctx.batchIndex === 0 ? good : { images: makeBatch(1).images!, mask: new Int32Array(3) })))
        .catch((e: unknown) => e);
      assert.ok(isTrtInt8Error(error, 'ERR_BAD_BATCH'));
      const images = new Float32Array(2 * 3 * 8 * 8);
      session.readBack('images', images);
      assert.equal(fnv1a32(images), fnv1a32(good.images!));
    });

    await scenario('several jobs in parallel', async () => {
      const jobs = Array.from({ length: 4 }, (_, j) => {
        const batches = [0, 1, 2, 3].map((i) => makeBatch(100 * j + i));
        const session = new CalibrationSession({ inputs: INPUTS, prefetch, memory });
        const driver = createBridgeTestDriver({ inputs: driverInputs(), writeCache: null });
        const run = session.run(driver.job, new TestCalibrator(async (ctx) => (await sleep(1), batches[ctx.batchIndex] ?? null)));
        return { batches, session, driver, run };
      });
      await Promise.all(jobs.map((j) => j.run));
      for (const job of jobs) {
        assert.deepEqual(job.driver.results().checksums, sums(job.batches));
        job.session.dispose();
      }
      assert.equal(core().bridge.liveJobThreads(), 0);
    });

    await scenario('worker terminated mid-job with a CUDA session', async () => {
      const worker = new Worker(path.resolve('test/bridge/worker-job.mjs'), {
        workerData: { addonPath: process.env.TRT_INT8_ADDON_PATH, memory },
      });
      await new Promise((resolve, reject) => (worker.once('message', resolve), worker.once('error', reject)));
      await worker.terminate();
      assert.equal(core().bridge.liveJobThreads(), 0);
    });

  }
  const failed = results.filter((r) => !r.ok).length;
  console.log(`${results.length - failed}/${results.length} GPU bridge scenarios passed`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
