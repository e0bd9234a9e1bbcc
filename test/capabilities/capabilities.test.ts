import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { capabilities, probeCuda, type CapabilitiesOptions } from '../../src/capabilities/index.js';
import { addonReport } from '../../src/native/index.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-caps-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function touch(file: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, 'ELF');
  return file;
}

/** A fake driver folder: libcuda.so.1 -> libcuda.so.<release>, as the NVIDIA packages lay it out. */
function fakeDriver(release: string): string {
  const dir = path.join(tmp, 'driver');
  touch(path.join(dir, `libcuda.so.${release}`));
  fs.symlinkSync(`libcuda.so.${release}`, path.join(dir, 'libcuda.so.1'));
  return dir;
}

function fakeTensorRT(version: string): string {
  const lib = path.join(tmp, `TensorRT-${version}`, 'lib');
  touch(path.join(lib, `libnvinfer.so.${version}`));
  fs.symlinkSync(`libnvinfer.so.${version}`, path.join(lib, `libnvinfer.so.${version.split('.')[0]}`));
  return path.dirname(lib);
}

const noProc = () => path.join(tmp, 'no-proc-version');

describe('probeCuda from the file system', () => {
  it('reports no driver, with a fix, when there is neither libcuda.so.1 nor a kernel module', () => {
    const report = probeCuda({ useAddon: false, env: {}, systemDirs: [path.join(tmp, 'empty')], procVersionFile: noProc(), ldconfig: false });
    expect(report).toMatchObject({ available: false, probedBy: 'filesystem', devices: [] });
    expect(report.reason).toMatch(/libcuda\.so\.1/);
    expect(report.fix).toMatch(/NVIDIA driver/);
  });

  it('finds libcuda.so.1 and reads the driver release from its link target', () => {
    const dir = fakeDriver('550.54.15');
    const report = probeCuda({ useAddon: false, env: {}, systemDirs: [dir], procVersionFile: noProc(), ldconfig: false });
    expect(report).toMatchObject({ available: true, probedBy: 'filesystem', driverRelease: '550.54.15', libraryPath: path.join(dir, 'libcuda.so.1') });
    // Devices need the addon; the report says so instead of pretending there are none.
    expect(report.reason).toMatch(/cuda module/);
  });

  it('searches LD_LIBRARY_PATH and prefers the kernel module version from /proc', () => {
    const dir = fakeDriver('535.104.05');
    const proc = path.join(tmp, 'version');
    fs.writeFileSync(proc, 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.12  Sat Aug 19 01:15:15 UTC 2023\nGCC version:  gcc version 12.2.0\n');
    const report = probeCuda({ useAddon: false, env: { LD_LIBRARY_PATH: `/nonexistent:${dir}` }, systemDirs: [], procVersionFile: proc, ldconfig: false });
    expect(report).toMatchObject({ available: true, driverRelease: '535.104.12' });
  });

  it('explains a kernel module without user-space libraries', () => {
    const proc = path.join(tmp, 'version');
    fs.writeFileSync(proc, 'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  560.35.03  Release Build\n');
    const report = probeCuda({ useAddon: false, env: {}, systemDirs: [], procVersionFile: proc, ldconfig: false });
    expect(report).toMatchObject({ available: false, driverRelease: '560.35.03' });
    expect(report.reason).toMatch(/kernel module 560\.35\.03 is loaded/);
  });
});

describe('back end decisions', () => {
  function options(trtRoot: string | undefined, driver: string | undefined): CapabilitiesOptions {
    return {
      tensorrt: { env: trtRoot ? { TENSORRT_ROOT: trtRoot } : {}, systemDirs: [], ldconfig: false, home: tmp, pythonPrefixes: [] },
      cuda: { useAddon: false, env: {}, systemDirs: driver ? [driver] : [], procVersionFile: noProc(), ldconfig: false },
    };
  }

  it('needs TensorRT 10 for implicit calibration and 10 or 11 for Q/DQ', async () => {
    const driver = fakeDriver('550.54.15');
    const trt10 = await capabilities(options(fakeTensorRT('10.16.0'), driver));
    expect(trt10.tensorrt.found).toBe(true);
    expect(trt10.backends.implicitCalibration).toMatchObject({ usable: true });
    expect(trt10.backends.implicitCalibration.reason).toMatch(/10\.16\.0/);
    expect(trt10.backends.qdq.usable).toBe(true);

    const trt11 = await capabilities(options(fakeTensorRT('11.0.0'), driver));
    expect(trt11.backends.implicitCalibration.usable).toBe(false);
    expect(trt11.backends.implicitCalibration.reason).toMatch(/found only 11\.0\.0/);
    expect(trt11.backends.implicitCalibration.fix).toBeTruthy();
    expect(trt11.backends.qdq.usable).toBe(true);

    const trt8 = await capabilities(options(fakeTensorRT('8.6.1'), driver));
    expect(trt8.backends.qdq.usable).toBe(false);
    expect(trt8.backends.qdq.reason).toMatch(/8\.6\.1/);
  });

  it('needs a driver for the GPU back ends even with TensorRT present', async () => {
    const report = await capabilities(options(fakeTensorRT('10.16.0'), undefined));
    for (const backend of [report.backends.implicitCalibration, report.backends.qdq]) {
      expect(backend.usable).toBe(false);
      expect(backend.reason).toMatch(/NVIDIA GPU/);
      expect(backend.fix).toMatch(/driver/);
    }
  });

  it('says how to install TensorRT when there is none', async () => {
    const report = await capabilities(options(undefined, undefined));
    expect(report.tensorrt).toMatchObject({ found: false, installs: [] });
    expect(report.tensorrt.fix).toMatch(/pip install "tensorrt-cu13-libs<11" for 10\.x/);
    expect(report.backends.qdq.fix).toMatch(/TENSORRT_ROOT/);
    // Implicit calibration needs 10.x: the fix must not install 11.x, which has no calibrators.
    expect(report.backends.implicitCalibration.fix).toMatch(/"tensorrt-cu13-libs<11"/);
  });

  it('needs onnxruntime-node for the statistics engine', async () => {
    const report = await capabilities({ ...options(undefined, undefined), resolvePaths: [tmp] });
    expect(report.onnxruntime).toMatchObject({ found: false, fix: 'npm install onnxruntime-node' });
    expect(report.backends.statistics.usable).toBe(false);
    expect(report.backends.statistics.fix).toBeTruthy();
  });
});

// The honest report on this machine: no GPU, no TensorRT. Skipped where a GPU is present.
const hasGpu = fs.existsSync('/dev/nvidiactl') || fs.existsSync('/proc/driver/nvidia/version');
describe.skipIf(hasGpu)('this machine (no GPU, no TensorRT)', () => {
  it('reports no CUDA and no TensorRT, every "no" with a reason and a fix', async () => {
    const report = await capabilities();
    expect(report.cuda.available).toBe(false);
    expect(report.tensorrt.found).toBe(false);
    for (const backend of Object.values(report.backends)) {
      expect(backend.reason.length).toBeGreaterThan(10);
      if (!backend.usable) expect(backend.fix, backend.reason).toBeTruthy();
    }
    expect(report.backends.implicitCalibration.usable).toBe(false);
    expect(report.backends.qdq.usable).toBe(false);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report); // plain JSON, as `doctor --json` prints it
  });

  it('asks the addon\'s cuda module when the loaded addon has one', async () => {
    const addon = addonReport();
    const report = await capabilities();
    expect(report.addon.loaded).toBe(addon.loaded);
    expect(report.cuda.probedBy).toBe(addon.modules?.includes('cuda') ? 'addon' : 'filesystem');
    if (report.cuda.probedBy === 'addon') expect(report.cuda.reason).toMatch(/libcuda/);
  });

  it('makes the statistics engine usable exactly when the addon has its stats module and onnxruntime-node resolves', async () => {
    const report = await capabilities();
    const expected = report.addon.loaded && report.addon.modules.includes('stats') && report.onnxruntime.found;
    expect(report.backends.statistics.usable).toBe(expected);
    // This checkout has onnxruntime-node as a dev dependency.
    expect(report.onnxruntime).toMatchObject({ found: true, version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
  });
});

describe('an addon that does not load', () => {
  const saved = process.env.TRT_INT8_ADDON_PATH;
  afterAll(() => {
    if (saved === undefined) delete process.env.TRT_INT8_ADDON_PATH;
    else process.env.TRT_INT8_ADDON_PATH = saved;
  });

  it('is reported with its error and fixes, and blocks the statistics engine', async () => {
    process.env.TRT_INT8_ADDON_PATH = path.join(tmp, 'missing.node');
    vi.resetModules(); // a fresh binding module, so the addon is loaded again under the new path
    const fresh = await import('../../src/capabilities/index.js');
    const report = await fresh.capabilities({ cuda: { useAddon: true, env: {}, systemDirs: [], procVersionFile: noProc(), ldconfig: false } });
    expect(report.addon.loaded).toBe(false);
    expect(report.addon.error?.code).toBe('ERR_ADDON_NOT_FOUND');
    expect(report.addon.error?.fixes.join(' ')).toMatch(/TRT_INT8_ADDON_PATH/);
    expect(report.cuda.probedBy).toBe('filesystem');
    expect(report.backends.statistics).toMatchObject({ usable: false });
    expect(report.backends.statistics.reason).toMatch(/did not load/);
  });
});
