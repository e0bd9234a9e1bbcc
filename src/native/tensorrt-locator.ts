/**
 * Finds TensorRT installations WITHOUT loading them: dlopen of libnvinfer pulls in CUDA and costs
 * seconds, and a broken install must not crash `trt-int8 doctor`. The version comes from the
 * versioned file name (libnvinfer.so.10.16.0) or from a pip wheel's dist-info METADATA.
 *
 * Search order (the first install found is the one a back end should prefer):
 *   1. $TENSORRT_ROOT/lib, $TENSORRT_ROOT/lib64, $TENSORRT_ROOT
 *   2. each $LD_LIBRARY_PATH entry
 *   3. the tensorrt_libs folder of pip installs: $VIRTUAL_ENV, ~/.local, pyenv versions, system pythons
 *   4. system folders: /usr/lib/<arch>-linux-gnu, /usr/local/tensorrt/lib, /usr/lib64, /usr/local/lib
 *   5. the ld.so cache (`ldconfig -p`), when ldconfig is available
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

export type TensorRTSource = 'TENSORRT_ROOT' | 'LD_LIBRARY_PATH' | 'pip' | 'system' | 'ldconfig';

export interface TensorRTInstall {
  /** The folder holding libnvinfer. */
  readonly root: string;
  /** Path of the libnvinfer to dlopen (the SONAME link where there is one, e.g. libnvinfer.so.10). */
  readonly libnvinfer: string;
  readonly libnvonnxparser?: string;
  readonly version: { readonly major: number; readonly minor: number; readonly patch: number };
  /**
   * False when only the major version could be read (a bare libnvinfer.so.10 with no versioned file
   * or wheel metadata beside it); minor and patch are then 0.
   */
  readonly versionExact: boolean;
  /** Where the version was read. */
  readonly versionFrom: 'file-name' | 'dist-info' | 'soname';
  readonly source: TensorRTSource;
}

export interface LocateTensorRTOptions {
  /** Defaults to process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Replaces the system folders of step 4 (tests use this to stay off the real system). */
  readonly systemDirs?: readonly string[];
  /** Set false to skip `ldconfig -p` (default true). */
  readonly ldconfig?: boolean;
  /** Replaces the home folder for ~/.local and ~/.pyenv (default os.homedir()). */
  readonly home?: string;
  /** Replaces the python prefixes scanned for site-packages (default /usr, /usr/local, /opt/conda). */
  readonly pythonPrefixes?: readonly string[];
}

const LIB_NAME = /^libnvinfer\.so\.(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.\d+)*$/;
// Any builder resource: the all-GPU one, a per-SM one (_sm90) or the PTX one (_ptx) names the exact version.
const RESOURCE_NAME = /^libnvinfer_builder_resource(?:_sm\d+|_ptx)?\.so\.(\d+)\.(\d+)\.(\d+)(?:\.\d+)*$/;
const WHEEL_DIST_INFO = /^tensorrt(?:_cu\d+)?_libs-[^/]*\.dist-info$/;

function readDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function realpath(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

function systemLibDirs(): string[] {
  const multiarch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  return [`/usr/lib/${multiarch}`, '/usr/local/tensorrt/lib', '/usr/lib64', '/usr/local/lib'];
}

/** Every site-packages / dist-packages folder of the python installs we know where to look for. */
function sitePackagesDirs(env: NodeJS.ProcessEnv, home: string, prefixes: readonly string[]): string[] {
  const libRoots: string[] = [];
  if (env.VIRTUAL_ENV) libRoots.push(path.join(env.VIRTUAL_ENV, 'lib'));
  if (env.CONDA_PREFIX) libRoots.push(path.join(env.CONDA_PREFIX, 'lib'));
  libRoots.push(path.join(home, '.local', 'lib'));
  const pyenvRoot = env.PYENV_ROOT || path.join(home, '.pyenv');
  for (const version of readDir(path.join(pyenvRoot, 'versions')).sort().reverse()) libRoots.push(path.join(pyenvRoot, 'versions', version, 'lib'));
  for (const prefix of prefixes) libRoots.push(path.join(prefix, 'lib'));
  const dirs: string[] = [];
  for (const libRoot of libRoots) {
    // Debian's own python keeps packages in /usr/lib/python3/dist-packages.
    for (const entry of ['python3', ...readDir(libRoot).filter((e) => /^python3\.\d+$/.test(e)).sort().reverse()]) {
      for (const leaf of ['site-packages', 'dist-packages']) dirs.push(path.join(libRoot, entry, leaf));
    }
  }
  return dirs.filter((d) => fs.existsSync(d));
}

function versionFromMetadata(distInfo: string): { major: number; minor: number; patch: number } | undefined {
  try {
    const text = fs.readFileSync(path.join(distInfo, 'METADATA'), 'utf8');
    const match = /^Version:\s*(\d+)\.(\d+)(?:\.(\d+))?/m.exec(text);
    if (match) return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3] ?? 0) };
  } catch {
    /* no metadata */
  }
  return undefined;
}

/**
 * Reads the install in `dir`, or undefined when there is no libnvinfer.so.<N> in it.
 * `metadataDirs` are dist-info folders that may hold the version (pip wheels).
 */
