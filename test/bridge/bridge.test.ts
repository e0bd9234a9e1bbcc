import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CalibrationSession, createBridgeTestDriver, fnv1a32 } from '../../src/bridge/index.js';
import { isTrtInt8Error, TrtInt8Error } from '../../src/core/errors.js';
import { addonReport, core, nativeModule } from '../../src/native/index.js';
import { driverInputs, INPUTS, makeBatch, TestCalibrator } from './helpers.js';

// The .node file the loader chose (build/Release, a prebuild, or TRT_INT8_ADDON_PATH): child processes and
// workers load the same one.
function addonFile(): string {
  const report = addonReport();
  if (!report.path) throw report.error ?? new Error('addon not loaded');
  return report.path;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const cudaAvailable = nativeModule('cuda').probe().available;
const memories: ('host' | 'cuda')[] = cudaAvailable ? ['host', 'cuda'] : ['host'];
const configs = memories.flatMap((memory) => [true, false].map((prefetch) => ({ memory, prefetch })));

function checksumsOf(batches: Record<string, Float32Array | Int32Array>[]): number[][] {
  return batches.map((batch) => INPUTS.map((spec) => fnv1a32(batch[spec.name]!)));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(configs)('bridge ($memory memory, prefetch $prefetch) driven from a native thread', ({ memory, prefetch }) => {
  it('delivers every byte of sync getBatch batches, then ends at null', async () => {
    const batches = [0, 1, 2, 3, 4].map((i) => makeBatch(i));
    using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory });
    const driver = createBridgeTestDriver({ inputs: driverInputs(), writeCache: null });
    const calibrator = new TestCalibrator((ctx) => batches[ctx.batchIndex] ?? null);
    const result = await session.run(driver.job, calibrator);
    expect(result.batches).toBe(5);
    expect(calibrator.calls).toBe(6); // five batches and the null that ended the data
    const seen = driver.results();
    expect(seen.memory).toBe(memory);
    expect(seen.batches).toBe(5);
    expect(seen.checksums).toEqual(checksumsOf(batches));
    expect(seen.endedBy).toBe('end');
    expect(result.log.map((l) => l.message)).toEqual(['test driver: started', 'test driver: finished']);
  });

  it('delivers async getBatch batches (awaiting timers and I/O between them)', async () => {
    const batches = [0, 1, 2].map((i) => makeBatch(i + 10));
    using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory });
    const driver = createBridgeTestDriver({ inputs: driverInputs(), writeCache: null });
    const result = await session.run(
      driver.job,
      new TestCalibrator(async (ctx) => {
        await sleep(5);
        return batches[ctx.batchIndex] ?? null;
      }),
    );
    expect(result.batches).toBe(3);
    expect(driver.results().checksums).toEqual(checksumsOf(batches));
  });

  it('fills lent arrays in place without a copy, and copies where zero copy is off', async () => {
    const batches = [0, 1, 2].map((i) => makeBatch(i + 20));
    for (const zeroCopy of [true, false]) {
      using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory, zeroCopy });
      expect(session.zeroCopy).toBe(zeroCopy);
      const driver = createBridgeTestDriver({ inputs: driverInputs(), writeCache: null });
      const lentSeen: boolean[] = [];
      const calibrator = new TestCalibrator((ctx) => {
        const source = batches[ctx.batchIndex];
        if (!source) return null;
        const ctxBuffers = (ctx as { buffers?: ReadonlyMap<string, Float32Array | Int32Array> | null }).buffers ?? null;
        lentSeen.push(ctxBuffers !== null);
        if (!ctxBuffers) return source;
        const out: Record<string, Float32Array | Int32Array> = {};
        for (const [name, array] of ctxBuffers) {
          array.set(source[name] as never); // fill the staging memory directly
          out[name] = array;
        }
        return out;
      });
      await session.run(driver.job, calibrator);
      expect(lentSeen).toEqual([zeroCopy, zeroCopy, zeroCopy]);
      expect(driver.results().checksums).toEqual(checksumsOf(batches));
      // What the job side holds after the last batch is the last batch, byte for byte.
      const back = new Float32Array(2 * 3 * 8 * 8);
      session.readBack('images', back);
      expect(fnv1a32(back)).toBe(fnv1a32(batches[2]!.images!));
    }
  });

  it('hands the cache bytes read to the job and writes back identical bytes', async () => {
    const cache = new TextEncoder().encode('TRT-100300-EntropyCalibration2\nimages: 3c010a14\nmask: 3f800000\n');
    using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory });
    const driver = createBridgeTestDriver({ inputs: driverInputs(), writeCache: 'echo', maxBatches: 1 });
    const calibrator = new TestCalibrator(() => makeBatch(0), cache);
    const result = await session.run(driver.job, calibrator);
    expect(result.cacheRead).toBe(true);
    expect(result.cacheWritten).toBe(true);
    const seen = driver.results();
    expect(seen.readStatus).toBe(1);
    expect(Buffer.from(seen.cacheRead!).equals(Buffer.from(cache))).toBe(true);
    expect(calibrator.written).toHaveLength(1);
    expect(Buffer.from(calibrator.written[0]!).equals(Buffer.from(cache))).toBe(true);
    expect(calibrator.written[0]).not.toBe(cache); // a copy that crossed the native side, not the same object
  });

  it('reports an absent cache and writes the bytes the job produced', async () => {
    const produced = crypto.randomBytes(4096);
    using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory });
    const driver = createBridgeTestDriver({ inputs: driverInputs(), writeCache: produced, maxBatches: 2 });
    const calibrator = new TestCalibrator((ctx) => makeBatch(ctx.batchIndex));
    const result = await session.run(driver.job, calibrator);
    expect(result.cacheRead).toBe(false);
    expect(driver.results().readStatus).toBe(0);
    expect(Buffer.from(calibrator.written[0]!).equals(produced)).toBe(true);
  });

  it('rejects with the original thrown error object, stack intact, native log attached', async () => {
    const thrown = new RangeError('dataset exploded');
    using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory });
    const driver = createBridgeTestDriver({ inputs: driverInputs() });
    const calibrator = new TestCalibrator((ctx) => {
      if (ctx.batchIndex === 2) throw thrown;
      return makeBatch(ctx.batchIndex);
    });
    const error = await session.run(driver.job, calibrator).catch((e: unknown) => e);
    expect(error).toBe(thrown);
    expect((error as Error).stack).toContain('bridge.test.ts');
    expect((error as { nativeLog?: unknown }).nativeLog).toEqual([{ severity: 3, message: 'test driver: started' }]);
    expect(driver.results().batches).toBe(2);
    expect(driver.results().endedBy).toBe('source');
    expect(session.busy).toBe(false);
  });

  it('rejects with the original error of a rejected Promise', async () => {
    class DatasetError extends Error {}
    const rejected = new DatasetError('async failure');
    using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory });
    const driver = createBridgeTestDriver({ inputs: driverInputs() });
    const error = await session
      .run(driver.job, new TestCalibrator(async () => Promise.reject(rejected)))
      .catch((e: unknown) => e);
    expect(error).toBe(rejected);
    expect(driver.results().batches).toBe(0);
  });

  it('aborts promptly in the middle (the native thread wakes from its wait)', async () => {
    using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory });
    const driver = createBridgeTestDriver({ inputs: driverInputs() });
    const controller = new AbortController();
    let pendingSignal: AbortSignal | undefined;
    const calibrator = new TestCalibrator((ctx) => {
      if (ctx.batchIndex < 2) return makeBatch(ctx.batchIndex);
      pendingSignal = ctx.signal;
      return new Promise(() => {}); // never settles: only the abort can end this
    });
    const running = session.run(driver.job, calibrator, { signal: controller.signal });
    while (!pendingSignal) await sleep(5);
    const reason = new Error('user cancelled');
    const started = performance.now();
    controller.abort(reason);
    const error = await running.catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect(error).toBe(reason);
    expect(elapsed).toBeLessThan(1000);
    expect(pendingSignal.aborted).toBe(true); // the calibrator is told too
    expect(driver.results().batches).toBe(2);
    expect(core().bridge.liveJobThreads()).toBe(0);
  });

  it('rejects with signal.reason even when a pending getBatch then fails on ctx.signal', async () => {
    using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory });
    const driver = createBridgeTestDriver({ inputs: driverInputs() });
    const controller = new AbortController();
    let waiting = false;
    const calibrator = new TestCalibrator(
      (ctx) =>
        new Promise((_, reject) => {
          waiting = true;
          ctx.signal.addEventListener('abort', () => reject(new Error('getBatch gave up')));
        }),
    );
    const running = session.run(driver.job, calibrator, { signal: controller.signal });
    while (!waiting) await sleep(2);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(running).rejects.toBe(reason);
  });

  it('aborts promptly while the native job is busy between batches', async () => {
    using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory });
    const driver = createBridgeTestDriver({ inputs: driverInputs(), delayMs: 30_000 });
    const controller = new AbortController();
    const running = session.run(driver.job, new TestCalibrator((ctx) => makeBatch(ctx.batchIndex)), { signal: controller.signal });
    while (driver.results().batches < 1) await sleep(5);
    const started = performance.now();
    controller.abort();
    const error = await running.catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(1000);
    expect((error as Error).name).toBe('AbortError');
  });

  it('refuses a bad batch with ERR_BAD_BATCH and delivers nothing of it', async () => {
    using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory, zeroCopy: false });
    const driver = createBridgeTestDriver({ inputs: driverInputs() });
    const good = makeBatch(0);
    const calibrator = new TestCalibrator((ctx) => {
      if (ctx.batchIndex === 0) return good;
      // images is valid (and different); mask has the wrong length: nothing of this batch may reach the job
      return { images: makeBatch(1).images!, mask: new Int32Array(7) };
    });
    const error = await session.run(driver.job, calibrator).catch((e: unknown) => e);
    expect(isTrtInt8Error(error, 'ERR_BAD_BATCH')).toBe(true);
    expect((error as TrtInt8Error).input).toBe('mask');
    expect(driver.results().batches).toBe(1);
    const images = new Float32Array(2 * 3 * 8 * 8);
    session.readBack('images', images);
    expect(fnv1a32(images)).toBe(fnv1a32(good.images!));
  });

  it('serves an async getBatch that uses fs.promises while the libuv pool is saturated', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bridge-'));
    const batches = [0, 1, 2, 3].map((i) => makeBatch(i + 30));
    batches.forEach((batch, i) => {
      fs.writeFileSync(path.join(dir, `${i}.images`), batch.images!);
      fs.writeFileSync(path.join(dir, `${i}.mask`), batch.mask!);
    });
    // Keep every libuv pool thread busy the whole time (pbkdf2 and gzip run there).
    let stop = false;
    const pbkdf2 = promisify(crypto.pbkdf2);
    const gzip = promisify(zlib.gzip);
    const hogs = Array.from({ length: 8 }, async () => {
      while (!stop) {
        await pbkdf2('secret', 'salt', 20_000, 64, 'sha512');
        await gzip(crypto.randomBytes(1 << 16));
      }
    });
    try {
      using session = new CalibrationSession({ inputs: INPUTS, prefetch, memory });
      const driver = createBridgeTestDriver({ inputs: driverInputs(), writeCache: null });
      const calibrator = new TestCalibrator(async (ctx) => {
        if (ctx.batchIndex >= batches.length) return null;
        const [images, mask] = await Promise.all([
          fs.promises.readFile(path.join(dir, `${ctx.batchIndex}.images`)),
          fs.promises.readFile(path.join(dir, `${ctx.batchIndex}.mask`)),
        ]);
        return {
          images: new Float32Array(images.buffer.slice(images.byteOffset, images.byteOffset + images.byteLength)),
          mask: new Int32Array(mask.buffer.slice(mask.byteOffset, mask.byteOffset + mask.byteLength)),
        };
      });
      await session.run(driver.job, calibrator);
      expect(driver.results().checksums).toEqual(checksumsOf(batches));
    } finally {
      stop = true;
      await Promise.all(hogs);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs several jobs in parallel, each with its own thread and data', async () => {
    const jobs = Array.from({ length: 4 }, (_, j) => {
      const batches = [0, 1, 2, 3, 4].map((i) => makeBatch(100 * j + i));
      const session = new CalibrationSession({ inputs: INPUTS, prefetch, memory });
      const driver = createBridgeTestDriver({ inputs: driverInputs(), writeCache: null, delayMs: 2 });
      const calibrator = new TestCalibrator(async (ctx) => {
        await sleep(Math.random() * 5);
        return batches[ctx.batchIndex] ?? null;
      });
      return { batches, session, driver, run: session.run(driver.job, calibrator) };
    });
    await sleep(10);
    expect(core().bridge.liveJobThreads()).toBeGreaterThan(1);
    await Promise.all(jobs.map((j) => j.run));
    for (const job of jobs) {
      expect(job.driver.results().checksums).toEqual(checksumsOf(job.batches));
      job.session.dispose();
    }
    expect(core().bridge.liveJobThreads()).toBe(0);
  });
});

