/**
 * The two GPU back ends (implicit calibration, Q/DQ): usable when a fitting TensorRT, a CUDA driver with GPUs, and
 * the TensorRT's builder resource for each GPU's SM are all there. Decided from a CUDA report and the installs
 * found, so tests can give both.
 */
import { checkBuilderResource, type CudaReport, type TensorRTInstall } from '../native/index.js';

export interface BackendStatus {
  readonly usable: boolean;
  /** Why it is (or is not) usable. */
  readonly reason: string;
  /** How to make it usable; present whenever usable is false. */
  readonly fix?: string;
}

/** Each distinct compute capability among the GPUs, in device order. */
export function gpuModels(cuda: CudaReport): (readonly [number, number])[] {
  const seen = new Map<string, readonly [number, number]>();
  for (const device of cuda.devices) seen.set(device.computeCapability.join('.'), device.computeCapability);
  return [...seen.values()];
}

function versionText(install: TensorRTInstall): string {
  const v = install.version;
  return install.versionExact ? `${v.major}.${v.minor}.${v.patch}` : `${v.major}.x`;
}

function gpuBackend(
  name: string,
  cuda: CudaReport,
  installs: readonly TensorRTInstall[],
  accepts: (major: number) => boolean,
  wanted: string,
): BackendStatus {
  const fitting = installs.find((i) => accepts(i.version.major));
  if (!fitting) {
    const others = installs.map((i) => `${versionText(i)} at ${i.root}`).join('; ');
    return {
      usable: false,
      reason: installs.length ? `${name} needs ${wanted}; found only ${others}.` : `${name} needs ${wanted}; no TensorRT was found.`,
      fix: installs.length
        ? `Install ${wanted} beside it and point TENSORRT_ROOT at it, or use another back end.`
        : `pip install ${wanted.includes('11') ? 'tensorrt-cu13-libs' : '"tensorrt-cu13-libs<11"'} (for ${wanted}; cu12 for CUDA 12), or set TENSORRT_ROOT to an unpacked TensorRT.`,
    };
  }
  if (!cuda.available) {
    return {
      usable: false,
      reason: `${name} needs an NVIDIA GPU: ${cuda.reason ?? 'no CUDA driver.'}`,
      fix: cuda.fix ?? 'Run on a machine with an NVIDIA GPU and driver.',
    };
  }
  // Both back ends build engines, which needs the builder resource for the GPU's SM, not only libnvinfer.
  const cannotBuild = gpuModels(cuda)
    .map((cc) => checkBuilderResource(fitting, cc))
    .find((check) => !check.canBuild);
  if (cannotBuild) return { usable: false, reason: `${name}: ${cannotBuild.reason}`, fix: cannotBuild.fix! };
  return { usable: true, reason: `TensorRT ${versionText(fitting)} (${fitting.root}) and a CUDA driver${cuda.libraryPath ? ` (${cuda.libraryPath})` : ''}.` };
}

/**
 * The two GPU back ends for these TensorRT installs (in locateTensorRT's order: the first fitting one is the one a
 * build uses) and this CUDA report.
 */
export function gpuBackends(cuda: CudaReport, installs: readonly TensorRTInstall[]): { implicitCalibration: BackendStatus; qdq: BackendStatus } {
  return {
    // TensorRT 11 removed IInt8Calibrator, so implicit calibration stops at 10.x.
    implicitCalibration: gpuBackend('Implicit calibration', cuda, installs, (major) => major <= 10, 'TensorRT 10.x'),
    qdq: gpuBackend('The Q/DQ back end', cuda, installs, (major) => major === 10 || major === 11, 'TensorRT 10.x or 11.x'),
  };
}

