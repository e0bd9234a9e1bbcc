#!/usr/bin/env node
// Fetches Fashion-MNIST (Zalando, MIT/Expat) from the Debian package `dataset-fashion-mnist` into
// examples/fashion-mnist/data/, without root where possible. Idempotent: files already present with the
// pinned size and sha256 are kept. Usage: npm run setup:example [-- --force]
//
// Environment:
//   FASHION_MNIST_DEB=/path/to/dataset-fashion-mnist_*.deb   use this package file instead of apt-get download
//   FASHION_MNIST_DATA_DIR=/some/dir                         extract somewhere else (default examples/fashion-mnist/data)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, copyFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = 'dataset-fashion-mnist';
const PACKAGE_DATA_DIR = 'usr/share/datasets/fashion-mnist';
const PACKAGE_COPYRIGHT = 'usr/share/doc/dataset-fashion-mnist/copyright';

// Pinned from dataset-fashion-mnist 0.0~git20200523.55506a9-1 (Debian bookworm). The gzip files are the
// ones Zalando publishes; their MD5s match the upstream README.
const EXPECTED_FILES = {
  'train-images-idx3-ubyte.gz': { size: 26421856, sha256: 'b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7' },
  'train-labels-idx1-ubyte.gz': { size: 29491, sha256: '0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056' },
  't10k-images-idx3-ubyte.gz': { size: 4422079, sha256: 'cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa' },
  't10k-labels-idx1-ubyte.gz': { size: 5125, sha256: '8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05' },
};

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = resolve(process.env.FASHION_MNIST_DATA_DIR ?? join(repoRoot, 'examples/fashion-mnist/data'));
const force = process.argv.includes('--force');

class SetupError extends Error {
  constructor(message, fixes = []) {
    super([message, ...(fixes.length ? ['Possible solutions:', ...fixes.map((f) => `- ${f}`)] : [])].join('\n'));
    this.name = 'SetupError';
  }
}

