// The locator reads real files in temporary folders laid out like TensorRT installs (tar file, pip
// wheel, Debian packages): that exercises our search order and version parsing, not TensorRT itself.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspectTensorRTDir, locateTensorRT, type LocateTensorRTOptions } from '../../src/capabilities/index.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-locator-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function touch(file: string, content = 'ELF'): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
}

/** A tar-file style lib folder: the versioned file plus SONAME and dev links. */
function tarInstall(root: string, version: string): string {
  const lib = path.join(root, 'lib');
  const major = version.split('.')[0];
  touch(path.join(lib, `libnvinfer.so.${version}`));
  fs.symlinkSync(`libnvinfer.so.${version}`, path.join(lib, `libnvinfer.so.${major}`));
  fs.symlinkSync(`libnvinfer.so.${major}`, path.join(lib, 'libnvinfer.so'));
  touch(path.join(lib, `libnvonnxparser.so.${version}`));
  fs.symlinkSync(`libnvonnxparser.so.${version}`, path.join(lib, `libnvonnxparser.so.${major}`));
  touch(path.join(lib, `libnvinfer_lean.so.${version}`)); // must not be mistaken for libnvinfer
  return lib;
}

/** Options that keep the search inside tmp: no real system folders, no ldconfig, fake home. */
function isolated(env: NodeJS.ProcessEnv, extra: Partial<LocateTensorRTOptions> = {}): LocateTensorRTOptions {
  return { env, systemDirs: [], ldconfig: false, home: path.join(tmp, 'home'), pythonPrefixes: [], ...extra };
}

describe('inspectTensorRTDir', () => {
  it('reads the version from the versioned file name and prefers the SONAME link', () => {
    const lib = tarInstall(path.join(tmp, 'TensorRT-10.16.0'), '10.16.0');
    const install = inspectTensorRTDir(lib, 'TENSORRT_ROOT')!;
    expect(install).toEqual({
      root: lib,
      libnvinfer: path.join(lib, 'libnvinfer.so.10'),
      libnvonnxparser: path.join(lib, 'libnvonnxparser.so.10'),
      version: { major: 10, minor: 16, patch: 0 },
      versionExact: true,
      versionFrom: 'file-name',
      source: 'TENSORRT_ROOT',
    });
  });

  it('follows a SONAME link to a versioned file in another folder', () => {
    const real = touch(path.join(tmp, 'real', 'libnvinfer.so.10.3.0'));
    const lib = path.join(tmp, 'links');
    fs.mkdirSync(lib);
    fs.symlinkSync(real, path.join(lib, 'libnvinfer.so.10'));
    expect(inspectTensorRTDir(lib, 'system')!.version).toEqual({ major: 10, minor: 3, patch: 0 });
  });

  it('falls back to the builder resource file, then to the SONAME major alone', () => {
    const a = path.join(tmp, 'a');
    touch(path.join(a, 'libnvinfer.so.10'));
    touch(path.join(a, 'libnvinfer_builder_resource.so.10.9.0'));
    expect(inspectTensorRTDir(a, 'system')).toMatchObject({ version: { major: 10, minor: 9, patch: 0 }, versionExact: true });
    const b = path.join(tmp, 'b');
    touch(path.join(b, 'libnvinfer.so.11'));
    expect(inspectTensorRTDir(b, 'system')).toMatchObject({ version: { major: 11, minor: 0, patch: 0 }, versionExact: false, versionFrom: 'soname' });
  });

  it('ignores folders without libnvinfer and dangling links', () => {
    expect(inspectTensorRTDir(path.join(tmp, 'missing'), 'system')).toBeUndefined();
    const dir = path.join(tmp, 'dangling');
    fs.mkdirSync(dir);
    fs.symlinkSync(path.join(tmp, 'nowhere', 'libnvinfer.so.10.0.0'), path.join(dir, 'libnvinfer.so.10'));
    touch(path.join(dir, 'libnvinfer.so')); // the unversioned dev link is not a runtime library
    expect(inspectTensorRTDir(dir, 'system')).toBeUndefined();
  });
});