describe('bridge job lifecycle driven from a native thread', () => {
  it('reads one batch ahead with prefetch (and exactly what the job asks for without)', async () => {
    for (const prefetch of [true, false]) {
      using session = new CalibrationSession({ inputs: INPUTS, memory: 'host', prefetch });
      expect(session.prefetch).toBe(prefetch);
      const driver = createBridgeTestDriver({ inputs: driverInputs(), maxBatches: 2, writeCache: new Uint8Array([1]) });
      const batches = [0, 1, 2, 3].map((i) => makeBatch(i + 50));
      const calibrator = new TestCalibrator((ctx) => batches[ctx.batchIndex] ?? null);
      const result = await session.run(driver.job, calibrator);
      expect(result.batches).toBe(2); // what the job consumed
      expect(calibrator.calls).toBe(prefetch ? 3 : 2); // the look-ahead batch was asked for, then never delivered
      expect(driver.results().checksums).toEqual(checksumsOf(batches.slice(0, 2)));
      expect(calibrator.written).toHaveLength(1); // the cache request waited for the look-ahead batch
      const back = new Float32Array(2 * 3 * 8 * 8);
      session.readBack('images', back); // the job side still holds batch 1, not the look-ahead batch 2
      expect(fnv1a32(back)).toBe(fnv1a32(batches[1]!.images!));
    }
  });

  it('keeps the session busy until a getBatch still running after the job ended has answered', async () => {
    // With prefetch, a job that stops early leaves a look-ahead getBatch running; it writes into the session's
    // buffers, so a next job on the same session must wait for it instead of having its batches overwritten.
    using session = new CalibrationSession({ inputs: INPUTS, memory: 'host', prefetch: true });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = createBridgeTestDriver({ inputs: driverInputs(), maxBatches: 1, writeCache: null, readCache: false });
    const calibrator = new TestCalibrator(async (ctx) => {
      if (ctx.batchIndex === 1) await gate; // the look-ahead request: still running when the job ends
      return makeBatch(ctx.batchIndex);
    });
    const result = await session.run(first.job, calibrator);
    expect(result.batches).toBe(1);
    const second = createBridgeTestDriver({ inputs: driverInputs(), writeCache: null, readCache: false });
    await expect(session.run(second.job, new TestCalibrator(() => null))).rejects.toThrow(/busy/);
    release();
    await new Promise((resolve) => setTimeout(resolve, 50)); // the stale answer arrives and frees the session
    const batch = makeBatch(9);
    const third = createBridgeTestDriver({ inputs: driverInputs(), writeCache: null, readCache: false });
    await session.run(third.job, new TestCalibrator((ctx) => (ctx.batchIndex === 0 ? batch : null)));
    expect(third.results().checksums).toEqual(checksumsOf([batch]));
  });

  it('refuses a test driver that would read more bytes than the session holds, and bad byteLengths', async () => {
    using session = new CalibrationSession({ inputs: INPUTS, memory: 'host' });
    const tooBig = createBridgeTestDriver({ inputs: driverInputs().map((i) => ({ ...i, byteLength: i.byteLength * 1024 })) });
    await expect(session.run(tooBig.job, new TestCalibrator(() => null))).rejects.toMatchObject({ code: 'ERR_BAD_OPTION' });
    for (const byteLength of [-1, Number.NaN, 1e20, 1.5]) {
      expect(() => createBridgeTestDriver({ inputs: [{ name: 'images', byteLength }] })).toThrow(/non-negative integer/);
    }
    // The session is still usable afterwards.
    const batch = makeBatch(3);
    const ok = createBridgeTestDriver({ inputs: driverInputs(), writeCache: null });
    await session.run(ok.job, new TestCalibrator((ctx) => (ctx.batchIndex === 0 ? batch : null)));
    expect(ok.results().checksums).toEqual(checksumsOf([batch]));
  });

  it('reports a failing native job as ERR_BUILD_FAILED with its log', async () => {
    using session = new CalibrationSession({ inputs: INPUTS, memory: 'host' });
    const driver = createBridgeTestDriver({ inputs: driverInputs(), failAfterBatches: 2 });
    const error = await session.run(driver.job, new TestCalibrator((ctx) => makeBatch(ctx.batchIndex))).catch((e: unknown) => e);
    expect(isTrtInt8Error(error, 'ERR_BUILD_FAILED')).toBe(true);
    expect((error as Error).message).toContain('test driver failure after 2 batches');
    expect((error as TrtInt8Error).details.nativeLog).toEqual([{ severity: 3, message: 'test driver: started' }]);
  });

  it('refuses to run a job twice, a busy session, and a disposed session', async () => {
    const session = new CalibrationSession({ inputs: INPUTS, memory: 'host' });
    const driver = createBridgeTestDriver({ inputs: driverInputs(), writeCache: null });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const running = session.run(
      driver.job,
      new TestCalibrator(async () => {
        await gate;
        return null;
      }),
    );
    const other = createBridgeTestDriver({ inputs: driverInputs() });
    await expect(session.run(other.job, new TestCalibrator(() => null))).rejects.toMatchObject({ code: 'ERR_BAD_OPTION' });
    expect(() => session.dispose()).toThrow(/running a job/);
    release();
    await running;
    await expect(session.run(driver.job, new TestCalibrator(() => null))).rejects.toThrow(/already run/);
    session.dispose();
    await expect(session.run(other.job, new TestCalibrator(() => null))).rejects.toMatchObject({ code: 'ERR_BAD_OPTION' });
  });

  it('validates session options with ERR_BAD_OPTION naming the input', () => {
    const attempt = (options: unknown) => {
      try {
        new CalibrationSession(options as never);
      } catch (error) {
        return error as TrtInt8Error;
      }
      throw new Error('no error');
    };
    expect(attempt({ inputs: [] }).code).toBe('ERR_BAD_OPTION');
    expect(attempt({ inputs: [{ name: 'x', shape: [-1, 3], dtype: 'float32' }] }).input).toBe('x.shape');
    expect(attempt({ inputs: [{ name: 'x', shape: [1], dtype: 'complex64' }] }).input).toBe('x.dtype');
    expect(attempt({ inputs: INPUTS, memory: 'gpu' }).input).toBe('memory');
  });

  it('ends a job cleanly when its worker thread is terminated mid-job (thread joined, process healthy)', async () => {
    const worker = new Worker(path.join(here, 'worker-job.mjs'), {
      workerData: { addonPath: addonFile() },
    });
    const message = await new Promise<{ waiting: boolean; live: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(message.waiting).toBe(true);
    expect(message.live).toBeGreaterThanOrEqual(1);
    const started = performance.now();
    await worker.terminate();
    expect(performance.now() - started).toBeLessThan(2000);
    expect(core().bridge.liveJobThreads()).toBe(0); // the cleanup hook woke and joined the job thread
    // The process still serves jobs.
    using session = new CalibrationSession({ inputs: INPUTS, memory: 'host' });
    const driver = createBridgeTestDriver({ inputs: driverInputs(), writeCache: null });
    const batch = makeBatch(7);
    await session.run(driver.job, new TestCalibrator((ctx) => (ctx.batchIndex === 0 ? batch : null)));
    expect(driver.results().checksums).toEqual(checksumsOf([batch]));
  });

  it('lets a process exit while a job waits for a batch', () => {
    const started = performance.now();
    const child = spawnSync(process.execPath, [path.join(here, 'exit-mid-job.mjs')], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, TRT_INT8_ADDON_PATH: addonFile() },
    });
    expect(child.stdout).toBe('waiting\n');
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});

describe.skipIf(cudaAvailable)('CUDA memory without a GPU', () => {
  it('says why CUDA is unavailable, and DeviceBuffer / PinnedBuffer / cuda sessions throw ERR_CUDA_UNAVAILABLE', async () => {
    const { DeviceBuffer, PinnedBuffer } = await import('../../src/bridge/index.js');
    const probe = nativeModule('cuda').probe();
    expect(probe.available).toBe(false);
    expect(probe.reason).toMatch(/libcuda|cuInit|no CUDA devices/);
    expect(probe.devices).toEqual([]);
    for (const make of [() => new DeviceBuffer(16), () => new PinnedBuffer(16), () => new CalibrationSession({ inputs: INPUTS, memory: 'cuda' })]) {
      let error: unknown;
      try {
        make();
      } catch (e) {
        error = e;
      }
      expect(isTrtInt8Error(error, 'ERR_CUDA_UNAVAILABLE')).toBe(true);
      expect((error as TrtInt8Error).fixes.length).toBeGreaterThan(0);
    }
    expect(new CalibrationSession({ inputs: INPUTS }).memory).toBe('host'); // 'auto' falls back to host memory
  });
});