function sha256(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Why `path` is not the pinned file, or null when it is. Size first: cheap, and catches truncation. */
function problemWith(path, name) {
  const expected = EXPECTED_FILES[name];
  if (!existsSync(path)) return 'missing';
  const size = statSync(path).size;
  if (size !== expected.size) return `size ${size} bytes, expected ${expected.size}`;
  const digest = sha256(path);
  if (digest !== expected.sha256) return `sha256 ${digest}, expected ${expected.sha256}`;
  return null;
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.error && result.error.code === 'ENOENT') {
    throw new SetupError(`\`${command}\` was not found on PATH.`, [
      `Install ${command} (Debian/Ubuntu: it ships with apt/dpkg), or download ${PACKAGE}_*.deb elsewhere and set FASHION_MNIST_DEB=/path/to/it.`,
    ]);
  }
  return result;
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Downloads the .deb into workDir with apt-get; falls back to private package lists when the system's have none. */
function downloadDeb(workDir) {
  const first = run('apt-get', ['download', PACKAGE], { cwd: workDir });
  if (first.status === 0) return findDeb(workDir);

  const notLocated = /Unable to locate package|has no installation candidate|No packages found/i.test(first.stderr);
  if (!notLocated) {
    throw new SetupError(`\`apt-get download ${PACKAGE}\` failed (exit ${first.status}):\n${first.stderr.trim()}`, [
      'Check the network connection to your Debian/Ubuntu mirror.',
      `Download ${PACKAGE}_*.deb elsewhere (https://packages.debian.org/${PACKAGE}) and set FASHION_MNIST_DEB=/path/to/it.`,
    ]);
  }
  // The system's package lists do not know the package (never updated, or not Debian). Refresh a private
  // copy of the lists under the work dir: this needs no root, unlike `apt-get update`.
  process.stderr.write(`apt lists do not know ${PACKAGE}; refreshing private lists (no root needed)...\n`);
  const lists = join(workDir, 'lists');
  const cache = join(workDir, 'cache');
  mkdirSync(join(lists, 'partial'), { recursive: true });
  mkdirSync(join(cache, 'archives', 'partial'), { recursive: true });
  const privateOptions = [`-oDir::State::Lists=${lists}`, `-oDir::Cache=${cache}`, '-oDebug::NoLocking=1'];
  const update = run('apt-get', [...privateOptions, 'update'], { cwd: workDir });
  const second = update.status === 0 ? run('apt-get', [...privateOptions, 'download', PACKAGE], { cwd: workDir }) : update;
  if (second.status !== 0) {
    const fixes = [
      isRoot ? 'Run `apt-get update` and try again.' : 'Run `sudo apt-get update` and try again.',
      `${PACKAGE} is in Debian bookworm and later (main) and Ubuntu 20.04 and later (universe): make sure such a source is in /etc/apt/sources.list(.d).`,
      `Download ${PACKAGE}_*.deb elsewhere (https://packages.debian.org/${PACKAGE}) and set FASHION_MNIST_DEB=/path/to/it.`,
    ];
    throw new SetupError(`Could not download ${PACKAGE} with apt-get:\n${second.stderr.trim()}`, fixes);
  }
  return findDeb(workDir);
}

function findDeb(dir) {
  const deb = readdirSync(dir).find((f) => f.startsWith(`${PACKAGE}_`) && f.endsWith('.deb'));
  if (!deb) throw new SetupError(`apt-get reported success but no ${PACKAGE}_*.deb appeared in ${dir}.`);
  return join(dir, deb);
}

function main() {
  const names = Object.keys(EXPECTED_FILES);
  const problems = Object.fromEntries(names.map((n) => [n, force ? 'forced' : problemWith(join(dataDir, n), n)]));
  if (names.every((n) => problems[n] === null)) {
    console.log(`Fashion-MNIST already present in ${dataDir} (sizes and sha256 verified).`);
    return;
  }

  mkdirSync(dataDir, { recursive: true });
  // Work inside dataDir so that the final renames stay on one file system (atomic).
  const workDir = mkdtempSync(join(dataDir, '.setup-'));
  try {
    const deb = process.env.FASHION_MNIST_DEB ? resolve(process.env.FASHION_MNIST_DEB) : downloadDeb(workDir);
    if (!existsSync(deb)) throw new SetupError(`FASHION_MNIST_DEB points at ${deb}, which does not exist.`);
    const extractDir = join(workDir, 'root');
    const extract = run('dpkg-deb', ['-x', deb, extractDir]);
    if (extract.status !== 0) {
      throw new SetupError(`\`dpkg-deb -x ${deb}\` failed (exit ${extract.status}):\n${extract.stderr.trim()}`, [
        'Delete the .deb and run the setup again (the download may be corrupt).',
      ]);
    }
    for (const name of names) {
      const extracted = join(extractDir, PACKAGE_DATA_DIR, name);
      const problem = problemWith(extracted, name);
      if (problem) {
        throw new SetupError(`${name} from ${deb} does not match the pinned file: ${problem}.`, [
          'The package version may differ from the one pinned here (0.0~git20200523.55506a9-1); update EXPECTED_FILES in scripts/setup-fashion-mnist.mjs after checking the data.',
        ]);
      }
    }
    for (const name of names) renameSync(join(extractDir, PACKAGE_DATA_DIR, name), join(dataDir, name));
    const copyright = join(extractDir, PACKAGE_COPYRIGHT);
    if (existsSync(copyright)) {
      copyFileSync(copyright, join(workDir, 'COPYRIGHT'));
      renameSync(join(workDir, 'COPYRIGHT'), join(dataDir, 'COPYRIGHT'));
    }
    console.log(`Fashion-MNIST extracted into ${dataDir}:`);
    for (const name of names) console.log(`  ${name}  ${EXPECTED_FILES[name].size} bytes  sha256 ok`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

try {
  main();
} catch (error) {
  console.error(error instanceof SetupError ? error.message : error);
  process.exit(1);
}
