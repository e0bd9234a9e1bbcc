import { describe, expect, it } from 'vitest';
import { formatDoctorReport, runDoctor } from '../../src/cli/doctor.js';
import type { CapabilityReport } from '../../src/capabilities/index.js';

async function doctor(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runDoctor(args, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out, err };
}

describe('trt-int8 doctor', () => {
  it('prints the report as JSON with --json and exits 0 even though nothing GPU-side is usable', async () => {
    const { code, out, err } = await doctor(['--json']);
    expect(code).toBe(0);
    expect(err).toBe('');
    const report = JSON.parse(out) as CapabilityReport;
    expect(typeof report.addon.loaded).toBe('boolean');
    expect(Object.keys(report.backends).sort()).toEqual(['implicitCalibration', 'qdq', 'statistics']);
    expect(report.package.name).toBe('trt-int8');
  });

  it('prints a readable summary with a fix under every "no"', async () => {
    const { code, out } = await doctor([]);
    expect(code).toBe(0);
    expect(out).toMatch(/^trt-int8 \d+\.\d+\.\d+ on /);
    for (const label of ['Native addon', 'CUDA driver', 'TensorRT', 'onnxruntime-node', 'implicit calibration', 'Q/DQ', 'CPU statistics']) {
      expect(out).toContain(label);
    }
    const lines = out.split('\n');
    const noRows = lines.map((line, i) => [line, i] as const).filter(([line]) => /^\s*\S.*\s+no\s{3}/.test(line));
    expect(noRows.length).toBeGreaterThan(0); // at least CUDA and the GPU back ends are "no" here
    for (const [line, i] of noRows) expect(lines[i + 1], line).toMatch(/^\s+fix: /);
  });

  it('formats devices reported by the cuda module', () => {
    const report = {
      package: { name: 'trt-int8', version: '0.1.0' },
      platform: { os: 'linux', arch: 'x64', node: '20.0.0', napi: '9' },
      addon: { loaded: true, path: '/x.node', modules: ['cuda', 'stats'] },
      cuda: {
        available: true,
        probedBy: 'addon',
        driverCudaVersion: '12.4',
        libraryPath: '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
        devices: [{ index: 0, name: 'NVIDIA H100 80GB HBM3', computeCapability: [9, 0], totalMemory: 85_032_189_952 }],
      },
      tensorrt: { found: false, installs: [], reason: 'none', fix: 'pip install tensorrt-cu12' },
      onnxruntime: { found: true, version: '1.30.0', path: '/ort' },
      backends: {
        implicitCalibration: { usable: false, reason: 'r1', fix: 'f1' },
        qdq: { usable: false, reason: 'r2', fix: 'f2' },
        statistics: { usable: true, reason: 'ok' },
      },
    } satisfies CapabilityReport;
    const text = formatDoctorReport(report);
    expect(text).toContain('GPU 0: NVIDIA H100 80GB HBM3, compute 9.0, 79.2 GiB');
    expect(text).toContain('CUDA 12.4');
    expect(text).toMatch(/CPU statistics\s+yes\s+ok/);
    expect(text).not.toMatch(/note:/);
    // The file-system probe finds the driver but cannot list devices, and the summary says so.
    const fsOnly = formatDoctorReport({
      ...report,
      cuda: { available: true, probedBy: 'filesystem', driverRelease: '580.159.04', libraryPath: '/usr/local/nvidia/lib64/libcuda.so.1', devices: [], reason: 'Devices were not listed: that needs the addon\'s cuda module.' },
    });
    expect(fsOnly).toMatch(/CUDA driver\s+yes\s+driver 580\.159\.04, \/usr\/local\/nvidia\/lib64\/libcuda\.so\.1\n\s+note: Devices were not listed/);
  });

  it('exits 2 on an unknown option and 0 on --help', async () => {
    const bad = await doctor(['--jsn']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/unknown option "--jsn"/);
    expect(bad.out).toBe('');
    const help = await doctor(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/Usage: trt-int8 doctor/);
  });
});
