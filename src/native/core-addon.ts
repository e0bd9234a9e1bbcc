/**
 * Loads the core addon (cpp/core): $TRT_INT8_ADDON_PATH, else what node-gyp-build picks (build/Release wins over
 * prebuilds/). Loaded once, lazily: importing the package never loads native code, only calls that need it.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { TrtInt8Error } from '../core/errors.js';
import type { NativeCore } from './addon-types.js';
import { packageRoot } from './package-root.js';

/** Bumped with cpp/core/addon.cc's abiVersion when any declaration in addon-types.ts changes incompatibly. */
export const EXPECTED_ABI_VERSION = 1;

export interface AddonLoadReport {
  loaded: boolean;
  path?: string;
  modules?: readonly string[];
  error?: TrtInt8Error;
}

let cached: { core?: NativeCore; report: AddonLoadReport } | undefined;

function addonFile(override: string | undefined): string {
  if (override) return path.resolve(override);
  const root = packageRoot();
  const nodeGypBuild = createRequire(__filename)('node-gyp-build') as { resolve?: (dir: string) => string };
  return nodeGypBuild.resolve ? nodeGypBuild.resolve(root) : path.join(root, 'build', 'Release', 'trt_int8_core.node');
}

function checkAbi(core: NativeCore, file: string): void {
  if (core.abiVersion === EXPECTED_ABI_VERSION) return;
  throw new TrtInt8Error('ERR_ADDON_NOT_FOUND', `The trt-int8 native addon at ${file} is from another version of the package.`, {
    input: file,
    expected: `abiVersion ${EXPECTED_ABI_VERSION}`,
    actual: `abiVersion ${core.abiVersion}`,
    fixes: ['Rebuild it: npm run build:native', 'Reinstall trt-int8 so the prebuilt binary matches the JavaScript.'],
  });
}

function notLoaded(cause: unknown, override: string | undefined): TrtInt8Error {
  if (cause instanceof TrtInt8Error) return cause;
  return new TrtInt8Error('ERR_ADDON_NOT_FOUND', `Could not load the trt-int8 native addon for ${process.platform}-${process.arch} (Node ${process.versions.node}, N-API ${process.versions.napi}).`, {
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
}

function load(): { core?: NativeCore; report: AddonLoadReport } {
  const override = process.env.TRT_INT8_ADDON_PATH;
  try {
    const file = addonFile(override);
    const core = createRequire(__filename)(file) as NativeCore;
    checkAbi(core, file);
    return { core, report: { loaded: true, path: file, modules: core.modules } };
  } catch (cause) {
    return { report: { loaded: false, error: notLoaded(cause, override) } };
  }
}

/** Whether the addon loaded, from where, with which modules (or why not). Never throws. */
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

export type NativeModuleName = 'stats' | 'bridge' | 'cuda';

/** A named native module, or ERR_ADDON_NOT_FOUND if this build lacks it. */
export function nativeModule<K extends NativeModuleName>(name: K): NativeCore[K] {
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

/** The named module when the addon loaded and has it; undefined otherwise (probes that must not throw). */
export function loadedNativeModule<K extends NativeModuleName>(name: K): NativeCore[K] | undefined {
  const report = addonReport();
  return report.loaded && report.modules?.includes(name) ? nativeModule(name) : undefined;
}
