/**
 * Issue #15: the progress and log path must never throttle the builder. A TensorRT build sends up to 1.5 million
 * progress events from the builder's thread; here the bridge's native test driver sends such a flood from its job
 * thread, through the same coalescer the TensorRT modules use, and a flood of raw log lines with no coalescing.
 *
 * "Never blocks the sender" is shown without timing: the JavaScript thread is kept busy in a synchronous loop (no
 * event loop, so no TSFN callback can run) until the driver reports its flood sent. A sender that waited for
 * JavaScript even once would never get there, and the loop's deadline (a hang guard only) would fail the test.
 * "Memory stays bounded" is shown by the bridge's own count of lines waiting for JavaScript.
 */
import { describe, expect, it } from 'vitest';
import { CalibrationSession, createBridgeTestDriver, type BridgeTestDriver } from '../../src/bridge/index.js';
import type { NativeLogLine } from '../../src/bridge/session.js';
import { parseProgressLine } from '../../src/tensorrt/log.js';
import { driverInputs, INPUTS, TestCalibrator } from './helpers.js';

/** The bridge's bound on log lines waiting for JavaScript (JobLog::kMaxQueued in cpp/core/bridge_job_log.h). */
const QUEUE_BOUND = 4096;

/** Keeps the JS thread busy (no event loop turn) until the driver has sent its flood; a hang guard, not a timer. */
function blockUntilFloodSent(driver: BridgeTestDriver, guardMs = 60_000): void {
  const deadline = Date.now() + guardMs;
  while (!driver.results().floodDone) {
    if (Date.now() > deadline) throw new Error('the flood sender did not finish while JavaScript was busy: it waits for JavaScript');
  }
}

async function runFlood(flood: { progressEvents?: number; logLines?: number }) {
  using session = new CalibrationSession({ inputs: INPUTS, memory: 'host' });
  const driver = createBridgeTestDriver({ inputs: driverInputs(), writeCache: null, readCache: false, maxBatches: 0, flood });
  const lines: NativeLogLine[] = [];
  const running = session.run(driver.job, new TestCalibrator(() => null), { onLog: (line) => lines.push(line) });
  blockUntilFloodSent(driver);
  const result = await running;
  return { result, lines, seen: driver.results() };
}

describe('a flood of progress and log events from the job thread', () => {
  it('1e6 progress events: the sender never waits, a few reach JavaScript, the top-level phase opens and closes', async () => {
    const { result, lines, seen } = await runFlood({ progressEvents: 1_000_000 });
    expect(seen.floodDone).toBe(true);
    expect(seen.progressEventsSent).toBe(1_000_000 - ((1_000_000 - 2) % 3));
    // The coalescer passes the top-level start and finish and a few events per second per phase, nothing like 1e6.
    expect(seen.progressLinesForwarded).toBeGreaterThanOrEqual(2);
    expect(seen.progressLinesForwarded).toBeLessThan(QUEUE_BOUND);
    expect(result.logLinesNotDelivered).toBe(0);
    expect(result.logQueueHighWater).toBeLessThanOrEqual(QUEUE_BOUND);

    const progress = lines.map((l) => parseProgressLine(l.message)).filter((p) => p !== undefined);
    expect(progress).toHaveLength(seen.progressLinesForwarded);
    expect(progress[0]).toEqual({ event: 'start', phase: 'Building engine', n: (1_000_000 - 2 - ((1_000_000 - 2) % 3)) / 3 });
    expect(progress.at(-1)).toEqual({ event: 'finish', phase: 'Building engine', n: 0 });
    // Every nested phase JavaScript saw start also finished: no progress bar is left open.
    const opened = progress.filter((p) => p.phase === 'Measuring' && p.event === 'start').length;
    const closed = progress.filter((p) => p.phase === 'Measuring' && p.event === 'finish').length;
    expect(closed).toBe(opened);
    console.log(`1e6 progress events: sender ${seen.floodSenderMs.toFixed(1)} ms, ${seen.progressLinesForwarded} forwarded to JavaScript`);
  });

  it('1e6 raw log lines while JavaScript is busy: the queue stays at its bound, the rest is counted and reported', async () => {
    const { result, lines, seen } = await runFlood({ logLines: 1_000_000 });
    expect(seen.floodDone).toBe(true);
    expect(result.logQueueHighWater).toBe(QUEUE_BOUND);
    const flood = lines.filter((l) => l.message.startsWith('test driver: flood line '));
    // JavaScript was busy for the whole flood: it gets the lines that filled the queue (all of it, or all but the
    // slot the driver's "started" line took if JavaScript had not drained that yet), in order, and a notice for the rest.
    expect(flood.length).toBeGreaterThanOrEqual(QUEUE_BOUND - 1);
    expect(flood.length).toBeLessThanOrEqual(QUEUE_BOUND);
    expect(flood.map((l) => l.message)).toEqual(Array.from({ length: flood.length }, (_, i) => `test driver: flood line ${i}`));
    // Every line the driver sent ("started", the flood, "finished") was either delivered or counted.
    const notices = lines.filter((l) => l.message.includes('log lines were not delivered live'));
    const delivered = lines.length - notices.length;
    expect(delivered + result.logLinesNotDelivered).toBe(1_000_000 + 2);
    expect(notices.length).toBeGreaterThanOrEqual(1);
    expect(notices[0]!.severity).toBe(2);
    const told = notices.reduce((sum, n) => sum + Number(/(\d+) log lines/.exec(n.message)![1]), 0);
    expect(told).toBe(result.logLinesNotDelivered);
    // The job's log (for error reports) keeps the latest lines, whatever JavaScript missed live.
    expect(result.log.at(-1)!.message).toBe('test driver: finished');
    expect(result.log.at(-2)!.message).toBe('test driver: flood line 999999');
    console.log(`1e6 raw log lines: sender ${seen.floodSenderMs.toFixed(1)} ms with JavaScript blocked`);
  });
});
