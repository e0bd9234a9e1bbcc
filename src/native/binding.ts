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
import { TrtInt8Error } from '../errors.js';

// ---- stats (cpp/core/stats_*.cc) -------------------------------------------------------------
export interface NativeStatsModule {}

// ---- bridge (cpp/core/bridge_*.cc) -----------------------------------------------------------
export interface NativeBridgeModule {}

// ---- cuda (cpp/core/cuda_*.cc) ---------------------------------------------------------------
export interface NativeCudaModule {}

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
