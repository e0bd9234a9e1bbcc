/**
 * TENSORRT_ROOT alone must be enough to build (issue #9): TensorRT dlopens its builder resource by file name,
 * which does not search libnvinfer's folder, so the module loads every builder resource beside libnvinfer by
 * full path first. Needs the built TensorRT 10 module (npm run build:tensorrt; skipped where it is not built).
 *
 * The libraries are fixtures compiled on the spot: a libnvinfer.so.10 with TensorRT's entry points reporting
 * 10.6.0, a builder resource whose SONAME is its file name (as NVIDIA ships it), and one whose SONAME is
 * something else, which the module must report because TensorRT's dlopen by name would not find it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTensorRTModule, tensorRTModulePath } from '../../src/native/index.js';

const built = fs.existsSync(tensorRTModulePath(10));
let dir: string;

function compile(file: string, source: string, soname?: string): string {
  const src = path.join(dir, 'src', `${path.basename(file)}.c`);
  fs.writeFileSync(src, source);
  execFileSync('gcc', ['-shared', '-fPIC', ...(soname ? [`-Wl,-soname,${soname}`] : []), '-o', file, src]);
  return file;
}

beforeAll(() => {
  if (!built) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-builder-resource-'));
  fs.mkdirSync(path.join(dir, 'src'));
  compile(
    path.join(dir, 'libnvinfer.so.10'),
    [
      'int getInferLibVersion(void) { return 100600; }',
      'void* createInferBuilder_INTERNAL(void* logger, int version) { return 0; }',
      'void* createInferRuntime_INTERNAL(void* logger, int version) { return 0; }',
    ].join('\n'),
    'libnvinfer.so.10',
  );
  compile(path.join(dir, 'libnvinfer_builder_resource.so.10.6.0'), 'int trt_int8_resource_a(void) { return 1; }\n', 'libnvinfer_builder_resource.so.10.6.0');
  compile(path.join(dir, 'libnvinfer_builder_resource_sm90.so.10.6.0'), 'int trt_int8_resource_b(void) { return 2; }\n', 'libsomething_else.so.1');
  // A development symlink and another major's resource: neither is TensorRT 10's to load.
  fs.symlinkSync('libnvinfer_builder_resource.so.10.6.0', path.join(dir, 'libnvinfer_builder_resource.so'));
  compile(path.join(dir, 'libnvinfer_builder_resource.so.11.1.0'), 'int trt_int8_resource_c(void) { return 3; }\n', 'libnvinfer_builder_resource.so.11.1.0');
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!built)('builder resources beside libnvinfer (TensorRT 10 module)', () => {
  it('loads them by full path so that TensorRT finds them by name, and reports one whose SONAME differs', () => {
    expect(process.env.LD_LIBRARY_PATH ?? '').not.toContain(dir);
    const loaded = loadTensorRTModule(10).loadLibrary(path.join(dir, 'libnvinfer.so.10'), '') as {
      ok: boolean;
      builderResources?: string[];
      builderResourceProblems?: string[];
      error?: string;
    };
    expect(loaded.error).toBeUndefined();
    expect(loaded.ok).toBe(true);
    expect(loaded.builderResources).toEqual([
      path.join(dir, 'libnvinfer_builder_resource.so.10.6.0'),
      path.join(dir, 'libnvinfer_builder_resource_sm90.so.10.6.0'),
    ]);
    expect(loaded.builderResourceProblems).toHaveLength(1);
    expect(loaded.builderResourceProblems![0]).toContain('libnvinfer_builder_resource_sm90.so.10.6.0');
    expect(loaded.builderResourceProblems![0]).toContain('SONAME');
  });
});
