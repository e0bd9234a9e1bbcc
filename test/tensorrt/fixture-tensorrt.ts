/**
 * A stand-in TensorRT 10.6.0 compiled on the spot for tests that need the TensorRT module loaded but no GPU: a
 * libnvinfer.so.10 whose createInferBuilder runs the C body given (it receives `logger`, an nvinfer1::ILogger whose
 * vtable slot 0 is log(), and returns no builder), a parser that creates nothing, and a builder resource file named as
 * in a TensorRT tar package. It is not TensorRT: real builds run on the GPU machine (docs/tensorrt.md).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function compile(dir: string, file: string, source: string): void {
  const src = path.join(dir, 'src', `${file}.c`);
  fs.writeFileSync(src, source);
  execFileSync('gcc', ['-shared', '-fPIC', `-Wl,-soname,${file}`, '-o', path.join(dir, file), src]);
}

/** Builds the fixture in a new temporary folder and returns it (remove it with fs.rmSync when done). */
export function makeFixtureTensorRT(prefix: string, createInferBuilderBody: readonly string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.mkdirSync(path.join(dir, 'src'));
  compile(
    dir,
    'libnvinfer.so.10',
    [
      '#include <stdio.h>',
      '#include <stdlib.h>',
      '#include <unistd.h>',
      'typedef void (*LogFn)(void* self, int severity, const char* message);',
      'int getInferLibVersion(void) { return 100600; }',
      'void* createInferBuilder_INTERNAL(void* logger, int version) {',
      ...createInferBuilderBody.map((line) => `  ${line}`),
      '  return 0;',
      '}',
      'void* createInferRuntime_INTERNAL(void* logger, int version) { return 0; }',
    ].join('\n'),
  );
  compile(dir, 'libnvonnxparser.so.10', 'void* createNvOnnxParser_INTERNAL(void* network, void* logger, int version) { return 0; }\n');
  compile(dir, 'libnvinfer_builder_resource.so.10.6.0', 'int trt_int8_fixture_resource(void) { return 1; }\n');
  return dir;
}

/** C: log `message` at severity 1 (kERROR) through the ILogger createInferBuilder was given. */
export function logError(message: string): string {
  return `((LogFn*)(*(void***)logger))[0](logger, 1, "${message}");`;
}
