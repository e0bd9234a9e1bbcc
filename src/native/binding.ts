/**
 * The typed raw-binding layer: this file declares exactly what the core `.node` file exports.
 * Nothing else in the package touches the addon object directly; public classes wrap these.
 *
 * Each native module under cpp/core registers itself under one key (TRT_INT8_MODULE(name, ...)).
 * Keep each interface below in step with its C++ file.
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { TrtInt8Error } from '../core/errors.js';

// ---- stats (cpp/core/stats_*.cc) -------------------------------------------------------------
/** One tensor's committed histogram of |x| (cpp/core/stats_histogram.h); binWidth 0 while only zeros were seen. */
export interface NativeTensorHistogram {
  readonly name: string;
  readonly counts: Float64Array;
  readonly binWidth: number;
  /** Upper edge of the last bin (float32, as torch.histc's max). */
  readonly rangeMax: number;
  readonly min: number;
  readonly max: number;
  readonly absMax: number;
  readonly count: number;
  readonly nonFinite: number;
}

/** How a batch that was not committed ended; add() resolves undefined when it was committed. */
export type NativeBatchOutcome =
  | { readonly kind: 'aborted' }
  | { readonly kind: 'outOfMemory' }
  | { readonly kind: 'tooManyBins'; readonly tensor: string; readonly requiredBins: number; readonly maxBins: number; readonly absMax: number; readonly binWidth: number };

/** cpp/core/stats_module.cc. Arguments are validated in src/stats/histogram-collector.ts; native throws TypeError on misuse. */
export interface NativeHistogramCollector {
  /** Starts one batch on the collector's own threads (at most one at a time); the arrays are pinned until it settles. */
  add(names: readonly string[], values: readonly Float32Array[]): Promise<NativeBatchOutcome | undefined>;
  /** Cancels the running batch, if any: it then resolves { kind: 'aborted' } and nothing of it is committed. */
  cancel(): void;
  /** Copies of the committed histograms, in first-seen order. */
  snapshot(): NativeTensorHistogram[];
  tensorNames(): string[];
  /** Joins the threads (after the running batch settles) and frees the histograms. */
  dispose(): void;
}

export interface NativeStatsModule {
  readonly HistogramCollector: new (numBins: number, threads: number, maxBins: number) => NativeHistogramCollector;
}

// ---- bridge (cpp/core/bridge_*.cc) -----------------------------------------------------------
/** An opaque napi External holding a TrtInt8NativeJob (cpp/core/bridge_abi.h); runJob consumes it. */
export type NativeJobExternal = object & { readonly __trtInt8NativeJob?: never };

/** cpp/core/bridge_session.cc: one input's staging (and device) memory per name, byte sizes fixed. */
export interface NativeBridgeSession {
  readonly memory: 'host' | 'cuda';
  readonly busy: boolean;
  readonly disposed: boolean;
  /** 1, or 2 when the bridge reads one batch ahead (JS fills one slot while the other is in use). */
  readonly slots: number;
  /** [slot][input]: zero-copy ArrayBuffers over the staging memory; null entries where external buffers are refused. */
  inputArrays(options?: { forceCopy?: boolean }): (ArrayBuffer | null)[][];
  /** Copies a view of exactly the input's byteLength into a slot's staging memory (the fallback path). */
  stage(slot: number, index: number, view: ArrayBufferView): void;
  /** Copies the last batch delivered to the job (device memory for CUDA sessions) for one input into `view`. */
  readBack(index: number, view: ArrayBufferView): void;
  dispose(): void;
}

/** Request kinds the job thread sends; reply with TRT_INT8_* status numbers (bridge_abi.h). */
export type NativeBridgeRequest =
  | { kind: 'batch'; id: number; payload: number /* the slot to fill */ }
  | { kind: 'readCache'; id: number; payload: undefined }
  | { kind: 'writeCache'; id: number; payload: Uint8Array }
  | { kind: 'log'; id: 0; payload: NativeLogLine };

export interface NativeLogLine {
  /** nvinfer1::ILogger::Severity: 0 internal error, 1 error, 2 warning, 3 info, 4 verbose. */
  readonly severity: number;
  readonly message: string;
}

