/**
 * Issue #9: when TensorRT fails, the errors it logged must reach the user in the TrtInt8Error, not a guess of ours.
 * Needs the built TensorRT 10 module (npm run build:tensorrt; skipped where it is not built).
 *
 * The TensorRT here is a fixture compiled on the spot, not TensorRT: its createInferBuilder logs an error through
 * the ILogger it is given (vtable slot 0 is ILogger::log in NvInferRuntime.h) and returns no builder, as a
 * TensorRT whose builder resource cannot be loaded does. A real build runs on the GPU machine (docs/tensorrt.md).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEngine, TrtInt8Error } from '../../src/index.js';
import { tensorRTModulePath } from '../../src/native/index.js';
import { cnn } from './models.js';

const built = fs.existsSync(tensorRTModulePath(10));
const LOGGED = 'Cannot dlopen libnvinfer_builder_resource.so.10.6.0 (fixture): no such file';
let dir: string;

function compile(file: string, source: string, soname: string): void {
  const src = path.join(dir, 'src', `${soname}.c`);
  fs.writeFileSync(src, source);
  execFileSync('gcc', ['-shared', '-fPIC', `-Wl,-soname,${soname}`, '-o', path.join(dir, file), src]);
}

beforeAll(() => {
  if (!built) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-build-failure-'));
  fs.mkdirSync(path.join(dir, 'src'));
  compile(
    'libnvinfer.so.10',
    [
      'typedef void (*LogFn)(void* self, int severity, const char* message);',
      'int getInferLibVersion(void) { return 100600; }',
      'void* createInferBuilder_INTERNAL(void* logger, int version) {',
      `  ((LogFn*)(*(void***)logger))[0](logger, 1, "${LOGGED}");`,
      '  return 0;',
      '}',
      'void* createInferRuntime_INTERNAL(void* logger, int version) { return 0; }',
    ].join('\n'),
    'libnvinfer.so.10',
  );
  compile('libnvonnxparser.so.10', 'void* createNvOnnxParser_INTERNAL(void* network, void* logger, int version) { return 0; }\n', 'libnvonnxparser.so.10');
  // Names the version for the locator, as in a TensorRT tar package.
  compile('libnvinfer_builder_resource.so.10.6.0', 'int trt_int8_fixture_resource(void) { return 1; }\n', 'libnvinfer_builder_resource.so.10.6.0');
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!built)('a TensorRT failure reaches the user with what TensorRT logged', () => {
  it('createInferBuilder failing: ERR_BUILD_FAILED carries the logged error', async () => {
    const error = await buildEngine(cnn({ fixedBatch: 1 }), { tensorrt: { root: dir } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TrtInt8Error);
    expect((error as TrtInt8Error).code).toBe('ERR_BUILD_FAILED');
    expect((error as TrtInt8Error).message).toContain('createInferBuilder failed');
    expect((error as TrtInt8Error).message).toContain(LOGGED);
  });
});
