/**
 * TENSORRT_ROOT alone must be enough to build (issue #9): TensorRT dlopens its builder resource by bare file name,
 * which does not search libnvinfer's folder, and NVIDIA's resource has a SONAME unlike its file name
 * ("do_not_link_against_nvinfer_builder_resource"), so loading it by full path beforehand does not help. The
 * module redirects libnvinfer's own dlopen (its GOT slots) so that such a name is tried in libnvinfer's folder
 * first (cpp/tensorrt/trt_library.cc). Needs the built TensorRT 10 module (npm run build:tensorrt; skipped where
 * it is not built) and, for the build job, the core addon's bridge.
 *
 * The libraries are fixtures compiled on the spot, linked with -z relro -z now as TensorRT is (read-only GOT): a
 * libnvinfer.so.10 reporting 10.6.0 whose createInferBuilder dlopens the resources by bare name, once through
 * the real dlopen obtained with dlsym (what TensorRT gets without the redirection), once with a direct call (a
 * PLT/JUMP_SLOT relocation) and once through dlopen's address (a GLOB_DAT relocation), and writes what each got
 * to a file; and builder resources with the SONAME NVIDIA gives them, in the fixture's folder only.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addonReport, loadTensorRTModule, nativeModule, tensorRTModulePath } from '../../src/native/index.js';

const built = fs.existsSync(tensorRTModulePath(10));
const bridgeBuilt = addonReport().loaded && (addonReport().modules ?? []).includes('bridge');
let dir: string;

function compile(file: string, source: string, soname?: string, libs: string[] = []): string {
  const src = path.join(dir, 'src', `${path.basename(file)}.c`);
  fs.writeFileSync(src, source);
  execFileSync('gcc', ['-shared', '-fPIC', '-Wl,-z,relro,-z,now', ...(soname ? [`-Wl,-soname,${soname}`] : []), '-o', file, src, ...libs]);
  return file;
}

const NVINFER = String.raw`
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int getInferLibVersion(void) { return 100600; }
void* createInferRuntime_INTERNAL(void* logger, int version) { return 0; }

static void report(FILE* f, const char* what, void* handle, const char* symbol) {
  if (!handle) fprintf(f, "%s failed: %s\n", what, dlerror());
  else fprintf(f, "%s %s\n", what, dlsym(handle, symbol) ? "ok" : "wrong-object");
}

/* Writes what each dlopen got to $TRT_INT8_FIXTURE_REPORT, then fails as a builder without a GPU would. */
void* createInferBuilder_INTERNAL(void* logger, int version) {
  const char* out = getenv("TRT_INT8_FIXTURE_REPORT");
  FILE* f = out ? fopen(out, "w") : 0;
  if (!f) return 0;
  void* (*real)(const char*, int) = (void* (*)(const char*, int))dlsym(RTLD_DEFAULT, "dlopen");
  report(f, "unhooked", real("libnvinfer_builder_resource.so.10.6.0", RTLD_NOW | RTLD_LOCAL), "trt_int8_resource_all");
  report(f, "call", dlopen("libnvinfer_builder_resource.so.10.6.0", RTLD_NOW | RTLD_LOCAL), "trt_int8_resource_all");
  void* (*volatile address)(const char*, int) = &dlopen;
  report(f, "address", address("libnvinfer_builder_resource_sm90.so.10.6.0", RTLD_LAZY | RTLD_LOCAL), "trt_int8_resource_sm90");
  report(f, "other", dlopen("libtrt_int8_absent.so.1", RTLD_NOW), "x");
  fclose(f);
  return 0;
}
`;

beforeAll(() => {
  if (!built) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-builder-resource-'));
  fs.mkdirSync(path.join(dir, 'src'));
  compile(path.join(dir, 'libnvinfer.so.10'), NVINFER, 'libnvinfer.so.10', ['-ldl']);
  const soname = 'do_not_link_against_nvinfer_builder_resource';
  compile(path.join(dir, 'libnvinfer_builder_resource.so.10.6.0'), 'int trt_int8_resource_all(void) { return 1; }\n', soname);
  compile(path.join(dir, 'libnvinfer_builder_resource_sm90.so.10.6.0'), 'int trt_int8_resource_sm90(void) { return 2; }\n', soname);
  // A development symlink and another major's resource: neither is listed for TensorRT 10.
  fs.symlinkSync('libnvinfer_builder_resource.so.10.6.0', path.join(dir, 'libnvinfer_builder_resource.so'));
  compile(path.join(dir, 'libnvinfer_builder_resource.so.11.1.0'), 'int trt_int8_resource_c(void) { return 3; }\n', 'libnvinfer_builder_resource.so.11.1.0');
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!built)('builder resources beside libnvinfer (TensorRT 10 module)', () => {
  it('redirects libnvinfer\'s dlopen and lists the resources beside it', () => {
    expect(process.env.LD_LIBRARY_PATH ?? '').not.toContain(dir);
    const loaded = loadTensorRTModule(10).loadLibrary(path.join(dir, 'libnvinfer.so.10'), '') as {
      ok: boolean;
      builderResources?: string[];
      builderResourceHooked?: boolean;
      builderResourceProblems?: string[];
      error?: string;
    };
    expect(loaded.error).toBeUndefined();
    expect(loaded.ok).toBe(true);
    expect(loaded.builderResourceProblems).toEqual([]);
    expect(loaded.builderResourceHooked).toBe(true);
    expect(loaded.builderResources).toEqual([
      path.join(dir, 'libnvinfer_builder_resource.so.10.6.0'),
      path.join(dir, 'libnvinfer_builder_resource_sm90.so.10.6.0'),
    ]);
  });

  it.skipIf(!bridgeBuilt)('TensorRT\'s dlopen of a resource by bare name finds it in libnvinfer\'s folder when the builder is created', async () => {
    const reportFile = path.join(dir, 'dlopen-report.txt');
    process.env.TRT_INT8_FIXTURE_REPORT = reportFile;
    const mod = loadTensorRTModule(10);
    expect(mod.loadLibrary(path.join(dir, 'libnvinfer.so.10'), '').ok).toBe(true);
    const { job } = mod.createBuildJob({ onnx: new Uint8Array(4), precision: 'fp32', calibrator: 'none', profiles: [], maxLogSeverity: 1, logSeverityMask: 0, forwardProgress: false });
    const bridge = nativeModule('bridge');
    const session = new bridge.Session({ inputs: [{ name: 'unused', byteLength: 1 }], memory: 'host' });
    try {
      const outcome = await bridge.runJob(job, session, () => undefined).promise;
      expect(outcome.status).toBe('failed'); // the fixture returns no builder
      expect(outcome.runError).toMatch(/^createInferBuilder failed/);
    } finally {
      session.dispose();
      delete process.env.TRT_INT8_FIXTURE_REPORT;
    }
    const lines = fs.readFileSync(reportFile, 'utf8').trim().split('\n');
    // Without the redirection (the real dlopen, by bare name): not found, as on the H200 (issue #9).
    expect(lines[0]).toMatch(/^unhooked failed: .*libnvinfer_builder_resource\.so\.10\.6\.0.*cannot open shared object file/);
    expect(lines.slice(1, 3)).toEqual(['call ok', 'address ok']);
    // Other names go to the real dlopen unchanged.
    expect(lines[3]).toMatch(/^other failed: libtrt_int8_absent\.so\.1: cannot open shared object file/);
  });
});
