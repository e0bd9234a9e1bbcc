/**
 * The path of a build from buildEngine() through the TensorRT module and the core's calibrator bridge, up
 * to the first TensorRT call, and back as a typed error. Needs the TensorRT module (npm run build:tensorrt,
 * headers only) and the core addon with its bridge; skipped where either is missing (CI).
 *
 * The "TensorRT" here is a test fixture compiled on the spot: it exports TensorRT 10.16.1's entry points
 * and, like a real libnvinfer on a machine whose CUDA driver is unusable, returns no builder. It tests our
 * plumbing and error mapping only; real builds are recorded in docs/tensorrt.md.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntropyCalibrator2, TrtInt8Error, buildEngine } from '../../src/index.js';
import { addonReport, tensorRTModulePath } from '../../src/native/index.js';
import { cnn } from './models.js';

const moduleBuilt = fs.existsSync(tensorRTModulePath(10));
const report = addonReport();
const bridgeBuilt = report.loaded && (report.modules ?? []).includes('bridge');

let dir: string;
let root: string;

beforeAll(() => {
  if (!moduleBuilt || !bridgeBuilt) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-plumbing-'));
  root = path.join(dir, 'tensorrt');
  fs.mkdirSync(path.join(root, 'lib'), { recursive: true });
  const compile = (name: string, source: string) => {
    const src = path.join(dir, `${path.basename(name)}.c`);
    fs.writeFileSync(src, source);
    execFileSync('gcc', ['-shared', '-fPIC', '-o', path.join(root, 'lib', name), src]);
  };
  compile(
    'libnvinfer.so.10',
    [
      'int getInferLibVersion(void) { return 101601; }',
      'void* createInferBuilder_INTERNAL(void* logger, int version) { return 0; }',
      'void* createInferRuntime_INTERNAL(void* logger, int version) { return 0; }',
    ].join('\n'),
  );
  compile('libnvonnxparser.so.10', 'void* createNvOnnxParser_INTERNAL(void* n, void* l, int v) { return 0; }\n');
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!moduleBuilt || !bridgeBuilt)('buildEngine -> TensorRT module -> bridge job thread -> typed error', () => {
  it('an FP32 build reaches createInferBuilder on the job thread and fails as ERR_BUILD_FAILED', async () => {
    const error = await buildEngine(cnn({ fixedBatch: 2 }), { tensorrt: { root } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrtInt8Error);
    expect((error as TrtInt8Error).code).toBe('ERR_BUILD_FAILED');
    expect((error as TrtInt8Error).message).toContain('createInferBuilder failed');
  });

  it('the same module can run another job afterwards (the first one was destroyed, not leaked or stuck)', async () => {
    const error = await buildEngine(cnn({ fixedBatch: 1 }), { precision: 'fp16', tensorrt: { root } }).catch((e: unknown) => e);
    expect((error as TrtInt8Error).code).toBe('ERR_BUILD_FAILED');
  });

  it('INT8 calibration needs CUDA memory for TensorRT: without a GPU it is ERR_CUDA_UNAVAILABLE, and getBatch is never called', async () => {
    let calls = 0;
    class Calib extends EntropyCalibrator2 {
      getBatch() {
        calls++;
        return null;
      }
    }
    const error = await buildEngine(cnn({ fixedBatch: 2 }), { precision: 'int8', calibrator: new Calib(), tensorrt: { root } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrtInt8Error);
    // On a machine with a GPU the session opens and the build fails at createInferBuilder instead.
    expect(['ERR_CUDA_UNAVAILABLE', 'ERR_BUILD_FAILED']).toContain((error as TrtInt8Error).code);
    expect(calls).toBe(0);
  });
});