export interface NativeJobResult {
  readonly status: 'ok' | 'failed' | 'aborted';
  /** What run() returned (0 = success). */
  readonly runStatus: number;
  /** Batches handed to the job (get_batch calls that returned a batch). */
  readonly delivered: number;
  readonly runError?: string;
  /** Why the job was stopped (abort, failed callback, teardown, bridge error), if it was. */
  readonly stopReason?: string;
  readonly log: NativeLogLine[];
  readonly droppedLogLines: number;
}

export interface NativeJobRun {
  readonly promise: Promise<NativeJobResult>;
  /** Answers request `id`; false when it is stale (the job stopped or moved on). */
  reply(id: number, status: number, bytes?: ArrayBufferView): boolean;
  /** Wakes the job thread; source calls then fail and is_aborted() is true. */
  abort(): void;
}

export interface NativeTestDriverResults {
  readonly batches: number;
  /** FNV-1a (32-bit) of each input's bytes, per batch, in the order of the driver's inputs. */
  readonly checksums: number[][];
  /** 1 present, 0 absent, -1 failed, -2 not asked. */
  readonly readStatus: number;
  readonly cacheRead: Uint8Array | null;
  /** 0 written, -1 failed, -2 not asked. */
  readonly writeStatus: number;
  readonly memory: 'host' | 'cuda' | 'unknown';
  readonly endedBy: 'end' | 'source' | 'driver';
}

export interface NativeTestDriverOptions {
  inputs: readonly { name: string; byteLength: number }[];
  maxBatches?: number;
  delayMs?: number;
  readCache?: boolean;
  writeCache?: 'echo' | ArrayBufferView | null;
  checksum?: boolean;
  failAfterBatches?: number;
}

export interface NativeBridgeModule {
  /** TRT_INT8_BRIDGE_ABI_VERSION of cpp/core/bridge_abi.h. */
  readonly abiVersion: number;
  readonly Session: new (options: {
    inputs: readonly { name: string; byteLength: number }[];
    memory: 'host' | 'cuda';
    device?: number;
    slots?: 1 | 2;
  }) => NativeBridgeSession;
  runJob(
    job: NativeJobExternal,
    session: NativeBridgeSession,
    onRequest: (kind: NativeBridgeRequest['kind'], id: number, payload: unknown) => void,
  ): NativeJobRun;
  createTestDriverJob(options: NativeTestDriverOptions): { job: NativeJobExternal; results(): NativeTestDriverResults };
  /** Job threads started and not yet joined, process-wide. */
  liveJobThreads(): number;
}

// ---- cuda (cpp/core/cuda_*.cc) ---------------------------------------------------------------
export interface NativeCudaProbeResult {
  available: boolean;
  reason?: string;
  driverVersion?: number;
  libraryPath?: string;
  devices: { index: number; name: string; computeCapability: [number, number]; totalMemory: number }[];
}

export interface NativePinnedBuffer {
  readonly byteLength: number;
  readonly disposed: boolean;
  /** A zero-copy view that keeps the memory alive; null where external buffers are refused. */
  arrayBuffer(): ArrayBuffer | null;
  copyFrom(source: ArrayBufferView | ArrayBuffer, byteOffset?: number): void;
  copyTo(target: ArrayBufferView | ArrayBuffer, byteOffset?: number): void;
  dispose(): void;
}

export interface NativeDeviceBuffer {
  readonly byteLength: number;
  readonly disposed: boolean;
  readonly device: number;
  /** The CUdeviceptr, for handing to other native code. */
  readonly address: bigint;
  copyFrom(source: ArrayBufferView | ArrayBuffer | NativePinnedBuffer, byteOffset?: number): void;
  copyTo(target: ArrayBufferView | ArrayBuffer | NativePinnedBuffer, byteOffset?: number): void;
  dispose(): void;
}

export interface NativeCudaModule {
  probe(): NativeCudaProbeResult;
  readonly PinnedBuffer: new (byteLength: number, device?: number) => NativePinnedBuffer;
  readonly DeviceBuffer: new (byteLength: number, device?: number) => NativeDeviceBuffer;
}

