/**
 * Bridge benchmark (docs/bridge.md has the figures and the exact commands):
 *  1. bandwidth from a TypeScript calibrator into device memory for 64x3x224x224 float32 batches, through the bridge
 *     (zero copy: the calibrator fills the lent pinned arrays; copy: it returns its own arrays), against plain
 *     cuMemcpyHtoD from pinned and from pageable memory measured in the same run;
 *  2. per-callback latency for tiny batches (the bridge's own overhead per getBatch), host and CUDA sessions.
 * Usage: TRT_INT8_ADDON_PATH=... node bench-bridge.mjs [--batches N] [--tiny N] [--json out.json]
 * Without CUDA it runs the host-memory latency part only.
 */
import fs from 'node:fs';
import { EntropyCalibrator2 } from '../../src/calibrators/calibrator.js';
import type { Batch, BatchContext } from '../../src/core/batch.js';
import type { InputSpec } from '../../src/core/tensor.js';
import { CalibrationSession, createBridgeTestDriver, DeviceBuffer, PinnedBuffer, type BridgeBatchContext } from '../../src/bridge/index.js';
import { nativeModule } from '../../src/native/index.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const BATCHES = arg('batches', 50);
const TINY = arg('tiny', 20000);
const jsonIndex = process.argv.indexOf('--json');
const jsonOut = jsonIndex >= 0 ? process.argv[jsonIndex + 1] : undefined;

class FnCalibrator extends EntropyCalibrator2 {
  constructor(private readonly fn: (ctx: BatchContext) => Batch | null) {
    super({ nonFinite: 'allow' });
  }
  getBatch(ctx: BatchContext): Batch | null {
    return this.fn(ctx);
  }
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

async function bridgeRun(inputs: InputSpec[], memory: 'host' | 'cuda', batches: number, mode: 'lent' | 'own', zeroCopy = true, prefetch = true) {
  using session = new CalibrationSession({ inputs, memory, zeroCopy, prefetch });
  const spec = inputs[0]!;
  const count = spec.shape.reduce((a, b) => a * b, 1);
  const own = new Float32Array(count).map((_, i) => (i % 251) / 251);
  // The calibrator of the zero-copy runs has its data in the lent arrays already (as if it decoded into them).
  for (const slot of session.lendInputArrays() ?? []) (slot.get(spec.name) as Float32Array).set(own);
  const driver = createBridgeTestDriver({
    inputs: [{ name: spec.name, byteLength: count * 4 }],
    readCache: false,
    writeCache: null,
    checksum: false,
    maxBatches: batches,
  });
  const calibrator = new FnCalibrator((ctx) => {
    const lent = (ctx as BridgeBatchContext).buffers;
    return { [spec.name]: mode === 'lent' && lent ? lent.get(spec.name)! : own };
  });
  const start = process.hrtime.bigint();
  const result = await session.run(driver.job, calibrator);
  const elapsed = seconds(start);
  if (result.batches !== batches) throw new Error(`expected ${batches} batches, got ${result.batches}`);
  return { elapsed, bytes: batches * count * 4 };
}

function copyLoop(bytes: number, iterations: number, source: 'pinned' | 'pageable') {
  using device = new DeviceBuffer(bytes);
  using pinned = new PinnedBuffer(source === 'pinned' ? bytes : 0);
  const pageable = new Uint8Array(source === 'pageable' ? bytes : 0).fill(3);
  const from = source === 'pinned' ? pinned : pageable;
  device.copyFrom(from); // warm up
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) device.copyFrom(from);
  return { elapsed: seconds(start), bytes: bytes * iterations };
}

async function main(): Promise<void> {
  const report: Record<string, unknown> = { node: process.version, date: new Date().toISOString() };
  const probe = nativeModule('cuda').probe();
  report.cuda = probe;
  const gbps = (r: { elapsed: number; bytes: number }) => r.bytes / r.elapsed / 1e9;

  if (probe.available) {
    const big: InputSpec[] = [{ name: 'input', shape: [64, 3, 224, 224], dtype: 'float32' }];
    const bytes = 64 * 3 * 224 * 224 * 4;
    await bridgeRun(big, 'cuda', 3, 'lent'); // warm up: context, allocations, JIT
    const pinned = copyLoop(bytes, BATCHES, 'pinned');
    const pageable = copyLoop(bytes, BATCHES, 'pageable');
    const lent = await bridgeRun(big, 'cuda', BATCHES, 'lent');
    const lentNoPrefetch = await bridgeRun(big, 'cuda', BATCHES, 'lent', true, false);
    const own = await bridgeRun(big, 'cuda', BATCHES, 'own');
    const fallback = await bridgeRun(big, 'cuda', BATCHES, 'own', false);
    report.bandwidth = {
      batchBytes: bytes,
      batches: BATCHES,
      pinnedCuMemcpyHtoD_GBps: gbps(pinned),
      pageableCuMemcpyHtoD_GBps: gbps(pageable),
      bridgeZeroCopy_GBps: gbps(lent),
      bridgeZeroCopyNoPrefetch_GBps: gbps(lentNoPrefetch),
      bridgeCopyIntoLent_GBps: gbps(own),
      bridgeCopyFallbackStage_GBps: gbps(fallback),
      ratio_bridgeZeroCopy_vs_pinned: gbps(lent) / gbps(pinned),
      ratio_bridgeZeroCopyNoPrefetch_vs_pinned: gbps(lentNoPrefetch) / gbps(pinned),
      ratio_bridgeCopy_vs_pinned: gbps(own) / gbps(pinned),
      ratio_bridgeCopyFallback_vs_pinned: gbps(fallback) / gbps(pinned),
      ratio_pageable_vs_pinned: gbps(pageable) / gbps(pinned),
      ratio_bridgeZeroCopy_vs_pageable: gbps(lent) / gbps(pageable),
    };
    console.log('bandwidth', report.bandwidth);
  }

  const tiny: InputSpec[] = [{ name: 'x', shape: [1], dtype: 'float32' }];
  const latency: Record<string, number> = {};
  for (const memory of probe.available ? (['host', 'cuda'] as const) : (['host'] as const)) {
    for (const prefetch of [true, false]) {
      await bridgeRun(tiny, memory, 2000, 'lent', true, prefetch); // warm up
      const run = await bridgeRun(tiny, memory, TINY, 'lent', true, prefetch);
      latency[`${memory}${prefetch ? '' : 'NoPrefetch'}_usPerCallback`] = (run.elapsed / TINY) * 1e6;
    }
  }
  report.latency = { batches: TINY, ...latency };
  console.log('latency', report.latency);
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(report, null, 2));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
