/**
 * The compiled TensorRT modules (npm run build:tensorrt; needs TensorRT's headers, so CI skips this file):
 * how they load libnvinfer with dlopen and refuse what is not the TensorRT they were compiled for.
 *
 * No TensorRT exists here. The libraries below are test fixtures compiled on the spot: one without any
 * TensorRT entry point, and one that exports the entry points but reports TensorRT 9.0.0, to drive the
 * module's symbol and version checks. Nothing is built with them; a real build runs on the GPU machine
 * (docs/tensorrt.md).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrtInt8Error, buildEngine } from '../../src/index.js';
import { addonReport, fromNativeError, loadTensorRTModule, nativeModule, tensorRTModulePath } from '../../src/native/index.js';
import { cnn } from './models.js';
import { nativeThrow } from '../native/native-throw.js';

const built = ([10, 11] as const).filter((major) => fs.existsSync(tensorRTModulePath(major)));
const bridgeBuilt = addonReport().loaded && (addonReport().modules ?? []).includes('bridge');

let dir: string;
let noSymbols: string;
let versionNine: string;

function compileFixture(name: string, source: string): string {
  const src = path.join(dir, `${name}.c`);
  fs.writeFileSync(src, source);
  const out = path.join(dir, name);
  execFileSync('gcc', ['-shared', '-fPIC', '-o', out, src]);
  return out;
}

beforeAll(() => {
  if (built.length === 0) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-native-module-'));
  noSymbols = compileFixture('libnothing.so', 'int trt_int8_fixture(void) { return 1; }\n');
  fs.mkdirSync(path.join(dir, 'trt9', 'lib'), { recursive: true });
  // Named like TensorRT 10's SONAME, but getInferLibVersion() says 9.0.0 (9 * 10000).
  versionNine = compileFixture(
    'trt9/lib/libnvinfer.so.10',
    [
      'int getInferLibVersion(void) { return 90000; }',
      'void* createInferBuilder_INTERNAL(void* logger, int version) { return 0; }',
      'void* createInferRuntime_INTERNAL(void* logger, int version) { return 0; }',
    ].join('\n'),
  );
});
/** A libnvinfer fixture that reports TensorRT <major>.1.0 and returns no builder or runtime (what a broken install does). */
function fakeTensorRT(major: number): string {
  fs.mkdirSync(path.join(dir, `trt${major}`), { recursive: true });
  return compileFixture(
    `trt${major}/libnvinfer.so.${major}`,
    [
      `int getInferLibVersion(void) { return ${major * 10000 + 100}; }`,
      'void* createInferBuilder_INTERNAL(void* logger, int version) { return 0; }',
      'void* createInferRuntime_INTERNAL(void* logger, int version) { return 0; }',
    ].join('\n'),
  );
}

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(built.length === 0)('TensorRT modules (built against real headers)', () => {
  for (const major of built) {
    describe(`trt_int8_trt${major}.node`, () => {
      it('says which TensorRT headers it was compiled against and which INT8 route it has', () => {
        const mod = loadTensorRTModule(major);
        expect(mod.compiledVersion.major).toBe(major);
        expect(mod.implicitQuantization).toBe(major === 10);
        expect(mod.bridgeAbiVersion).toBe(1);
      });

      it('reports a missing libnvinfer as data, without throwing', () => {
        const mod = loadTensorRTModule(major);
        const result = mod.loadLibrary(path.join(dir, 'absent', `libnvinfer.so.${major}`));
        expect(result.ok).toBe(false);
        if (!result.ok) {
          expect(result.reason).toBe('not-found');
          expect(result.error).toContain('cannot open shared object file');
        }
      });

      it('refuses a library without TensorRT entry points', () => {
        const result = loadTensorRTModule(major).loadLibrary(noSymbols);
        expect(result.ok).toBe(false);
        if (!result.ok) {
          expect(result.reason).toBe('missing-symbol');
          expect(result.error).toContain('getInferLibVersion');
        }
      });

      it('refuses a library of another TensorRT major', () => {
        const result = loadTensorRTModule(major).loadLibrary(versionNine);
        expect(result.ok).toBe(false);
        if (!result.ok) {
          expect(result.reason).toBe('version-mismatch');
          expect(result.error).toContain(`is TensorRT 9.0.0, but this module was compiled for TensorRT ${major}.x`);
        }
      });

      it('will not create a build job before TensorRT is loaded: an Error with code ERR_TENSORRT_NOT_FOUND and a plain message', () => {
        const mod = loadTensorRTModule(major);
        const raw = nativeThrow(() => mod.createBuildJob({ onnx: new Uint8Array(4), precision: 'fp32', calibrator: 'none', profiles: [], maxLogSeverity: 1, logSeverityMask: 0, forwardProgress: false }));
        expect(raw.code).toBe('ERR_TENSORRT_NOT_FOUND');
        expect(raw.message).toBe('call loadLibrary() first');
        const mapped = fromNativeError(raw, 'buildEngine');
        expect(mapped).toBeInstanceOf(TrtInt8Error);
        expect(mapped.code).toBe('ERR_TENSORRT_NOT_FOUND');
        expect(mapped.message).toMatch(/^buildEngine: call loadLibrary\(\) first/);
      });

      it('a misused argument is a TypeError with code ERR_BAD_OPTION', () => {
        const { NativeEngine } = loadTensorRTModule(major);
        const raw = nativeThrow(() => new NativeEngine());
        expect(raw).toBeInstanceOf(TypeError);
        expect(raw.code).toBe('ERR_BAD_OPTION');
        expect(raw.message).toBe('NativeEngine is created by deserializeEngine()');
      });

    });
  }

  it.skipIf(!built.includes(10))('buildEngine turns a version mismatch into ERR_TENSORRT_UNSUPPORTED_VERSION', async () => {
    const error = await buildEngine(cnn({ fixedBatch: 1 }), { tensorrt: { root: path.join(dir, 'trt9') } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrtInt8Error);
    expect((error as TrtInt8Error).code).toBe('ERR_TENSORRT_UNSUPPORTED_VERSION');
    expect((error as TrtInt8Error).input).toBe(versionNine);
  });
});

// Last: these load a fixture libnvinfer into this process for good, and the tests above need none loaded.
describe.skipIf(built.length === 0)('TensorRT modules: errors from worker threads', () => {
  for (const major of built) {
    it(`trt_int8_trt${major}.node: an engine call that fails on its worker thread rejects with the code it failed with`, async () => {
      const mod = loadTensorRTModule(major);
      const loaded = mod.loadLibrary(fakeTensorRT(major));
      expect(loaded.ok).toBe(true);
      const raw = (await mod.deserializeEngine(new Uint8Array(16)).catch((e: unknown) => e)) as Error & { code?: string };
      expect(raw).toBeInstanceOf(Error);
      // No GPU here: CUDA fails first; on a GPU machine the fixture's createInferRuntime returns no runtime.
      expect(['ERR_CUDA_UNAVAILABLE', 'ERR_BUILD_FAILED']).toContain(raw.code);
      expect(raw.message).not.toMatch(/^ERR_/);
      expect(fromNativeError(raw, 'Engine.load').code).toBe(raw.code);
    });

    it.skipIf(!bridgeBuilt)(`trt_int8_trt${major}.node: a failed build job leaves the bridge a plain message and takeBuildResult the coded error`, async () => {
      const mod = loadTensorRTModule(major);
      mod.loadLibrary(fakeTensorRT(major));
      const { job, result } = mod.createBuildJob({ onnx: new Uint8Array(4), precision: 'fp32', calibrator: 'none', profiles: [], maxLogSeverity: 1, logSeverityMask: 0, forwardProgress: false });
      expect(mod.takeBuildResult(result)).toBeNull(); // not run yet
      const bridge = nativeModule('bridge');
      const session = new bridge.Session({ inputs: [{ name: 'unused', byteLength: 1 }], memory: 'host' });
      try {
        const outcome = await bridge.runJob(job, session, () => undefined).promise;
        expect(outcome.status).toBe('failed');
        expect(outcome.runError).toMatch(/^createInferBuilder failed/);
        const raw = nativeThrow(() => mod.takeBuildResult(result));
        expect(raw.code).toBe('ERR_BUILD_FAILED');
        expect(raw.message).toBe(outcome.runError);
      } finally {
        session.dispose();
      }
    });
  }
});
