/**
 * examples/tensorrt-build through its one command, `npm run example:tensorrt`, on a machine without TensorRT:
 * it must explain itself (capability report, the plan, ERR_TENSORRT_NOT_FOUND with its fixes) and exit 0.
 * The first case needs a machine with no TensorRT at all (ours, CI) and skips elsewhere; the second points the
 * example at an empty folder, so it runs everywhere. Building real engines needs a GPU: see docs/tensorrt.md.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { locateTensorRT } from '../../src/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const tensorRTHere = locateTensorRT().length > 0;

async function runExample(args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  try {
    const { stdout, stderr } = await promisify(execFile)(npm, ['run', '--silent', 'example:tensorrt', '--', ...args], { cwd: repoRoot, env: process.env, timeout: 90_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The fix lines the example printed under "To run this example, get TensorRT:". */
function printedFixes(stdout: string): string[] {
  const lines = stdout.split('\n');
  const start = lines.indexOf('To run this example, get TensorRT:');
  if (start < 0) return [];
  const fixes: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith('  - ')) break;
    fixes.push(line.slice(4));
  }
  return fixes;
}

describe('npm run example:tensorrt without TensorRT', () => {
  let emptyRoot: string | undefined;
  afterAll(async () => {
    if (emptyRoot) await rm(emptyRoot, { recursive: true, force: true });
  });

  it.skipIf(tensorRTHere)('prints the capability report, the plan and the ERR_TENSORRT_NOT_FOUND fixes, and exits 0', async () => {
    const { code, stdout, stderr } = await runExample();
    expect(stderr).not.toMatch(/error/i); // explained on stdout, not failed
    expect(code).toBe(0);
    // The capability report, with this machine's answers.
    expect(stdout).toContain('This machine (capabilities()):');
    expect(stdout).toMatch(/TensorRT {10}no /);
    expect(stdout).toMatch(/backend statistics +usable/);
    // The plan for both majors.
    expect(stdout).toContain('TensorRT 10.x: INT8 engine by implicit calibration');
    expect(stdout).toContain('TensorRT 11.x: INT8 engine from a Q/DQ model');
    // The typed error, and exactly the fixes it carries.
    expect(stdout).toContain('No TensorRT here (ERR_TENSORRT_NOT_FOUND)');
    const fixes = printedFixes(stdout);
    expect(fixes.length).toBeGreaterThanOrEqual(2);
    expect(fixes.some((f) => f.includes('pip install tensorrt'))).toBe(true);
    expect(fixes.some((f) => f.includes('TENSORRT_ROOT'))).toBe(true);
  }, 120_000);

  it('with --tensorrt-root at a folder without TensorRT, says what it searched and exits 0', async () => {
    emptyRoot = await mkdtemp(path.join(os.tmpdir(), 'no-tensorrt-'));
    const { code, stdout } = await runExample(['--tensorrt-root', emptyRoot]);
    expect(code).toBe(0);
    expect(stdout).toContain('No TensorRT here (ERR_TENSORRT_NOT_FOUND)');
    expect(stdout).toContain(`searched: nothing in ${emptyRoot} (and its lib/, lib64/)`);
    expect(printedFixes(stdout).length).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it('fails with exit 1 and the typed error on a bad option instead of explaining it away', async () => {
    const { code, stderr } = await runExample(['--tensorrt-root', '']);
    expect(code).toBe(1);
    expect(stderr).toContain('tensorrt.root must be a folder path');
  }, 120_000);
});