export interface NativeCore {
  /** Bumped when any declaration here changes incompatibly; the loader refuses a mismatch. */
  readonly abiVersion: number;
  /** Names of the native modules compiled into this build. */
  readonly modules: readonly string[];
  readonly stats: NativeStatsModule;
  readonly bridge: NativeBridgeModule;
  readonly cuda: NativeCudaModule;
}

export const EXPECTED_ABI_VERSION = 1;

/** The package root: the nearest folder upwards whose package.json names trt-int8. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if (JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'trt-int8') return dir;
      } catch {
        /* keep looking */
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(__dirname, '..', '..');
    dir = parent;
  }
}

export interface AddonLoadReport {
  loaded: boolean;
  path?: string;
  modules?: readonly string[];
  error?: TrtInt8Error;
}

let cached: { core?: NativeCore; report: AddonLoadReport } | undefined;

function load(): { core?: NativeCore; report: AddonLoadReport } {
  const req = createRequire(__filename);
  const root = packageRoot();
  const override = process.env.TRT_INT8_ADDON_PATH;
  try {
    let file: string;
    if (override) {
      file = path.resolve(override);
    } else {
      const nodeGypBuild = req('node-gyp-build') as { resolve?: (dir: string) => string };
      file = nodeGypBuild.resolve ? nodeGypBuild.resolve(root) : path.join(root, 'build', 'Release', 'trt_int8_core.node');
    }
    const core = req(file) as NativeCore;
    if (core.abiVersion !== EXPECTED_ABI_VERSION) {
      throw new TrtInt8Error('ERR_ADDON_NOT_FOUND', `The trt-int8 native addon at ${file} is from another version of the package.`, {
        input: file,
        expected: `abiVersion ${EXPECTED_ABI_VERSION}`,
        actual: `abiVersion ${core.abiVersion}`,
        fixes: ['Rebuild it: npm run build:native', 'Reinstall trt-int8 so the prebuilt binary matches the JavaScript.'],
      });
    }
    return { core, report: { loaded: true, path: file, modules: core.modules } };
  } catch (cause) {
    const error =
      cause instanceof TrtInt8Error
        ? cause
        : new TrtInt8Error('ERR_ADDON_NOT_FOUND', `Could not load the trt-int8 native addon for ${process.platform}-${process.arch} (Node ${process.versions.node}, N-API ${process.versions.napi}).`, {
            input: override ? 'TRT_INT8_ADDON_PATH' : 'prebuilds/ or build/Release',
            expected: 'prebuilds/linux-x64/trt-int8.glibc.node or build/Release/trt_int8_core.node',
            actual: cause instanceof Error ? cause.message.split('\n')[0] : String(cause),
            fixes: [
              'Build it from source: npm run build:native (needs a C++17 compiler, make and python3).',
              'Use a supported platform with a prebuilt binary: linux-x64 with glibc.',
              ...(override ? [`Check that TRT_INT8_ADDON_PATH=${override} points at a built trt_int8_core.node.`] : []),
            ],
            cause,
          });
    return { report: { loaded: false, error } };
  }
}

/** Loads the addon once, lazily. Importing the package never does this; only calls that need native code. */
export function addonReport(): AddonLoadReport {
  cached ??= load();
  return cached.report;
}

/** The addon, or a thrown ERR_ADDON_NOT_FOUND with fixes. */
export function core(): NativeCore {
  cached ??= load();
  if (!cached.core) throw cached.report.error!;
  return cached.core;
}

/** A named native module, or ERR_ADDON_NOT_FOUND if this build lacks it. */
export function nativeModule<K extends 'stats' | 'bridge' | 'cuda'>(name: K): NativeCore[K] {
  const c = core();
  if (!c.modules.includes(name)) {
    throw new TrtInt8Error('ERR_ADDON_NOT_FOUND', `The trt-int8 native addon was built without its "${name}" module.`, {
      input: name,
      expected: `a build containing ${name}`,
      actual: `modules: ${c.modules.join(', ') || '(none)'}`,
      fixes: ['Rebuild the addon from a complete checkout: npm run build:native'],
    });
  }
  return c[name];
}
