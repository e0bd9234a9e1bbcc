#!/usr/bin/env node
// Fetches Fashion-MNIST (Zalando, MIT/Expat) from the Debian package `dataset-fashion-mnist` into
// examples/fashion-mnist/data/, without root where possible. Idempotent: files already present with the
// pinned size and sha256 are kept. Usage: npm run setup:example [-- --force]
//
// Environment:
//   FASHION_MNIST_DEB=/path/to/dataset-fashion-mnist_*.deb   use this package file instead of apt-get download
//   FASHION_MNIST_DATA_DIR=/some/dir                         extract somewhere else (default examples/fashion-mnist/data)
import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DebianPackage, SetupError, copyIntoPlace, pinnedFileProblem, runSetup } from './lib/debian-package.mjs';

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

const debian = new DebianPackage(PACKAGE, 'FASHION_MNIST_DEB');

/** Why `path` is not the pinned file, or null when it is. */
function problemWith(path, name) {
  const { size, sha256 } = EXPECTED_FILES[name];
  return pinnedFileProblem(path, size, sha256);
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
    const deb = debian.fetch(workDir);
    const extractDir = join(workDir, 'root');
    debian.extract(deb, extractDir);
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
    copyIntoPlace(join(extractDir, PACKAGE_COPYRIGHT), join(dataDir, 'COPYRIGHT'), workDir);
    console.log(`Fashion-MNIST extracted into ${dataDir}:`);
    for (const name of names) console.log(`  ${name}  ${EXPECTED_FILES[name].size} bytes  sha256 ok`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

runSetup(main);
