/**
 * Loads the TensorRT module for one TensorRT major (trt_int8_trt10.node, trt_int8_trt11.node). They are separate
 * from the core addon because they are built only where TensorRT's headers are (`npm run build:tensorrt`),
 * never by CI. Loading the module loads no TensorRT: its loadLibrary() dlopens libnvinfer later.
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { TrtInt8Error } from '../core/errors.js';
import type { NativeTensorRTModule } from './addon-types.js';
import { packageRoot } from './package-root.js';

/**
 * Bumped with kModuleAbiVersion in cpp/tensorrt/trt_module.cc. 2: errors carry `code`, and takeBuildResult throws a
 * failed build's coded error; a module built before is refused with the command that rebuilds it.
 */
export const EXPECTED_TENSORRT_MODULE_ABI = 2;
export const SUPPORTED_MAJORS = [10, 11] as const;

/** Where the module for `major` is looked for: $TRT_INT8_TENSORRT_MODULE_DIR, then <package>/build/tensorrt. */
export function tensorRTModulePath(major: number, env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.TRT_INT8_TENSORRT_MODULE_DIR ? path.resolve(env.TRT_INT8_TENSORRT_MODULE_DIR) : path.join(packageRoot(), 'build', 'tensorrt');
  return path.join(dir, `trt_int8_trt${major}.node`);
}

const loaded = new Map<string, NativeTensorRTModule>();

function buildFixes(major: number): string[] {
  return [
    `Build it where TensorRT ${major}.x headers are: TENSORRT_INCLUDE=/path/to/TensorRT-${major}.x/include npm run build:tensorrt`,
    'Or point TRT_INT8_TENSORRT_MODULE_DIR at the folder that holds a built trt_int8_trt<major>.node.',
  ];
}

function requireModule(file: string, major: number): NativeTensorRTModule {
  if (!fs.existsSync(file)) {
    throw new TrtInt8Error('ERR_ADDON_NOT_FOUND', `The trt-int8 module for TensorRT ${major}.x is not built.`, {
      input: file,
      expected: `trt_int8_trt${major}.node`,
      actual: 'no such file',
      fixes: buildFixes(major),
    });
  }
  try {
    return createRequire(__filename)(file) as NativeTensorRTModule;
  } catch (cause) {
    throw new TrtInt8Error('ERR_ADDON_NOT_FOUND', `Could not load the trt-int8 module for TensorRT ${major}.x.`, {
      input: file,
      expected: 'a loadable Node addon',
      actual: cause instanceof Error ? cause.message.split('\n')[0] : String(cause),
      fixes: buildFixes(major),
      cause,
    });
  }
}

function checkModule(mod: NativeTensorRTModule, file: string, major: number): void {
  if (mod.moduleAbiVersion === EXPECTED_TENSORRT_MODULE_ABI && mod.compiledVersion?.major === major) return;
  throw new TrtInt8Error('ERR_ADDON_NOT_FOUND', `${file} is from another version of trt-int8 or for another TensorRT major.`, {
    input: file,
    expected: { moduleAbiVersion: EXPECTED_TENSORRT_MODULE_ABI, major },
    actual: { moduleAbiVersion: mod.moduleAbiVersion, major: mod.compiledVersion?.major },
    fixes: ['Rebuild it: npm run build:tensorrt'],
  });
}

/** Loads the module for a TensorRT major, or throws ERR_ADDON_NOT_FOUND with the build command. */
export function loadTensorRTModule(major: number, env: NodeJS.ProcessEnv = process.env): NativeTensorRTModule {
  const file = tensorRTModulePath(major, env);
  const cached = loaded.get(file);
  if (cached) return cached;
  const mod = requireModule(file, major);
  checkModule(mod, file, major);
  loaded.set(file, mod);
  return mod;
}
