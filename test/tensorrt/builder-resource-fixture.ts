/**
 * Fixtures for the builder resource tests (builder-resource*.test.ts; one file per fixture libnvinfer, since a
 * process loads one TensorRT for good). TENSORRT_ROOT alone must be enough to build (issue #9): TensorRT dlopens
 * its builder resource by bare file name, which does not search libnvinfer's folder, and NVIDIA's resource has a
 * SONAME unlike its file name ("do_not_link_against_nvinfer_builder_resource"), so loading it by full path
 * beforehand does not help. The module redirects libnvinfer's own dlopen (its GOT slots) so that such a name is
 * tried in libnvinfer's folder first (cpp/tensorrt/trt_library.cc).
 *
 * Compiled on the spot, linked with -z relro -z now as TensorRT is (read-only GOT): a libnvinfer.so.10 reporting
 * 10.6.0 whose createInferBuilder dlopens the resources by bare name, first through the real dlopen obtained with
 * dlsym (what TensorRT gets without the redirection), then as the variant says, and writes what each got to
 * $TRT_INT8_FIXTURE_REPORT; and builder resources with the SONAME NVIDIA gives them, in the fixture's folder only.
 *   'plt':     direct calls to dlopen (an R_X86_64_JUMP_SLOT relocation);
 *   'got':     calls through dlopen's address (R_X86_64_GLOB_DAT; the linker then routes direct calls there too);
 *   'nodlopen': no dlopen import at all, so nothing can be redirected and the module must say so.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addonReport, loadTensorRTModule, nativeModule } from '../../src/native/index.js';

export type FixtureVariant = 'plt' | 'got' | 'nodlopen';

export const bridgeBuilt = addonReport().loaded && (addonReport().modules ?? []).includes('bridge');

export interface LoadedFixture {
  ok: boolean;
  builderResources?: string[];
  builderResourceHooked?: boolean;
  builderResourceProblems?: string[];
  error?: string;
}

const COMMON = String.raw`
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
typedef void* (*Dlopen)(const char*, int);
`;

const BODY: Record<FixtureVariant, string> = {
  plt: 'Dlopen load = 0; /* direct calls below */\n#define LOAD dlopen\n',
  got: 'Dlopen volatile load = &dlopen;\n#define LOAD load\n',
  nodlopen: 'Dlopen load = (Dlopen)dlsym(RTLD_DEFAULT, "dlopen");\n#define LOAD load\n',
};

function nvinferSource(variant: FixtureVariant): string {
  return `${COMMON}
/* Writes what each dlopen got to $TRT_INT8_FIXTURE_REPORT, then fails as a builder without a GPU would. */
void* createInferBuilder_INTERNAL(void* logger, int version) {
  const char* out = getenv("TRT_INT8_FIXTURE_REPORT");
  FILE* f = out ? fopen(out, "w") : 0;
  if (!f) return 0;
  Dlopen real = (Dlopen)dlsym(RTLD_DEFAULT, "dlopen");
  report(f, "unhooked", real("libnvinfer_builder_resource.so.10.6.0", RTLD_NOW | RTLD_LOCAL), "trt_int8_resource_all");
  ${BODY[variant]}
  (void)load;
  report(f, "all", LOAD("libnvinfer_builder_resource.so.10.6.0", RTLD_NOW | RTLD_LOCAL), "trt_int8_resource_all");
  report(f, "sm90", LOAD("libnvinfer_builder_resource_sm90.so.10.6.0", RTLD_LAZY | RTLD_LOCAL), "trt_int8_resource_sm90");
  report(f, "other", LOAD("libtrt_int8_absent.so.1", RTLD_NOW), "x");
  fclose(f);
  return 0;
}
`;
}

function compile(dir: string, file: string, source: string, soname: string, libs: string[] = []): string {
  const src = path.join(dir, 'src', `${path.basename(file)}.c`);
  fs.writeFileSync(src, source);
  execFileSync('gcc', ['-shared', '-fPIC', '-Wl,-z,relro,-z,now', `-Wl,-soname,${soname}`, '-o', file, src, ...libs]);
  return file;
}

/** The relocation types against "dlopen" in `file` (readelf -r), e.g. ['R_X86_64_JUMP_SLOT']. */
export function dlopenRelocations(file: string): string[] {
  const out = execFileSync('readelf', ['-rW', file], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => /\sdlopen(@\S+)?\s/.test(line))
    .map((line) => line.trim().split(/\s+/)[2]!);
}

/** Makes a folder with the fixture libnvinfer and its resources; returns it. */
export function makeFixture(variant: FixtureVariant): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `trt-int8-builder-resource-${variant}-`));
  fs.mkdirSync(path.join(dir, 'src'));
  compile(dir, path.join(dir, 'libnvinfer.so.10'), nvinferSource(variant), 'libnvinfer.so.10', ['-ldl']);
  const soname = 'do_not_link_against_nvinfer_builder_resource';
  compile(dir, path.join(dir, 'libnvinfer_builder_resource.so.10.6.0'), 'int trt_int8_resource_all(void) { return 1; }\n', soname);
  compile(dir, path.join(dir, 'libnvinfer_builder_resource_sm90.so.10.6.0'), 'int trt_int8_resource_sm90(void) { return 2; }\n', soname);
  // A development symlink and another major's resource: neither is listed for TensorRT 10.
  fs.symlinkSync('libnvinfer_builder_resource.so.10.6.0', path.join(dir, 'libnvinfer_builder_resource.so'));
  compile(dir, path.join(dir, 'libnvinfer_builder_resource.so.11.1.0'), 'int trt_int8_resource_c(void) { return 3; }\n', 'libnvinfer_builder_resource.so.11.1.0');
  return dir;
}

export function loadFixture(dir: string): LoadedFixture {
  return loadTensorRTModule(10).loadLibrary(path.join(dir, 'libnvinfer.so.10'), '') as LoadedFixture;
}

/**
 * Runs a build job (createInferBuilder is where TensorRT loads its builder resource) and returns the job's error
 * and the lines the fixture wrote: "unhooked ...", "all ...", "sm90 ...", "other ...".
 */
export async function createBuilder(dir: string): Promise<{ runError: string; lines: string[] }> {
  const reportFile = path.join(dir, 'dlopen-report.txt');
  process.env.TRT_INT8_FIXTURE_REPORT = reportFile;
  const mod = loadTensorRTModule(10);
  const { job } = mod.createBuildJob({ onnx: new Uint8Array(4), precision: 'fp32', calibrator: 'none', profiles: [], maxLogSeverity: 1, logSeverityMask: 0, forwardProgress: false });
  const bridge = nativeModule('bridge');
  const session = new bridge.Session({ inputs: [{ name: 'unused', byteLength: 1 }], memory: 'host' });
  try {
    const outcome = await bridge.runJob(job, session, () => undefined).promise;
    if (outcome.status !== 'failed') throw new Error(`the fixture's build job ended ${outcome.status}`);
    return { runError: outcome.runError ?? '', lines: fs.readFileSync(reportFile, 'utf8').trim().split('\n') };
  } finally {
    session.dispose();
    delete process.env.TRT_INT8_FIXTURE_REPORT;
  }
}
