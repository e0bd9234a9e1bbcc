/** Log routing, and the calibration-cache checks and conversion (10.x cache -> Q/DQ for 11.x). */
import { describe, expect, it } from 'vitest';
import { OnnxModel, TrtInt8Error, formatCalibrationCache } from '../../src/index.js';
import { checkCacheForTensorRT, qdqModelFromCache } from '../../src/tensorrt/build.js';
import { logSeverityMask, maxLogSeverity, parseProgressLine, routeLogLine, PROGRESS_PREFIX } from '../../src/tensorrt/log.js';
import { cnn } from './models.js';

describe('log routing', () => {
  it('routes each ILogger severity to its logger method', () => {
    const seen: string[] = [];
    const logger = {
      error: (m: string) => seen.push(`E ${m}`),
      warning: (m: string) => seen.push(`W ${m}`),
      info: (m: string) => seen.push(`I ${m}`),
    };
    for (const [severity, message] of [[0, 'internal'], [1, 'bad'], [2, 'careful'], [3, 'fyi'], [4, 'chatter']] as const) {
      routeLogLine({ severity, message }, logger, undefined);
    }
    expect(seen).toEqual(['E internal', 'E bad', 'W careful', 'I fyi']);
  });

  it('asks TensorRT only for the severities someone listens to', () => {
    expect(maxLogSeverity(undefined)).toBe(1);
    expect(maxLogSeverity({ warning: () => {} })).toBe(2);
    expect(maxLogSeverity({ error: () => {}, verbose: () => {} })).toBe(4);
  });

  it('forwards from C++ only the severities the logger has a method for, and errors always', () => {
    expect(logSeverityMask(undefined)).toBe(0b00011);
    expect(logSeverityMask({ warning: () => {} })).toBe(0b00111);
    // error + verbose: warnings and info are dropped in C++, not forwarded and thrown away in JS.
    expect(logSeverityMask({ error: () => {}, verbose: () => {} })).toBe(0b10011);
    expect(logSeverityMask({ error: () => {}, warning: () => {}, info: () => {}, verbose: () => {} })).toBe(0b11111);
  });

  it('turns progress lines into onProgress events, never logger lines', () => {
    const events: unknown[] = [];
    const lines: string[] = [];
    const line = `${PROGRESS_PREFIX}{"event":"start","phase":"Building engine","parent":"Top \\"level\\"","n":7}`;
    routeLogLine({ severity: 3, message: line }, { info: (m) => lines.push(m) }, (p) => events.push(p));
    expect(events).toEqual([{ event: 'start', phase: 'Building engine', parent: 'Top "level"', n: 7 }]);
    expect(lines).toEqual([]);
    expect(parseProgressLine(`${PROGRESS_PREFIX}{not json`)).toBeUndefined();
    expect(parseProgressLine('[TRT] plain line')).toBeUndefined();
  });

  it('a throwing handler does not escape', () => {
    expect(() => routeLogLine({ severity: 1, message: 'x' }, { error: () => { throw new Error('boom'); } }, undefined)).not.toThrow();
  });
});

describe('calibration cache vs the TensorRT that reads it', () => {
  const scales = new Map([['input', 0.02], ['relu1_out', 0.05]]);
  const cache = (version: string, algorithm: string) => formatCalibrationCache({ version, algorithm, scales });

  it('accepts a cache of the same version and algorithm', () => {
    expect(() => checkCacheForTensorRT(cache('10.16.1', 'entropy2'), { major: 10, minor: 16, patch: 1 }, 'entropy2')).not.toThrow();
  });

  it('another TensorRT version: ERR_CACHE_MISMATCH instead of a silent recalibration', () => {
    let error: unknown;
    try {
      checkCacheForTensorRT(cache('10.3.0', 'entropy2'), { major: 10, minor: 16, patch: 1 }, 'entropy2');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TrtInt8Error);
    expect((error as TrtInt8Error).code).toBe('ERR_CACHE_MISMATCH');
    expect(String((error as TrtInt8Error).expected)).toContain('10.16.1');
  });

  it('another algorithm: ERR_CACHE_MISMATCH', () => {
    expect(() => checkCacheForTensorRT(cache('10.16.1', 'minmax'), { major: 10, minor: 16, patch: 1 }, 'entropy2')).toThrow(/another calibration algorithm/);
  });

  it('garbage: ERR_CACHE_FORMAT', () => {
    let error: unknown;
    try {
      checkCacheForTensorRT('not a cache', { major: 10, minor: 16, patch: 1 }, 'entropy2');
    } catch (e) {
      error = e;
    }
    expect((error as TrtInt8Error).code).toBe('ERR_CACHE_FORMAT');
  });
});

describe('a 10.x calibration cache converted to Q/DQ for an 11.x build', () => {
  it('puts a QuantizeLinear with the cached scale in front of the calibrated activations', () => {
    const model = OnnxModel.fromBytes(cnn());
    const scales = new Map([['input', 0.0125], ['conv1_out', 0.04], ['relu1_out', 0.03], ['flat', 0.03], ['logits', 0.2]]);
    const text = formatCalibrationCache({ version: '10.16.1', algorithm: 'entropy2', scales });
    const qdq = OnnxModel.fromBytes(qdqModelFromCache(model, text));
    const quantize = qdq.nodes.filter((n) => n.opType === 'QuantizeLinear');
    const byTensor = new Map(quantize.map((n) => [n.inputs[0]!, n]));
    // The Conv reads `input`, the Gemm reads `flat`: those are the activations TensorRT quantizes.
    for (const tensor of ['input', 'flat']) {
      const node = byTensor.get(tensor);
      expect(node, tensor).toBeDefined();
      const scale = qdq.tensorWeights(node!.inputs[1]!);
      // amax = scale * 127 in, scale = amax / 127 out: the cache's scale survives (to float32 precision).
      expect(scale[0]).toBeCloseTo(scales.get(tensor)!, 7);
    }
    // Weights are quantized too (per output channel), so TensorRT runs the Conv and Gemm in INT8.
    expect(quantize.some((n) => n.inputs[0] === 'conv1.weight')).toBe(true);
  });

  it('an exclusion leaves the excluded node without Q/DQ', () => {
    const model = OnnxModel.fromBytes(cnn());
    const scales = new Map([['input', 0.0125], ['flat', 0.03]]);
    const text = formatCalibrationCache({ version: '10.16.1', algorithm: 'entropy2', scales });
    const qdq = OnnxModel.fromBytes(qdqModelFromCache(model, text, { names: ['fc'], opTypes: [] }));
    const quantized = qdq.nodes.filter((n) => n.opType === 'QuantizeLinear').map((n) => n.inputs[0]);
    expect(quantized).toContain('input');
    expect(quantized).not.toContain('flat');
  });
});
