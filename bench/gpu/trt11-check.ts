/**
 * Issue #9.4: what TensorRT 11.x does here. No 11.x builder for sm_90 can be obtained (the 11.2 libraries on Maven
 * Central carry only the `_ptx` builder resource), so this checks what can be checked on the GPU machine with
 * those libraries and our 11.x module (compiled against the 11.1 headers): that the library loads, that its
 * version is detected, that capabilities()/doctor tell "can run engines but cannot build on this GPU", and that a
 * build fails with a typed error naming the missing builder resource (and FP16 with the 11.x refusal) instead of
 * crashing. Prints one line per check and writes JSON ($OUT or --out).
 *
 *   TENSORRT_ROOT=/tmp/trt11 node .device/run/js/trt11-check.mjs [--out FILE]
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TrtInt8Error, buildEngine, capabilities, resolveTensorRT } from '../../src/index.js';
import { DEFAULT_PATHS } from '../../test/tensorrt/gpu/lib/paths.js';
import { FASHION_PROFILE } from '../../test/tensorrt/gpu/lib/fashion.js';
import { describeError, resultPath, runEnvironment, writeJson, exitWith } from '../../test/tensorrt/gpu/lib/rows.js';

interface Check {
  readonly name: string;
  readonly pass: boolean;
  readonly detail: unknown;
}

/** Runs a build that must fail; returns the typed error's code and message, or what happened instead. */
async function failedBuild(options: Parameters<typeof buildEngine>[1]): Promise<{ code?: string; message: string; built?: boolean }> {
  try {
    // The model's batch is dynamic: a profile, or the build stops in our validation before TensorRT is loaded.
    const engine = await buildEngine(DEFAULT_PATHS.fashionModel, { profiles: [FASHION_PROFILE], ...options });
    engine.dispose();
    return { built: true, message: 'the build succeeded' };
  } catch (error) {
    return error instanceof TrtInt8Error ? { code: error.code, message: error.message } : { message: JSON.stringify(describeError(error)) };
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const out = resultPath(values.out, 'trt11-check.json');
  const checks: Check[] = [];
  const record = (name: string, pass: boolean, detail: unknown) => {
    checks.push({ name, pass, detail });
    console.log(`${pass ? 'PASS' : 'FAIL'} ${name}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
  };

  let major = 0;
  try {
    const install = resolveTensorRT(undefined);
    major = install.version.major;
    record('version detected', major === 11, install);
  } catch (error) {
    record('version detected', false, describeError(error));
  }

  const report = await capabilities({ resolvePaths: [path.dirname(fileURLToPath(import.meta.url)), process.cwd()] });
  const text = JSON.stringify(report);
  record('capabilities: can run, cannot build on this GPU', /cannot build/i.test(text) && /builder resource/i.test(text), report);

  const fp32 = await failedBuild({ precision: 'fp32' });
  record('fp32 build: typed error naming the builder resource', fp32.code !== undefined && /builder.?resource|sm_?90|_ptx/i.test(fp32.message), fp32);

  const fp16 = await failedBuild({ precision: 'fp16' });
  record("fp16 build: refused as 11.x has no FP16 flag (ERR_TENSORRT_UNSUPPORTED_VERSION)", fp16.code === 'ERR_TENSORRT_UNSUPPORTED_VERSION', fp16);

  await writeJson(out, { environment: runEnvironment(), tensorrtMajor: major, checks });
  console.log(`wrote ${out}`);
  return checks.every((c) => c.pass) ? 0 : 1;
}

exitWith(main);
