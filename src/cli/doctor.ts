/**
 * `trt-int8 doctor [--json]`: what this machine can do, and how to fix what it cannot.
 * Always exits 0 once it has run: a missing GPU is a finding, not a failure of the command.
 */
import { UsageError, parseFlags } from './args.js';
import { EXIT_OK, runCommand, type CliIO } from './io.js';
import { capabilities, type BackendStatus, type CapabilityReport } from '../capabilities/capabilities.js';

export type { CliIO };

export const DOCTOR_USAGE = `Usage: trt-int8 doctor [--json]

Reports the native addon, the CUDA driver and GPUs, TensorRT installs, onnxruntime-node, and which
back ends (implicit calibration, Q/DQ, CPU statistics) can run here, with a fix for each that cannot.

Options:
  --json   print the report as JSON
  --help   show this help`;

function row(label: string, ok: boolean, text: string, fix?: string): string[] {
  const lines = [`${label.padEnd(24)}${(ok ? 'yes' : 'no').padEnd(5)}${text}`];
  if (fix && !ok) lines.push(`${''.padEnd(29)}fix: ${fix}`);
  return lines;
}

function backendRow(label: string, status: BackendStatus): string[] {
  return row(`  ${label}`, status.usable, status.reason, status.fix);
}

export function formatDoctorReport(report: CapabilityReport): string {
  const { addon, cuda, tensorrt, onnxruntime, backends } = report;
  const lines = [
    `${report.package.name} ${report.package.version} on ${report.platform.os}-${report.platform.arch}, Node ${report.platform.node} (N-API ${report.platform.napi})`,
    '',
  ];
  lines.push(
    ...row(
      'Native addon',
      addon.loaded,
      addon.loaded ? `${addon.path} (modules: ${addon.modules.join(', ') || 'none'})` : (addon.error?.message.split('\n')[0] ?? 'not loaded'),
      addon.error?.fixes[0],
    ),
  );
  const cudaText = cuda.available
    ? [cuda.driverCudaVersion && `CUDA ${cuda.driverCudaVersion}`, cuda.driverRelease && `driver ${cuda.driverRelease}`, cuda.libraryPath]
        .filter(Boolean)
        .join(', ')
    : (cuda.reason ?? 'not available');
  lines.push(...row('CUDA driver', cuda.available, cudaText, cuda.fix));
  // Available but incomplete (no device list from the file-system probe, or no devices): say why.
  if (cuda.available && cuda.reason) lines.push(`${''.padEnd(29)}note: ${cuda.reason}`);
  for (const device of cuda.devices) {
    const gib = (device.totalMemory / 2 ** 30).toFixed(1);
    lines.push(`${''.padEnd(29)}GPU ${device.index}: ${device.name}, compute ${device.computeCapability.join('.')}, ${gib} GiB`);
  }
  if (tensorrt.found) {
    tensorrt.installs.forEach((install, i) => {
      const v = install.version;
      const version = install.versionExact ? `${v.major}.${v.minor}.${v.patch}` : `${v.major}.x`;
      lines.push(...row(i === 0 ? 'TensorRT' : '', true, `${version} at ${install.root} (${install.source})`));
    });
  } else {
    lines.push(...row('TensorRT', false, tensorrt.reason ?? 'not found', tensorrt.fix));
  }
  lines.push(
    ...row(
      'onnxruntime-node',
      onnxruntime.found,
      onnxruntime.found ? `${onnxruntime.version ?? 'unknown version'} (${onnxruntime.path})` : (onnxruntime.reason ?? 'not found'),
      onnxruntime.fix,
    ),
  );
  lines.push('', 'Back ends');
  lines.push(...backendRow('implicit calibration', backends.implicitCalibration));
  lines.push(...backendRow('Q/DQ', backends.qdq));
  lines.push(...backendRow('CPU statistics', backends.statistics));
  return lines.join('\n');
}

export async function runDoctor(args: readonly string[], io: CliIO): Promise<number> {
  return runCommand(io, DOCTOR_USAGE, async () => {
    const { values, positionals } = parseFlags(args, { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } });
    if (values.help) {
      io.stdout(DOCTOR_USAGE);
      return EXIT_OK;
    }
    if (positionals.length > 0) throw new UsageError(`doctor takes no arguments, got "${positionals.join(' ')}".`, { input: positionals[0], expected: 'no arguments', actual: positionals });
    const report = await capabilities();
    io.stdout(values.json ? JSON.stringify(report, null, 2) : formatDoctorReport(report));
    return EXIT_OK;
  });
}
