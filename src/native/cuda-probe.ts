/**
 * Is there a usable NVIDIA driver? Asked of the addon's `cuda` module (which dlopens libcuda and
 * lists devices) when this build has it; otherwise answered from the file system alone: libcuda.so.1
 * on the library path and the kernel module's /proc entry. The file-system answer cannot list devices.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { NativeCudaDevice, NativeCudaProbeResult } from './addon-types.js';
import { loadedNativeModule } from './core-addon.js';

/** One GPU as the addon's cuda module lists it. */
export type CudaDevice = NativeCudaDevice;

/** What the addon's cuda module's probe() returns; kept under this public name (it is declared in addon-types.ts). */
export type NativeCudaProbe = NativeCudaProbeResult;

export interface CudaReport {
  /** A driver library was found (and, from the addon, initialised). */
  readonly available: boolean;
  /** 'addon': the cuda module's probe; 'filesystem': no cuda module, files only. */
  readonly probedBy: 'addon' | 'filesystem';
  /** CUDA version the driver supports, e.g. "12.4" (addon only). */
  readonly driverCudaVersion?: string;
  /** Kernel driver release, e.g. "550.54.15", from /proc or libcuda's file name. */
  readonly driverRelease?: string;
  readonly libraryPath?: string;
  readonly devices: readonly CudaDevice[];
  readonly reason?: string;
  readonly fix?: string;
}

export interface ProbeCudaOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Replaces the system library folders searched for libcuda.so.1 (tests). */
  readonly systemDirs?: readonly string[];
  /** Replaces /proc/driver/nvidia/version (tests). */
  readonly procVersionFile?: string;
  /** Set false to skip `ldconfig -p`; also skips the addon (tests that need the file-system probe). */
  readonly ldconfig?: boolean;
  readonly useAddon?: boolean;
}

const INSTALL_DRIVER_FIX =
  'Install the NVIDIA driver (it provides libcuda.so.1) on a machine with an NVIDIA GPU; in a container, run it with the NVIDIA Container Toolkit (--gpus all).';

function cudaVersionText(code: number): string {
  return `${Math.floor(code / 1000)}.${Math.floor((code % 1000) / 10)}`;
}

function fromAddon(): CudaReport | undefined {
  const cuda = loadedNativeModule('cuda');
  if (!cuda) return undefined;
  let probe: NativeCudaProbeResult;
  try {
    probe = cuda.probe();
  } catch (error) {
    return {
      available: false,
      probedBy: 'addon',
      devices: [],
      reason: `The CUDA probe failed: ${error instanceof Error ? error.message : String(error)}`,
      fix: INSTALL_DRIVER_FIX,
    };
  }
  return fromProbe(probe);
}

/** The addon's raw probe as a report: the driver's CUDA version as text, and a reason and fix for every "no". */
function fromProbe(probe: NativeCudaProbeResult): CudaReport {
  const usable = probe.available && probe.devices.length > 0;
  return {
    available: probe.available,
    probedBy: 'addon',
    ...(probe.driverVersion !== undefined ? { driverCudaVersion: cudaVersionText(probe.driverVersion) } : {}),
    ...(probe.libraryPath !== undefined ? { libraryPath: probe.libraryPath } : {}),
    devices: probe.devices,
    ...(usable
      ? {}
      : {
          reason: probe.reason ?? (probe.available ? 'The driver reports no CUDA devices.' : 'The CUDA driver could not be initialised.'),
          fix: probe.available ? 'Check that the GPU is visible (nvidia-smi; CUDA_VISIBLE_DEVICES).' : INSTALL_DRIVER_FIX,
        }),
  };
}

function findLibcuda(env: NodeJS.ProcessEnv, systemDirs: readonly string[], ldconfig: boolean): string | undefined {
  const dirs = [...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...systemDirs];
  for (const dir of dirs) {
    const file = path.join(dir, 'libcuda.so.1');
    if (fs.existsSync(file)) return file;
  }
  if (!ldconfig) return undefined;
  for (const bin of ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig']) {
    const result = spawnSync(bin, ['-p'], { encoding: 'utf8', timeout: 5000 });
    if (result.status !== 0 || typeof result.stdout !== 'string') continue;
    const match = /^\s*libcuda\.so\.1\s.*=>\s*(\S+)\s*$/m.exec(result.stdout);
    return match && fs.existsSync(match[1] as string) ? (match[1] as string) : undefined;
  }
  return undefined;
}

function defaultSystemDirs(): string[] {
  const multiarch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  // /usr/local/nvidia/lib64 is where the NVIDIA container runtime mounts the driver.
  return [`/usr/lib/${multiarch}`, `/lib/${multiarch}`, '/usr/lib64', '/usr/local/nvidia/lib64', '/usr/lib/wsl/lib', '/usr/lib/nvidia'];
}

function fromFilesystem(options: ProbeCudaOptions): CudaReport {
  const env = options.env ?? process.env;
  const lib = findLibcuda(env, options.systemDirs ?? defaultSystemDirs(), options.ldconfig ?? true);
  let driverRelease: string | undefined;
  try {
    const text = fs.readFileSync(options.procVersionFile ?? '/proc/driver/nvidia/version', 'utf8');
    driverRelease = /Kernel Module\s+(?:for\s+\S+\s+)?(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
  } catch {
    /* no kernel module loaded */
  }
  if (!driverRelease && lib) {
    // libcuda.so.1 links to libcuda.so.<driver release>.
    try {
      driverRelease = /^libcuda\.so\.(\d+\.\d+(?:\.\d+)?)$/.exec(path.basename(fs.realpathSync(lib)))?.[1];
    } catch {
      /* dangling link */
    }
  }
  if (!lib) {
    return {
      available: false,
      probedBy: 'filesystem',
      ...(driverRelease ? { driverRelease } : {}),
      devices: [],
      reason: driverRelease
        ? `The NVIDIA kernel module ${driverRelease} is loaded but libcuda.so.1 is not on the library path.`
        : 'No NVIDIA driver: libcuda.so.1 is not on the library path and no NVIDIA kernel module is loaded.',
      fix: driverRelease ? 'Install the user-space driver libraries matching the kernel module, or add their folder to LD_LIBRARY_PATH.' : INSTALL_DRIVER_FIX,
    };
  }
  return {
    available: true,
    probedBy: 'filesystem',
    ...(driverRelease ? { driverRelease } : {}),
    libraryPath: lib,
    devices: [],
    reason: "Devices were not listed: that needs the addon's cuda module.",
    fix: 'Rebuild the addon with its cuda module: npm run build:native',
  };
}

export function probeCuda(options: ProbeCudaOptions = {}): CudaReport {
  if (options.useAddon ?? true) {
    const report = fromAddon();
    if (report) return report;
  }
  return fromFilesystem(options);
}