describe('locateTensorRT search order', () => {
  it('finds nothing in an empty environment', () => {
    expect(locateTensorRT(isolated({}))).toEqual([]);
  });

  it('orders TENSORRT_ROOT, LD_LIBRARY_PATH, pip, system and reports each install once', () => {
    const root = path.join(tmp, 'TensorRT-10.16.0');
    const rootLib = tarInstall(root, '10.16.0');
    const ldLib = tarInstall(path.join(tmp, 'ld', 'trt8'), '8.6.1');
    const sysLib = tarInstall(path.join(tmp, 'sys', 'trt11'), '11.0.0');
    const site = path.join(tmp, 'home', '.local', 'lib', 'python3.11', 'site-packages');
    touch(path.join(site, 'tensorrt_libs', 'libnvinfer.so.10'));
    touch(path.join(site, 'tensorrt_libs', 'libnvonnxparser.so.10'));
    touch(path.join(site, 'tensorrt_cu12_libs-10.3.0.dist-info', 'METADATA'), 'Metadata-Version: 2.1\nName: tensorrt-cu12-libs\nVersion: 10.3.0\n');

    const installs = locateTensorRT(
      isolated(
        // The TENSORRT_ROOT folder also appears on LD_LIBRARY_PATH: reported once, as TENSORRT_ROOT.
        { TENSORRT_ROOT: root, LD_LIBRARY_PATH: `${rootLib}::${ldLib}:${path.join(tmp, 'empty')}` },
        { systemDirs: [sysLib, rootLib] },
      ),
    );
    expect(installs.map((i) => [i.source, `${i.version.major}.${i.version.minor}.${i.version.patch}`, i.root])).toEqual([
      ['TENSORRT_ROOT', '10.16.0', rootLib],
      ['LD_LIBRARY_PATH', '8.6.1', ldLib],
      ['pip', '10.3.0', path.join(site, 'tensorrt_libs')],
      ['system', '11.0.0', sysLib],
    ]);
    expect(installs[2]).toMatchObject({ versionFrom: 'dist-info', versionExact: true, libnvonnxparser: path.join(site, 'tensorrt_libs', 'libnvonnxparser.so.10') });
  });

  it('scans VIRTUAL_ENV, pyenv versions and Debian dist-packages for pip wheels', () => {
    const venvSite = path.join(tmp, 'venv', 'lib', 'python3.12', 'site-packages');
    touch(path.join(venvSite, 'tensorrt_libs', 'libnvinfer.so.10'));
    touch(path.join(venvSite, 'tensorrt_cu13_libs-10.16.0.dist-info', 'METADATA'), 'Name: tensorrt-cu13-libs\nVersion: 10.16.0.7\n');
    const pyenvSite = path.join(tmp, 'home', '.pyenv', 'versions', '3.10.14', 'lib', 'python3.10', 'site-packages');
    touch(path.join(pyenvSite, 'tensorrt_libs', 'libnvinfer.so.10'));
    touch(path.join(pyenvSite, 'tensorrt_libs', 'libnvinfer_builder_resource.so.10.1.0'));
    const debian = path.join(tmp, 'usr', 'lib', 'python3', 'dist-packages');
    touch(path.join(debian, 'tensorrt_libs', 'libnvinfer.so.10'));

    const installs = locateTensorRT(isolated({ VIRTUAL_ENV: path.join(tmp, 'venv') }, { pythonPrefixes: [path.join(tmp, 'usr')] }));
    expect(installs.map((i) => [i.root, i.version.minor, i.versionFrom])).toEqual([
      [path.join(venvSite, 'tensorrt_libs'), 16, 'dist-info'],
      [path.join(pyenvSite, 'tensorrt_libs'), 1, 'file-name'],
      [path.join(debian, 'tensorrt_libs'), 0, 'soname'],
    ]);
    expect(installs.every((i) => i.source === 'pip')).toBe(true);
  });

  it('looks in TENSORRT_ROOT/lib64 and TENSORRT_ROOT itself', () => {
    const root = path.join(tmp, 'trt');
    touch(path.join(root, 'lib64', 'libnvinfer.so.10.2.0'));
    expect(locateTensorRT(isolated({ TENSORRT_ROOT: root }))[0]).toMatchObject({ root: path.join(root, 'lib64'), source: 'TENSORRT_ROOT' });
    const flat = path.join(tmp, 'flat');
    touch(path.join(flat, 'libnvinfer.so.10.4.0'));
    expect(locateTensorRT(isolated({ TENSORRT_ROOT: flat }))[0]).toMatchObject({ root: flat, version: { minor: 4 } });
  });
});
