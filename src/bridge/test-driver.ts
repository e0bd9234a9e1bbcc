/**
 * The bridge's native test driver: a native job that calls the bridge exactly as TensorRT's calibrator interface
 * does (read the cache, get_batch until end of data, write the cache) and checksums every byte it receives. Useful
 * to check an installation (and the GPU copy path) without TensorRT.
 */
import { callNative, nativeModule, type NativeTestDriverOptions, type NativeTestDriverResults } from '../native/index.js';
import type { NativeJob } from './session.js';

export interface BridgeTestDriverOptions extends NativeTestDriverOptions {
  /**
   * Sent from the job thread before the first batch, as a TensorRT build sends it: `progressEvents` progress events
   * (one top-level phase, a nested "Measuring" phase per step) through the coalescer the TensorRT modules use, then
   * `logLines` raw verbose log lines.
   */
  readonly flood?: { readonly progressEvents?: number; readonly logLines?: number };
}
export interface BridgeTestDriverResults extends NativeTestDriverResults {
  /** The flood has been sent (the sender never waited for JavaScript to get there). */
  readonly floodDone: boolean;
  /** The sender's own time for the whole flood. */
  readonly floodSenderMs: number;
  readonly progressEventsSent: number;
  /** Progress events the coalescer passed on to JavaScript. */
  readonly progressLinesForwarded: number;
}

export interface BridgeTestDriver {
  /** Pass to CalibrationSession.run (once). */
  readonly job: NativeJob;
  /** What the driver saw; complete once run() has settled. */
  results(): BridgeTestDriverResults;
}

export function createBridgeTestDriver(options: BridgeTestDriverOptions): BridgeTestDriver {
  return callNative('createBridgeTestDriver', () => nativeModule('bridge').createTestDriverJob(options)) as BridgeTestDriver;
}

/** FNV-1a (32-bit) of a view's bytes: the checksum the test driver computes natively. */
export function fnv1a32(view: ArrayBufferView): number {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    hash ^= bytes[i]!;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
