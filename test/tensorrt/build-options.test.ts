/**
 * buildEngine()'s checks that run before any TensorRT is touched: the model file, the options, the
 * profiles against the model's real inputs. None of these tests needs TensorRT, CUDA or a GPU.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEngine, EntropyCalibrator2, OnnxModel, TrtInt8Error } from '../../src/index.js';
import { checkAgainstModel, checkBuildOptions } from '../../src/tensorrt/options.js';
import { cnn } from './models.js';
import { rejection } from '../caught.js';

let dir: string;
let modelFile: string;
let emptyTensorRT: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-build-options-'));
  modelFile = path.join(dir, 'cnn.onnx');
  fs.writeFileSync(modelFile, cnn());
  emptyTensorRT = path.join(dir, 'no-tensorrt');
  fs.mkdirSync(emptyTensorRT);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));


const range = (min: number, opt: number, max: number) => ({ min: [min, 3, 8, 8], opt: [opt, 3, 8, 8], max: [max, 3, 8, 8] });

describe('buildEngine validation (before TensorRT)', () => {
  it('rejects a missing ONNX file with ERR_IO naming the absolute path', async () => {
    const missing = path.join(dir, 'does-not-exist.onnx');
    const error = await rejection(buildEngine(missing, { tensorrt: { root: emptyTensorRT } }));
    expect(error.code).toBe('ERR_IO');
    expect(error.input).toBe(missing);
    expect(error.fixes.length).toBeGreaterThan(0);
  });

  it('rejects bytes that are not an ONNX model with ERR_BAD_MODEL', async () => {
    const error = await rejection(buildEngine(new TextEncoder().encode('not a model at all'), { tensorrt: { root: emptyTensorRT } }));
    expect(error.code).toBe('ERR_BAD_MODEL');
  });

  it('rejects fitToProfile options that are not fitting options', async () => {
    for (const fitToProfile of [null, 'pad', { mode: 'stretch' }]) {
      const error = await rejection(buildEngine(modelFile, { fitToProfile: fitToProfile as never, tensorrt: { root: emptyTensorRT } }));
      expect(error.code).toBe('ERR_BAD_OPTION');
      expect(error.input).toBe('fitToProfile');
    }
  });

  it('rejects a profile whose min exceeds opt, naming input, expected and actual', async () => {
    const error = await rejection(buildEngine(modelFile, { profiles: [{ input: range(8, 4, 16) }], tensorrt: { root: emptyTensorRT } }));
    expect(error.code).toBe('ERR_BAD_OPTION');
    expect(error.input).toBe('profiles[0].input.min');
    expect(error.expected).toBe('min[0] <= opt[0] = 4');
    expect(error.actual).toBe('min[0] = 8');
  });

  it('rejects a profile whose opt exceeds max', async () => {
    const error = await rejection(buildEngine(modelFile, { profiles: [{ input: range(1, 32, 16) }], tensorrt: { root: emptyTensorRT } }));
    expect(error.code).toBe('ERR_BAD_OPTION');
    expect(error.input).toBe('profiles[0].input.max');
    expect(error.actual).toBe('max[0] = 16');
  });

  it('rejects a profile naming an input the model does not have, listing the real ones', async () => {
    const error = await rejection(
      buildEngine(modelFile, { profiles: [{ input: range(1, 4, 8), image: range(1, 4, 8) }], tensorrt: { root: emptyTensorRT } }),
    );
    expect(error.code).toBe('ERR_BAD_OPTION');
    expect(error.input).toBe('profiles[0].image');
    expect(error.expected).toEqual(['input']);
    expect(error.fixes.join(' ')).toContain('input');
  });

  it('rejects a profile that changes a dimension the model fixes', async () => {
    const error = await rejection(
      buildEngine(modelFile, { profiles: [{ input: { min: [1, 3, 8, 8], opt: [4, 3, 16, 16], max: [8, 3, 16, 16] } }], tensorrt: { root: emptyTensorRT } }),
    );
    expect(error.code).toBe('ERR_BAD_OPTION');
    expect(error.message).toContain('dimension 2 is fixed at 8');
  });

  it('requires a profile for a model with a dynamic batch', async () => {
    const error = await rejection(buildEngine(modelFile, { tensorrt: { root: emptyTensorRT } }));
    expect(error.code).toBe('ERR_BAD_OPTION');
    expect(error.input).toBe('profiles');
    expect(error.fixes[0]).toContain('input: { min');
  });

  it('requires a calibrator for INT8 of a model without Q/DQ', async () => {
    const error = await rejection(buildEngine(modelFile, { precision: 'int8', profiles: [{ input: range(1, 4, 8) }], tensorrt: { root: emptyTensorRT } }));
    expect(error.code).toBe('ERR_BAD_OPTION');
    expect(error.input).toBe('calibrator');
  });

  it('reports a missing TensorRT only after the options passed: ERR_TENSORRT_NOT_FOUND with fixes', async () => {
    const error = await rejection(buildEngine(modelFile, { profiles: [{ input: range(1, 4, 8) }], tensorrt: { root: emptyTensorRT } }));
    expect(error.code).toBe('ERR_TENSORRT_NOT_FOUND');
    expect(error.fixes.some((f) => f.includes('TENSORRT_ROOT'))).toBe(true);
    expect(String(error.actual)).toContain(emptyTensorRT);
  });

  it('checks option types and ranges without a model', () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ precision: 'int4' }, 'precision'],
      [{ workspace: -1 }, 'workspace'],
      [{ workspace: 1.5 }, 'workspace'],
      [{ builderOptimizationLevel: 6 }, 'builderOptimizationLevel'],
      [{ timingCache: '' }, 'timingCache'],
      [{ profiles: {} }, 'profiles'],
      [{ profiles: [{ input: { min: [1], opt: [2, 3], max: [4, 3] } }] }, 'profiles[0].input'],
      [{ profiles: [{ input: { min: [0, 3], opt: [2, 3], max: [4, 3] } }] }, 'profiles[0].input.min'],
      [{ calibrationProfile: { input: [-1, 3] } }, 'calibrationProfile.input'],
      [{ exclude: ['softmax'] }, 'exclude'],
      [{ exclude: { opTypes: [''] } }, 'exclude.opTypes'],
      [{ logger: { info: 'yes' } }, 'logger.info'],
      [{ onProgress: 3 }, 'onProgress'],
      [{ signal: {} }, 'signal'],
      [{ calibrator: {} }, 'calibrator'],
      [{ int8Route: 'implicit' }, 'int8Route'],
      [{ stronglyTyped: 'yes' }, 'stronglyTyped'],
      [{ stronglyTyped: true, precision: 'fp16' }, 'precision'],
      [{ stronglyTyped: true, precision: 'best' }, 'precision'],
      [{ stronglyTyped: true, int8Route: 'cache' }, 'int8Route'],
      [{ layerPrecisions: ['int8'] }, 'layerPrecisions'],
      [{ precision: 'int8', layerPrecisions: { '*': 'int4' } }, 'layerPrecisions.*'],
      [{ precision: 'int8', layerPrecisions: { '': 'int8' } }, 'layerPrecisions'],
      // A precision the build does not enable: TensorRT would silently never use it.
      [{ precision: 'fp16', layerPrecisions: { '*': 'int8' } }, 'layerPrecisions.*'],
      [{ precision: 'int8', layerPrecisions: { conv1: 'fp16' } }, 'layerPrecisions.conv1'],
      [{ layerPrecisions: { conv1: 'int8' } }, 'layerPrecisions.conv1'],
      [{ stronglyTyped: true, precision: 'int8', layerPrecisions: { '*': 'int8' } }, 'layerPrecisions'],
      [{ precisionConstraints: 'strict' }, 'precisionConstraints'],
      // Alone it would change nothing: TensorRT reads it only for layers that carry a precision.
      [{ precision: 'int8', precisionConstraints: 'obey' }, 'precisionConstraints'],
    ];
    for (const [options, input] of bad) {
      let thrown: unknown;
      try {
        checkBuildOptions(options as never);
      } catch (e) {
        thrown = e;
      }
      expect(thrown, JSON.stringify(options)).toBeInstanceOf(TrtInt8Error);
      expect((thrown as TrtInt8Error).code).toBe('ERR_BAD_OPTION');
      expect((thrown as TrtInt8Error).input, JSON.stringify(options)).toBe(input);
    }
  });

  it('rejects an already aborted signal before reading the model', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    const error = await buildEngine(path.join(dir, 'missing.onnx'), { signal: controller.signal }).catch((e: unknown) => e);
    expect((error as Error).message).toBe('stop');
  });
});

describe('checkAgainstModel', () => {
  it('takes the calibration shape from the OPT shape of profiles[0] and resolves exclusions to layer names', async () => {
    const model = await OnnxModel.load(modelFile);
    const result = checkAgainstModel(
      { profiles: [{ input: range(1, 16, 32) }], exclude: { names: ['fc'], opTypes: ['Softmax'] } },
      model.inputs(),
      model.nodes,
    );
    expect(result.dynamic).toBe(true);
    expect(result.calibrationShapes).toEqual({ input: [16, 3, 8, 8] });
    expect(result.excludedNodes).toEqual(['fc', 'softmax']);
  });

  it('uses an explicit calibration profile inside the range and rejects one outside it', async () => {
    const model = await OnnxModel.load(modelFile);
    const ok = checkAgainstModel({ profiles: [{ input: range(1, 16, 32) }], calibrationProfile: { input: [8, 3, 8, 8] } }, model.inputs(), model.nodes);
    expect(ok.calibrationShapes).toEqual({ input: [8, 3, 8, 8] });
    expect(() => checkAgainstModel({ profiles: [{ input: range(1, 16, 32) }], calibrationProfile: { input: [64, 3, 8, 8] } }, model.inputs(), model.nodes)).toThrow(
      /calibrationProfile.input lies outside profiles\[0\]/,
    );
  });

  it('names unknown exclusions and lists real node names', async () => {
    const model = await OnnxModel.load(modelFile);
    let error: TrtInt8Error | undefined;
    try {
      checkAgainstModel({ profiles: [{ input: range(1, 4, 8) }], exclude: { names: ['fc', 'head'] } }, model.inputs(), model.nodes);
    } catch (e) {
      error = e as TrtInt8Error;
    }
    expect(error?.code).toBe('ERR_BAD_OPTION');
    expect(error?.actual).toEqual(['head']);
    expect(error?.fixes[0]).toContain('conv1');
    expect(() => checkAgainstModel({ profiles: [{ input: range(1, 4, 8) }], exclude: { opTypes: ['LSTM'] } }, model.inputs(), model.nodes)).toThrow(/op types/);
  });

  it("resolves layerPrecisions to TensorRT's layer names, keeps '*', and names nodes the model lacks", async () => {
    const model = await OnnxModel.load(modelFile);
    const result = checkAgainstModel({ profiles: [{ input: range(1, 4, 8) }], precision: 'best', layerPrecisions: { '*': 'int8', fc: 'fp16' } }, model.inputs(), model.nodes);
    expect(result.layerPrecisions).toEqual([
      { layer: '*', precision: 'int8' },
      { layer: 'fc', precision: 'fp16' },
    ]);
    expect(checkAgainstModel({ profiles: [{ input: range(1, 4, 8) }] }, model.inputs(), model.nodes).layerPrecisions).toEqual([]);
    let error: TrtInt8Error | undefined;
    try {
      checkAgainstModel({ profiles: [{ input: range(1, 4, 8) }], precision: 'int8', layerPrecisions: { head: 'int8' } }, model.inputs(), model.nodes);
    } catch (e) {
      error = e as TrtInt8Error;
    }
    expect(error?.code).toBe('ERR_BAD_OPTION');
    expect(error?.actual).toEqual(['head']);
    expect(error?.fixes[0]).toContain('conv1');
  });

  it('accepts a static model without profiles and uses its shapes', async () => {
    const model = OnnxModel.fromBytes(cnn({ fixedBatch: 2 }));
    const result = checkAgainstModel({}, model.inputs(), model.nodes);
    expect(result.dynamic).toBe(false);
    expect(result.calibrationShapes).toEqual({ input: [2, 3, 8, 8] });
  });
});

describe('calibrators reach buildEngine unchanged', () => {
  it('accepts a TypeScript EntropyCalibrator2 subclass as the calibrator option', () => {
    class Calib extends EntropyCalibrator2 {
      getBatch() {
        return null;
      }
    }
    expect(() => checkBuildOptions({ precision: 'int8', calibrator: new Calib() })).not.toThrow();
  });
});
