/**
 * The statistics addon cannot be crashed from JavaScript (issue #12, 1 and 2): each hostile use runs in a child
 * process, so a segfault, abort or hang fails its test here instead of killing the test runner.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { addonReport } from '../../src/native/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

function addonFile(): string {
  const report = addonReport();
  if (!report.loaded || !report.path) throw new Error('the native addon did not load');
  return report.path;
}

function runChild(command: string, args: string[]): { stdout: string; status: number | null; signal: string | null; stderr: string } {
  const child = spawnSync(command, args, {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, TRT_INT8_ADDON_PATH: addonFile() },
  });
  return { stdout: child.stdout, stderr: child.stderr.slice(-2000), status: child.status, signal: child.signal };
}

describe('the raw stats addon under hostile arguments', () => {
  const raw = (name: string) => runChild(process.execPath, ['--expose-gc', path.join(here, 'hostile-add.mjs'), name]);

  it('an element getter that re-enters add(): the outer call throws, the inner batch is counted', () => {
    const child = raw('reenter');
    expect(child, child.stderr).toMatchObject({ status: 0, signal: null });
    expect(child.stdout).toBe('settled threw Error; inner resolved committed\n');
  });

  it('an element getter that detaches an element read before it: the batch as it was read is counted', () => {
    const child = raw('detach');
    expect(child, child.stderr).toMatchObject({ status: 0, signal: null });
    expect(child.stdout).toBe(`settled resolved committed (a:${1 << 24},b:1)\n`);
  });

  it('an element getter that calls dispose(): add() throws at once instead of never settling', () => {
    const child = raw('dispose');
    expect(child, child.stderr).toMatchObject({ status: 0, signal: null });
    expect(child.stdout).toBe('settled threw Error\n');
  });

  it('a buffer transferred or shrunk right after add() returns: the batch is counted from the copy', () => {
    for (const name of ['transfer', 'shrink']) {
      const child = raw(name);
      expect(child, `${name}: ${child.stderr}`).toMatchObject({ status: 0, signal: null });
      expect(child.stdout).toMatch(/^settled resolved committed/);
    }
  });
});

describe('HistogramCollector.add with a buffer that goes away after add() returns', () => {
  const viteNode = path.join(root, 'node_modules', '.bin', 'vite-node');
  for (const mode of ['transfer', 'shrink']) {
    it(`counts every value when the buffer is ${mode === 'transfer' ? 'transferred' : 'shrunk to 0'}`, () => {
      const child = runChild(viteNode, [path.join(here, 'hostile-collector.ts'), mode]);
      expect(child, child.stderr).toMatchObject({ status: 0, signal: null });
      expect(child.stdout.trim().split('\n').at(-1)).toBe(`counted ${1 << 24} absMax 99.9000015258789`);
    });
  }
});
