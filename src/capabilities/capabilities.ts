/**
 * What this machine can do with trt-int8, and for every "no" why and how to fix it. Probes only:
 * nothing here loads CUDA, TensorRT or onnxruntime (the addon is loaded, as that is what is asked).
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  addonReport,
  checkBuilderResource,
  locateTensorRT,
  packageRoot,
  probeCuda,
  resolvePackageFrom,
  type BuilderResourceCheck,
  type CudaReport,
  type LocateTensorRTOptions,
  type ProbeCudaOptions,
  type TensorRTInstall,
} from '../native/index.js';
import { gpuBackends, gpuModels, type BackendStatus } from './gpu-backends.js';

export type { BackendStatus } from './gpu-backends.js';

export interface AddonStatus {
  readonly loaded: boolean;
  readonly path?: string;
  readonly modules: readonly string[];
  readonly error?: { readonly code: string; readonly message: string; readonly fixes: readonly string[] };
}

export interface TensorRTStatus {
  readonly found: boolean;
  /** Every install found, the preferred first (see locateTensorRT for the search order). */
  readonly installs: readonly TensorRTInstall[];
  /**
   * For each install and each GPU model found: whether its builder resource covers that GPU (running engines needs
   * no builder resource; building them does). Empty without GPUs listed by the addon's cuda module.
   */
  readonly builders?: readonly BuilderResourceCheck[];
  readonly reason?: string;
  readonly fix?: string;
}

export interface OnnxRuntimeStatus {
  readonly found: boolean;
  readonly version?: string;
  readonly path?: string;
  readonly reason?: string;
  readonly fix?: string;
}

export interface CapabilityReport {
  readonly package: { readonly name: string; readonly version: string };
  readonly platform: { readonly os: string; readonly arch: string; readonly node: string; readonly napi: string };
  readonly addon: AddonStatus;
  readonly cuda: CudaReport;
  readonly tensorrt: TensorRTStatus;
  readonly onnxruntime: OnnxRuntimeStatus;
  readonly backends: {
    /** TensorRT's IInt8*Calibrator path: TensorRT 10.x or older (11 removed calibrators). */
    readonly implicitCalibration: BackendStatus;
    /** Q/DQ ONNX with scales we compute, built by TensorRT 10.x or 11.x. */
    readonly qdq: BackendStatus;
    /** Our CPU statistics engine: the addon's stats module and onnxruntime-node; no GPU. */
    readonly statistics: BackendStatus;
  };
}

export interface CapabilitiesOptions {
  readonly tensorrt?: LocateTensorRTOptions;
  readonly cuda?: ProbeCudaOptions;
  /** Folders require.resolve starts from when looking for onnxruntime-node (default: this package, then cwd). */
  readonly resolvePaths?: readonly string[];
}

function packageInfo(): { name: string; version: string } {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { name?: string; version?: string };
    return { name: pkg.name ?? 'trt-int8', version: pkg.version ?? 'unknown' };
  } catch {
    return { name: 'trt-int8', version: 'unknown' };
  }
}

function addonStatus(): AddonStatus {
  const report = addonReport();
  return {
    loaded: report.loaded,
    ...(report.path ? { path: report.path } : {}),
    modules: report.modules ?? [],
    ...(report.error ? { error: { code: report.error.code, message: report.error.message, fixes: report.error.fixes } } : {}),
  };
}

/** Finds onnxruntime-node without importing it (importing loads its native library). */
function onnxRuntimeStatus(resolvePaths: readonly string[]): OnnxRuntimeStatus {
  for (const from of resolvePaths) {
    let entry: string;
    try {
      entry = resolvePackageFrom(from, 'onnxruntime-node');
    } catch {
      continue;
    }
    // Walk up from the entry file to the package's own package.json for its version.
    for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      const pkgFile = path.join(dir, 'package.json');
      if (!fs.existsSync(pkgFile)) continue;
      try {
        const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'onnxruntime-node') return { found: true, version: pkg.version, path: dir };
      } catch {
        /* keep walking */
      }
    }
    return { found: true, path: path.dirname(entry) };
  }
  return {
    found: false,
    reason: 'onnxruntime-node is not installed (it is an optional peer dependency).',
    fix: 'npm install onnxruntime-node',
  };
}

function tensorrtStatus(installs: TensorRTInstall[], cuda: CudaReport): TensorRTStatus {
  const builders = installs.flatMap((install) => gpuModels(cuda).map((cc) => checkBuilderResource(install, cc)));
  if (installs.length > 0) return { found: true, installs, builders };
  return {
    found: false,
    installs,
    builders,
    reason: 'No libnvinfer.so.<N> in TENSORRT_ROOT, LD_LIBRARY_PATH, pip tensorrt_libs folders, system library folders or the ld.so cache.',
    fix: 'pip install "tensorrt-cu13-libs<11" for 10.x (calibrators) or tensorrt-cu13-libs for 11.x (cu12 for CUDA 12), or unpack the TensorRT tar file and set TENSORRT_ROOT to its folder.',
  };
}

function statisticsBackend(addon: AddonStatus, ort: OnnxRuntimeStatus): BackendStatus {
  if (!addon.loaded) {
    return {
      usable: false,
      reason: `The native addon did not load: ${addon.error?.message.split('\n')[0] ?? 'unknown error'}`,
      fix: addon.error?.fixes[0] ?? 'npm run build:native',
    };
  }
  if (!addon.modules.includes('stats')) {
    return {
      usable: false,
      reason: `The native addon was built without its stats module (modules: ${addon.modules.join(', ') || 'none'}).`,
      fix: 'Rebuild the addon from a complete checkout: npm run build:native',
    };
  }
  if (!ort.found) return { usable: false, reason: ort.reason ?? 'onnxruntime-node is missing.', fix: ort.fix ?? 'npm install onnxruntime-node' };
  return { usable: true, reason: `The addon's stats module and onnxruntime-node ${ort.version ?? ''}`.trimEnd() + '; runs on the CPU, no GPU needed.' };
}

/** Probes the addon, CUDA, TensorRT and onnxruntime-node, and says which back ends can run here. */
export async function capabilities(options: CapabilitiesOptions = {}): Promise<CapabilityReport> {
  const addon = addonStatus();
  const cuda = probeCuda(options.cuda);
  const installs = locateTensorRT(options.tensorrt);
  const onnxruntime = onnxRuntimeStatus(options.resolvePaths ?? [packageRoot(), process.cwd()]);
  return {
    package: packageInfo(),
    platform: { os: process.platform, arch: process.arch, node: process.versions.node, napi: process.versions.napi ?? 'unknown' },
    addon,
    cuda,
    tensorrt: tensorrtStatus(installs, cuda),
    onnxruntime,
    backends: { ...gpuBackends(cuda, installs), statistics: statisticsBackend(addon, onnxruntime) },
  };
}
