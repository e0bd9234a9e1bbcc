// Shared by the example setup scripts: fetch one Debian package's .deb with apt-get (no root needed), unpack it,
// and check pinned files, with errors that say what to do.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export class SetupError extends Error {
  constructor(message, fixes = []) {
    super([message, ...(fixes.length ? ['Possible solutions:', ...fixes.map((f) => `- ${f}`)] : [])].join('\n'));
    this.name = 'SetupError';
  }
}

/** Why `path` is not the pinned file, or null when it is. Size first: cheap, and catches truncation. */
export function pinnedFileProblem(path, size, sha256) {
  if (!existsSync(path)) return 'missing';
  const actual = statSync(path).size;
  if (actual !== size) return `size ${actual} bytes, expected ${size}`;
  const digest = createHash('sha256').update(readFileSync(path)).digest('hex');
  return digest === sha256 ? null : `sha256 ${digest}, expected ${sha256}`;
}

/**
 * One Debian package, fetched into a work folder. `debEnv` names the environment variable that points at a
 * .deb downloaded elsewhere (for machines without apt).
 */
export class DebianPackage {
  constructor(name, debEnv) {
    this.name = name;
    this.debEnv = debEnv;
  }

  run(command, args, options = {}) {
    const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
    if (result.error && result.error.code === 'ENOENT') {
      throw new SetupError(`\`${command}\` was not found on PATH.`, [
        `Install ${command} (Debian/Ubuntu: it ships with apt/dpkg), or download ${this.name}_*.deb elsewhere and set ${this.debEnv}=/path/to/it.`,
      ]);
    }
    return result;
  }

  /** The .deb: the one ${debEnv} names, or one apt-get downloads into workDir. */
  fetch(workDir) {
    const given = process.env[this.debEnv];
    if (!given) return this.download(workDir);
    const deb = resolve(given);
    if (!existsSync(deb)) throw new SetupError(`${this.debEnv} points at ${deb}, which does not exist.`);
    return deb;
  }

  /** Downloads the .deb with apt-get; falls back to private package lists when the system's do not know it. */
  download(workDir) {
    const first = this.run('apt-get', ['download', this.name], { cwd: workDir });
    if (first.status === 0) return this.findDeb(workDir);
    const elsewhere = `Download ${this.name}_*.deb elsewhere (https://packages.debian.org/${this.name}) and set ${this.debEnv}=/path/to/it.`;
    if (!/Unable to locate package|has no installation candidate|No packages found/i.test(first.stderr)) {
      throw new SetupError(`\`apt-get download ${this.name}\` failed (exit ${first.status}):\n${first.stderr.trim()}`, [
        'Check the network connection to your Debian/Ubuntu mirror.',
        elsewhere,
      ]);
    }
    // The system's package lists do not know the package (never updated, or not Debian). Refresh a private copy
    // of the lists under the work dir: unlike `apt-get update`, this needs no root.
    process.stderr.write(`apt lists do not know ${this.name}; refreshing private lists (no root needed)...\n`);
    const lists = join(workDir, 'lists');
    const cache = join(workDir, 'cache');
    mkdirSync(join(lists, 'partial'), { recursive: true });
    mkdirSync(join(cache, 'archives', 'partial'), { recursive: true });
    const privateOptions = [`-oDir::State::Lists=${lists}`, `-oDir::Cache=${cache}`, '-oDebug::NoLocking=1'];
    const update = this.run('apt-get', [...privateOptions, 'update'], { cwd: workDir });
    const second = update.status === 0 ? this.run('apt-get', [...privateOptions, 'download', this.name], { cwd: workDir }) : update;
    if (second.status !== 0) {
      const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
      throw new SetupError(`Could not download ${this.name} with apt-get:\n${second.stderr.trim()}`, [
        isRoot ? 'Run `apt-get update` and try again.' : 'Run `sudo apt-get update` and try again.',
        `Make sure a Debian (bookworm or later) or Ubuntu source that has ${this.name} is in /etc/apt/sources.list(.d).`,
        elsewhere,
      ]);
    }
    return this.findDeb(workDir);
  }

  findDeb(dir) {
    const deb = readdirSync(dir).find((f) => f.startsWith(`${this.name}_`) && f.endsWith('.deb'));
    if (!deb) throw new SetupError(`apt-get reported success but no ${this.name}_*.deb appeared in ${dir}.`);
    return join(dir, deb);
  }

  /** Unpacks the .deb's files under `into` (no maintainer scripts run). */
  extract(deb, into) {
    const result = this.run('dpkg-deb', ['-x', deb, into]);
    if (result.status !== 0) {
      throw new SetupError(`\`dpkg-deb -x ${deb}\` failed (exit ${result.status}):\n${result.stderr.trim()}`, [
        'Delete the .deb and run the setup again (the download may be corrupt).',
      ]);
    }
  }
}

/** Copies a file into place atomically: a copy beside the destination's final name, then a rename. */
export function copyIntoPlace(from, to, workDir) {
  if (!existsSync(from)) return false;
  const staged = join(workDir, `.staged-${Date.now()}`);
  copyFileSync(from, staged);
  renameSync(staged, to);
  return true;
}

/** Runs a setup script's main(): a SetupError prints its message and fixes, anything else its stack; exit 1. */
export function runSetup(main) {
  try {
    main();
  } catch (error) {
    console.error(error instanceof SetupError ? error.message : error);
    process.exit(1);
  }
}
