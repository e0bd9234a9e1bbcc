/**
 * Choosing a TensorRT and its module: what the locator finds -> supported major or typed error. The folders
 * here hold empty files named like TensorRT's libraries: the locator reads versions from file names, and
 * nothing in these tests dlopens them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, TrtInt8Error, resolveTensorRT, selectTensorRT } from '../../src/index.js';
import { inspectTensorRTDir, loadTensorRTModule } from '../../src/native/index.js';

let dir: string;

function fakeInstall(name: string, files: string[]): string {
  const root = path.join(dir, name);
  fs.mkdirSync(path.join(root, 'lib'), { recursive: true });
  for (const f of files) fs.writeFileSync(path.join(root, 'lib', f), '');
  return root;
}

function thrown(fn: () => unknown): TrtInt8Error {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TrtInt8Error);
    return e as TrtInt8Error;
  }
  throw new Error('expected a TrtInt8Error');
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-select-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('selectTensorRT', () => {
  it('no install: ERR_TENSORRT_NOT_FOUND listing how to install or point at one', () => {
    const error = thrown(() => selectTensorRT([]));
    expect(error.code).toBe('ERR_TENSORRT_NOT_FOUND');
    expect(error.expected).toBe('TensorRT 10.x or 11.x');
    expect(error.fixes.join('\n')).toMatch(/pip install tensorrt/);
    expect(error.fixes.join('\n')).toMatch(/TENSORRT_ROOT/);
  });

  it('only unsupported majors: ERR_TENSORRT_UNSUPPORTED_VERSION naming the version found', () => {
    const root = fakeInstall('trt8', ['libnvinfer.so.8', 'libnvinfer.so.8.6.1']);
    const install = inspectTensorRTDir(path.join(root, 'lib'), 'TENSORRT_ROOT')!;
    const error = thrown(() => selectTensorRT([install]));
    expect(error.code).toBe('ERR_TENSORRT_UNSUPPORTED_VERSION');
    expect(error.expected).toBe('TensorRT major 10 or 11');
    expect(JSON.stringify(error.actual)).toContain('8.6.1');
  });

  it('skips an unsupported install in favour of a supported one later in the search order', () => {
    const old = inspectTensorRTDir(path.join(fakeInstall('old', ['libnvinfer.so.8.6.1']), 'lib'), 'LD_LIBRARY_PATH')!;
    const ten = inspectTensorRTDir(path.join(fakeInstall('ten', ['libnvinfer.so.10', 'libnvinfer.so.10.16.1', 'libnvonnxparser.so.10']), 'lib'), 'system')!;
    const eleven = inspectTensorRTDir(path.join(fakeInstall('eleven', ['libnvinfer.so.11.1.0']), 'lib'), 'system')!;
    expect(selectTensorRT([old, ten, eleven])).toBe(ten);
    expect(selectTensorRT([eleven, ten]).version.major).toBe(11);
  });
});

describe('resolveTensorRT({ root })', () => {
  it('finds the libraries in root/lib and reads the version from the file name', () => {
    const root = fakeInstall('root-lib', ['libnvinfer.so.10', 'libnvinfer.so.10.16.1', 'libnvonnxparser.so.10']);
    const install = resolveTensorRT({ root });
    expect(install.version).toEqual({ major: 10, minor: 16, patch: 1 });
    expect(install.libnvinfer).toBe(path.join(root, 'lib', 'libnvinfer.so.10'));
    expect(install.libnvonnxparser).toBe(path.join(root, 'lib', 'libnvonnxparser.so.10'));
  });

  it('an empty folder is ERR_TENSORRT_NOT_FOUND naming it', () => {
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    const error = thrown(() => resolveTensorRT({ root: empty }));
    expect(error.code).toBe('ERR_TENSORRT_NOT_FOUND');
    expect(String(error.actual)).toContain(empty);
  });

  it('an empty root option is ERR_BAD_OPTION', () => {
    expect(thrown(() => resolveTensorRT({ root: '' })).code).toBe('ERR_BAD_OPTION');
  });
});

describe('the TensorRT module for a major', () => {
  it('missing module: ERR_ADDON_NOT_FOUND with the build command', () => {
    const error = thrown(() => loadTensorRTModule(10, { TRT_INT8_TENSORRT_MODULE_DIR: path.join(dir, 'no-modules') }));
    expect(error.code).toBe('ERR_ADDON_NOT_FOUND');
    expect(error.input).toBe(path.join(dir, 'no-modules', 'trt_int8_trt10.node'));
    expect(error.fixes[0]).toContain('npm run build:tensorrt');
  });

  it('a file that is not an addon: ERR_ADDON_NOT_FOUND with the loader message', () => {
    const modules = path.join(dir, 'broken-modules');
    fs.mkdirSync(modules);
    fs.writeFileSync(path.join(modules, 'trt_int8_trt11.node'), 'not an ELF file');
    const error = thrown(() => loadTensorRTModule(11, { TRT_INT8_TENSORRT_MODULE_DIR: modules }));
    expect(error.code).toBe('ERR_ADDON_NOT_FOUND');
    expect(String(error.actual)).toMatch(/invalid ELF header|file too short/);
  });
});

describe('Engine.load', () => {
  it('a missing engine file is ERR_IO', async () => {
    const error = await Engine.load(path.join(dir, 'missing.engine')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrtInt8Error);
    expect((error as TrtInt8Error).code).toBe('ERR_IO');
  });
});
