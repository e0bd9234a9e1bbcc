/**
 * scripts/setup-fashion-mnist.mjs without the network: idempotency on the real files (when present), and
 * verification of a package whose contents do not match the pinned sizes/sha256 (a .deb built here with
 * dpkg-deb, which must be installed).
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_DIR, isFashionMnistPresent } from '../../examples/fashion-mnist/dataset.js';

const SCRIPT = path.resolve(__dirname, '../../scripts/setup-fashion-mnist.mjs');
const FILES = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];
const dataPresent = await isFashionMnistPresent();
const hasDpkgDeb = spawnSync('dpkg-deb', ['--version']).status === 0;

function setup(env: Record<string, string>, ...args: string[]) {
  return spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

const temp: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fm-setup-test-'));
  temp.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(temp.map((d) => rm(d, { recursive: true, force: true })));
});

describe('setup-fashion-mnist', () => {
  it.skipIf(!dataPresent)('is a no-op when the verified files are present', () => {
    const run = setup({ FASHION_MNIST_DATA_DIR: DEFAULT_DATA_DIR, FASHION_MNIST_DEB: '/nonexistent.deb' });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('already present');
  });

  it('fails with a message naming the path when FASHION_MNIST_DEB does not exist, leaving no temp folder', async () => {
    const dataDir = await tempDir();
    const run = setup({ FASHION_MNIST_DATA_DIR: dataDir, FASHION_MNIST_DEB: path.join(dataDir, 'missing.deb') });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('missing.deb');
    expect(await readdir(dataDir)).toEqual([]);
  });

  it.skipIf(!dataPresent || !hasDpkgDeb)('re-extracts a truncated file, and refuses a package whose files do not match the pins', async () => {
    const work = await tempDir();
    // A package laid out like dataset-fashion-mnist: the real files, except one truncated.
    const root = path.join(work, 'pkg');
    const payload = path.join(root, 'usr/share/datasets/fashion-mnist');
    await mkdir(path.join(root, 'DEBIAN'), { recursive: true });
    await mkdir(payload, { recursive: true });
    await writeFile(path.join(root, 'DEBIAN/control'), 'Package: dataset-fashion-mnist\nVersion: 0-test\nArchitecture: all\nMaintainer: test <t@example.org>\nDescription: test\n');
    for (const f of FILES) await copyFile(path.join(DEFAULT_DATA_DIR, f), path.join(payload, f));
    const good = path.join(work, 'good.deb');
    expect(spawnSync('dpkg-deb', ['--build', '-Znone', '--root-owner-group', root, good]).status).toBe(0);
    await truncate(path.join(payload, 't10k-labels-idx1-ubyte.gz'), 100);
    const bad = path.join(work, 'bad.deb');
    expect(spawnSync('dpkg-deb', ['--build', '-Znone', '--root-owner-group', root, bad]).status).toBe(0);

    const dataDir = path.join(work, 'data');
    const first = setup({ FASHION_MNIST_DATA_DIR: dataDir, FASHION_MNIST_DEB: good });
    expect(first.status, first.stderr).toBe(0);
    expect((await readdir(dataDir)).sort()).toEqual([...FILES].sort());

    // A truncated file is noticed and replaced.
    await truncate(path.join(dataDir, 'train-labels-idx1-ubyte.gz'), 10);
    const second = setup({ FASHION_MNIST_DATA_DIR: dataDir, FASHION_MNIST_DEB: good });
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toContain('extracted');
    expect(setup({ FASHION_MNIST_DATA_DIR: dataDir, FASHION_MNIST_DEB: good }).stdout).toContain('already present');

    // A package with a wrong file is refused, and nothing of it lands in the data folder.
    const other = path.join(work, 'other');
    const refused = setup({ FASHION_MNIST_DATA_DIR: other, FASHION_MNIST_DEB: bad });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('t10k-labels-idx1-ubyte.gz');
    expect(refused.stderr).toContain('size 100 bytes, expected 5125');
    expect(await readdir(other)).toEqual([]);
  });
});