export function inspectTensorRTDir(dir: string, source: TensorRTSource, metadataDirs: readonly string[] = []): TensorRTInstall | undefined {
  const entries = readDir(dir);
  const libs = entries
    .map((name) => ({ name, match: LIB_NAME.exec(name) }))
    .filter((e): e is { name: string; match: RegExpExecArray } => e.match !== null && isFile(path.join(dir, e.name)));
  if (libs.length === 0) return undefined;
  // The SONAME link (libnvinfer.so.10) is what a loader should open; fall back to the most versioned file.
  const soname = libs.find((l) => l.match[2] === undefined);
  const full = libs.find((l) => l.match[3] !== undefined) ?? libs.find((l) => l.match[2] !== undefined);
  const libFile = path.join(dir, (soname ?? full ?? libs[0]!).name);

  let version: TensorRTInstall['version'] | undefined;
  let versionFrom: TensorRTInstall['versionFrom'] = 'file-name';
  let versionExact = true;
  // A SONAME link may point at the versioned file elsewhere; its target's name counts too.
  const target = LIB_NAME.exec(path.basename(realpath(libFile)));
  const named = [full?.match, target].find((m) => m && m[2] !== undefined);
  if (named) {
    version = { major: Number(named[1]), minor: Number(named[2]), patch: Number(named[3] ?? 0) };
  }
  if (!version) {
    const resource = entries.map((e) => RESOURCE_NAME.exec(e)).find((m) => m !== null);
    if (resource) version = { major: Number(resource[1]), minor: Number(resource[2]), patch: Number(resource[3]) };
  }
  if (!version) {
    for (const distInfo of metadataDirs) {
      version = versionFromMetadata(distInfo);
      if (version) {
        versionFrom = 'dist-info';
        break;
      }
    }
  }
  if (!version) {
    version = { major: Number(libs[0]!.match[1]), minor: 0, patch: 0 };
    versionFrom = 'soname';
    versionExact = false;
  }
  const parser = entries
    .filter((e) => /^libnvonnxparser\.so\.\d+/.test(e) && isFile(path.join(dir, e)))
    .sort((a, b) => a.length - b.length)[0];
  return {
    root: dir,
    libnvinfer: libFile,
    ...(parser ? { libnvonnxparser: path.join(dir, parser) } : {}),
    version,
    versionExact,
    versionFrom,
    source,
  };
}

/** Folders that `ldconfig -p` lists for libnvinfer. */
function ldconfigDirs(): string[] {
  for (const ldconfig of ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig']) {
    const result = spawnSync(ldconfig, ['-p'], { encoding: 'utf8', timeout: 5000 });
    if (result.status !== 0 || typeof result.stdout !== 'string') continue;
    const dirs: string[] = [];
    for (const line of result.stdout.split('\n')) {
      const match = /^\s*libnvinfer\.so\.\d+\s.*=>\s*(\S+)\s*$/.exec(line);
      if (match) dirs.push(path.dirname(match[1] as string));
    }
    return dirs;
  }
  return [];
}

/**
 * Every TensorRT found, in search order, without duplicates (one install reached twice, e.g. through
 * LD_LIBRARY_PATH and ldconfig, is reported once under the first source).
 */
export function locateTensorRT(options: LocateTensorRTOptions = {}): TensorRTInstall[] {
  const env = options.env ?? process.env;
  const home = options.home ?? os.homedir();
  const candidates: { dir: string; source: TensorRTSource; metadata?: string[] }[] = [];
  if (env.TENSORRT_ROOT) {
    for (const sub of ['lib', 'lib64', '.']) candidates.push({ dir: path.resolve(env.TENSORRT_ROOT, sub), source: 'TENSORRT_ROOT' });
  }
  for (const entry of (env.LD_LIBRARY_PATH ?? '').split(':')) {
    if (entry) candidates.push({ dir: path.resolve(entry), source: 'LD_LIBRARY_PATH' });
  }
  for (const site of sitePackagesDirs(env, home, options.pythonPrefixes ?? ['/usr/local', '/usr', '/opt/conda'])) {
    const libsDir = path.join(site, 'tensorrt_libs');
    if (!fs.existsSync(libsDir)) continue;
    const metadata = readDir(site)
      .filter((e) => WHEEL_DIST_INFO.test(e))
      .sort()
      .reverse()
      .map((e) => path.join(site, e));
    candidates.push({ dir: libsDir, source: 'pip', metadata });
  }
  for (const dir of options.systemDirs ?? systemLibDirs()) candidates.push({ dir, source: 'system' });
  if (options.ldconfig ?? true) for (const dir of ldconfigDirs()) candidates.push({ dir, source: 'ldconfig' });

  const seen = new Set<string>();
  const installs: TensorRTInstall[] = [];
  for (const candidate of candidates) {
    const install = inspectTensorRTDir(candidate.dir, candidate.source, candidate.metadata);
    if (!install) continue;
    const key = realpath(install.libnvinfer);
    if (seen.has(key)) continue;
    seen.add(key);
    installs.push(install);
  }
  return installs;
}
