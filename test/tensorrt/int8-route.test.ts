/**
 * buildEngine's INT8 routes (Int8Route) up to the native build: which route a calibrator takes, what each refuses,
 * and the 'cache' route's use of a cache the calibrator already has. Needs the built TensorRT 10 module (skipped where
 * it is not built). The TensorRT is a fixture compiled on the spot (version 10.6.0, no builder), so every build ends in
 * ERR_BUILD_FAILED after the route did its JavaScript part; the routes against real TensorRT run in the GPU acceptance
 * suite (rows int8-cache-route, int8-entropy2, qdq-strongly-typed).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEngine, calibratorFromBatches, EntropyCalibrator2, TrtInt8Error, type Batch, type BatchContext } from '../../src/index.js';
import { tensorRTModulePath } from '../../src/native/index.js';
import { logError, makeFixtureTensorRT } from './fixture-tensorrt.js';
import { cnn } from './models.js';
import { rejection } from '../caught.js';

const built = fs.existsSync(tensorRTModulePath(10));
let dir: string;

beforeAll(() => {
  if (built) dir = makeFixtureTensorRT('trt-int8-route-', [logError('fixture: no builder')]);
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function batches(count: number): Batch[] {
  return Array.from({ length: count }, (_, b) => ({ input: { data: Float32Array.from({ length: 2 * 3 * 8 * 8 }, (_, i) => Math.sin(i * 0.37 + b)), shape: [2, 3, 8, 8] } }));
}


describe.skipIf(!built)('INT8 routes on TensorRT 10', () => {
  it("refuses int8Route 'calibrate' for an algorithm TensorRT does not have, naming the other routes", async () => {
    const error = await rejection(buildEngine(cnn({ fixedBatch: 2 }), { tensorrt: { root: dir }, precision: 'int8', calibrator: calibratorFromBatches(batches(2)), int8Route: 'calibrate' }));
    expect(error.code).toBe('ERR_BAD_OPTION');
    expect(error.input).toBe('int8Route');
    expect(error.actual).toBe('auto');
    expect(error.fixes.join(' ')).toContain("int8Route 'cache'");
  });

  it("takes the 'cache' route by default for the library's algorithm: calibrate() reads every batch before the native build", async () => {
    const seen: number[] = [];
    const source = batches(3);
    const calibrator = calibratorFromBatches(
      (function* () {
        for (let i = 0; i < source.length; i++) {
          seen.push(i);
          yield source[i]!;
        }
      })(),
    );
    const error = await rejection(buildEngine(cnn({ fixedBatch: 2 }), { tensorrt: { root: dir }, precision: 'int8', calibrator }));
    expect(seen).toEqual([0, 1, 2]);
    expect(error.code).toBe('ERR_BUILD_FAILED');
    expect(error.message).toContain('fixture: no builder');
  });

  it("uses the calibrator's own cache on the 'cache' route without asking for a batch", async () => {
    const cachePath = path.join(dir, 'older.calib');
    // A cache of another TensorRT version: route 'calibrate' refuses it (TensorRT would ignore it); route 'cache' only
    // takes its scales.
    fs.writeFileSync(cachePath, 'TRT-100400-EntropyCalibration2\ninput: 3c010a14\nconv1_out: 3c8d3a1c\n');
    let calls = 0;
    class Counting extends EntropyCalibrator2 {
      getBatch(_ctx: BatchContext): Batch | null {
        calls++;
        return null;
      }
    }
    const stale = await rejection(buildEngine(cnn({ fixedBatch: 2 }), { tensorrt: { root: dir }, precision: 'int8', calibrator: new Counting({ cachePath }) }));
    expect(stale.code).toBe('ERR_CACHE_MISMATCH');
    const viaCache = await rejection(buildEngine(cnn({ fixedBatch: 2 }), { tensorrt: { root: dir }, precision: 'int8', calibrator: new Counting({ cachePath }), int8Route: 'cache' }));
    expect(viaCache.code).toBe('ERR_BUILD_FAILED');
    expect(calls).toBe(0);
  });
});
