/**
 * "Can this TensorRT build on this GPU?", decided from the builder resource files beside libnvinfer and the GPU's
 * compute capability. The folders hold empty files named like the real ones (TensorRT 10.6.0 with the all-GPU
 * resource; 10.15.1 and 11.2.1 from Maven Central with only the _ptx one, which fail on an H200 with "Unable to
 * load library: libnvinfer_builder_resource_sm90.so.10.15.1"; a per-SM install); nothing is loaded.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDoctorReport } from '../../src/cli/doctor.js';
import { checkBuilderResource, inspectTensorRTDir, locateTensorRT, type CapabilityReport, type CudaReport, type TensorRTInstall } from '../../src/capabilities/index.js';
import { gpuBackends } from '../../src/capabilities/gpu-backends.js';

let dir: string;

function install(name: string, files: readonly string[]): TensorRTInstall {
  const lib = path.join(dir, name, 'lib');
  fs.mkdirSync(lib, { recursive: true });
  for (const file of files) fs.writeFileSync(path.join(lib, file), '');
  const found = inspectTensorRTDir(lib, 'TENSORRT_ROOT');
  if (!found) throw new Error(`no libnvinfer in ${lib}`);
  return found;
}

function gpus(...computeCapabilities: [number, number][]): CudaReport {
  return {
    available: true,
    probedBy: 'addon',
    driverCudaVersion: '12.8',
    libraryPath: '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
    devices: computeCapabilities.map((cc, index) => ({ index, name: `GPU sm_${cc.join('')}`, computeCapability: cc, totalMemory: 2 ** 30 })),
  };
}

let full106: TensorRTInstall;
let maven1015: TensorRTInstall;
let maven112: TensorRTInstall;
let perSm1016: TensorRTInstall;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-builder-resource-'));
  full106 = install('tensorrt-10.6.0', ['libnvinfer.so.10', 'libnvinfer.so.10.6.0', 'libnvonnxparser.so.10', 'libnvinfer_builder_resource.so.10.6.0']);
  maven1015 = install('tensorrt-10.15.1', ['libnvinfer.so.10', 'libnvonnxparser.so.10', 'libnvinfer_builder_resource_ptx.so.10.15.1']);
  maven112 = install('tensorrt-11.2.1', ['libnvinfer.so.11', 'libnvinfer.so.11.2.1', 'libnvinfer_builder_resource_ptx.so.11.2.1']);
  perSm1016 = install('tensorrt-10.16.0', [
    'libnvinfer.so.10',
    'libnvinfer.so.10.16.0',
    ...['sm75', 'sm80', 'sm86', 'sm89', 'sm90', 'ptx'].map((sm) => `libnvinfer_builder_resource_${sm}.so.10.16.0`),
  ]);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('checkBuilderResource', () => {
  it('the all-GPU resource (10.6.0) builds on any SM', () => {
    for (const cc of [[7, 5], [9, 0], [12, 0]] as [number, number][]) {
      const check = checkBuilderResource(full106, cc);
      expect(check.canBuild).toBe(true);
      expect(check.file).toBe(path.join(full106.root, 'libnvinfer_builder_resource.so.10.6.0'));
      expect(check.fix).toBeUndefined();
    }
  });

  it('only the _ptx resource (10.15.1 from Maven Central) cannot build on sm_90, and names the file TensorRT will miss', () => {
    // The Maven folder has only the SONAME link: the version comes from the resource's own name.
    expect(maven1015.version).toEqual({ major: 10, minor: 15, patch: 1 });
    expect(maven1015.versionExact).toBe(true);
    const check = checkBuilderResource(maven1015, [9, 0]);
    expect(check.canBuild).toBe(false);
    expect(check.missing).toBe('libnvinfer_builder_resource_sm90.so.10.15.1');
    expect(check.present).toEqual(['libnvinfer_builder_resource_ptx.so.10.15.1']);
    expect(check.reason).toContain('can run engines but cannot build them on this GPU (compute 9.0, sm90)');
    expect(check.reason).toContain('it has only libnvinfer_builder_resource_ptx.so.10.15.1');
    expect(check.fix).toContain('TENSORRT_ROOT');
    expect(check.fix).toContain('libnvinfer_builder_resource_sm90.so.10.15.1');
  });

  it('11.2.1 with only _ptx: the same, with its own version in the file name', () => {
    const check = checkBuilderResource(maven112, [9, 0]);
    expect(check.canBuild).toBe(false);
    expect(check.missing).toBe('libnvinfer_builder_resource_sm90.so.11.2.1');
  });

  it('per-SM files build on the SMs they cover and not on others (sm_120 here)', () => {
    const sm90 = checkBuilderResource(perSm1016, [9, 0]);
    expect(sm90.canBuild).toBe(true);
    expect(sm90.file).toBe(path.join(perSm1016.root, 'libnvinfer_builder_resource_sm90.so.10.16.0'));
    expect(checkBuilderResource(perSm1016, [8, 6]).canBuild).toBe(true);
    const sm120 = checkBuilderResource(perSm1016, [12, 0]);
    expect(sm120.canBuild).toBe(false);
    expect(sm120.missing).toBe('libnvinfer_builder_resource_sm120.so.10.16.0');
  });

  it('a resource of another version does not count: TensorRT asks for its own version', () => {
    const mixed = install('mixed', ['libnvinfer.so.10', 'libnvinfer.so.10.15.1', 'libnvinfer_builder_resource.so.10.6.0']);
    const check = checkBuilderResource(mixed, [9, 0]);
    expect(check.canBuild).toBe(false);
    expect(check.missing).toBe('libnvinfer_builder_resource_sm90.so.10.15.1');
  });

  it('no builder resource at all: cannot build, and says so', () => {
    const bare = install('bare', ['libnvinfer.so.10', 'libnvinfer.so.10.6.0']);
    const check = checkBuilderResource(bare, [9, 0]);
    expect(check.canBuild).toBe(false);
    expect(check.present).toEqual([]);
    expect(check.reason).toContain('it has no builder resource at all');
  });
});

describe('capabilities: the GPU back ends and the builder resource', () => {
  it('TensorRT 10.6.0 on an H200 (sm_90): both GPU back ends usable', () => {
    const backends = gpuBackends(gpus([9, 0]), [full106]);
    expect(backends.implicitCalibration.usable).toBe(true);
    expect(backends.qdq.usable).toBe(true);
  });

  it('TensorRT 10.15.1 with only _ptx on sm_90: "can run engines but cannot build", with the fix', () => {
    const backends = gpuBackends(gpus([9, 0]), [maven1015]);
    for (const status of [backends.implicitCalibration, backends.qdq]) {
      expect(status.usable).toBe(false);
      expect(status.reason).toContain('can run engines but cannot build them on this GPU');
      expect(status.reason).toContain('libnvinfer_builder_resource_sm90.so.10.15.1');
      expect(status.fix).toContain('TENSORRT_ROOT');
    }
  });

  it('two GPU models: usable only if every one is covered', () => {
    expect(gpuBackends(gpus([9, 0], [8, 6]), [perSm1016]).qdq.usable).toBe(true);
    const mixed = gpuBackends(gpus([9, 0], [12, 0]), [perSm1016]);
    expect(mixed.qdq.usable).toBe(false);
    expect(mixed.qdq.reason).toContain('sm120');
  });

  it('the install a build would use decides (the first fitting one, in search order)', () => {
    const found = locateTensorRT({ env: { TENSORRT_ROOT: path.dirname(maven1015.root), LD_LIBRARY_PATH: full106.root }, systemDirs: [], ldconfig: false, home: dir, pythonPrefixes: [] });
    expect(found.map((i) => i.root)).toEqual([maven1015.root, full106.root]);
    expect(gpuBackends(gpus([9, 0]), found).implicitCalibration.usable).toBe(false);
  });

  it('doctor prints the reason and the fix under the back end', () => {
    const cuda = gpus([9, 0]);
    const report = {
      package: { name: 'trt-int8', version: '0.1.0' },
      platform: { os: 'linux', arch: 'x64', node: '20.0.0', napi: '9' },
      addon: { loaded: true, path: '/x.node', modules: ['cuda', 'stats'] },
      cuda,
      tensorrt: { found: true, installs: [maven1015], builders: [checkBuilderResource(maven1015, [9, 0])] },
      onnxruntime: { found: true, version: '1.30.0', path: '/ort' },
      backends: { ...gpuBackends(cuda, [maven1015]), statistics: { usable: true, reason: 'ok' } },
    } satisfies CapabilityReport;
    const text = formatDoctorReport(report);
    expect(text).toMatch(/implicit calibration\s+no\s+Implicit calibration: TensorRT 10\.15\.1 at \S+ can run engines but cannot build them on this GPU/);
    expect(text).toMatch(/\n\s+fix: Point TENSORRT_ROOT at a TensorRT whose lib folder also holds libnvinfer_builder_resource_sm90\.so\.10\.15\.1/);
  });
});
