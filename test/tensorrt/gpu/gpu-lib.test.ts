/**
 * The CPU-testable parts of the GPU scripts: counting INT8/FP16/FP32 layers from TensorRT's inspector JSON, and
 * the row runner (independent rows, subsets). The layer sample is the kDETAILED example of the TensorRT
 * Developer Guide (IEngineInspector section) plus the FP16 / FP32 format strings TensorRT prints.
 */
import { describe, expect, it } from 'vitest';
import { countLayerPrecisions, layerPrecision } from './lib/layers.js';
import { formatTable, runRows, selectRows, type Row } from './lib/rows.js';
import { agreement, quantile, ratio } from './lib/stats.js';
import { computingLayers, fasterInFp16, layerNodeNames, type ProfiledLayers } from './lib/profiles.js';
import { DEFAULT_PATHS } from './lib/paths.js';
import { OnnxModel } from '../../../src/index.js';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { caught } from '../../caught.js';

const INT8_CONV = {
  Name: 'node_of_gpu_0/res4_0_branch2a_1 + node_of_gpu_0/res4_0_branch2a_bn_1 + node_of_gpu_0/res4_0_branch2a_bn_2',
  LayerType: 'CaskConvolution',
  Inputs: [{ Name: 'gpu_0/res3_3_branch2c_bn_3', Dimensions: [16, 512, 28, 28], 'Format/Datatype': 'Thirty-two wide channel vectorized row major Int8 format.' }],
  Outputs: [{ Name: 'gpu_0/res4_0_branch2a_bn_2', Dimensions: [16, 256, 28, 28], 'Format/Datatype': 'Thirty-two wide channel vectorized row major Int8 format.' }],
  ParameterType: 'Convolution',
  Weights: { Type: 'Int8', Count: 131072 },
  Bias: { Type: 'Float', Count: 256 },
};
const FP16_CONV = {
  Name: '/stem1/conv/Conv + /stem1/Relu',
  LayerType: 'CaskConvolution',
  Inputs: [{ Name: 'input', 'Format/Datatype': 'Channel major FP16 format where channel % 8 == 0' }],
  Outputs: [{ Name: 'x', 'Format/Datatype': 'Channel major FP16 format where channel % 8 == 0' }],
  Weights: { Type: 'Half', Count: 288 },
};
const FP32_GEMM = {
  Name: '/fc2/Gemm',
  LayerType: 'CaskGemmMatrixMultiply',
  Inputs: [{ Name: 'h', 'Format/Datatype': 'Row major linear FP32' }],
  Outputs: [{ Name: 'logits', 'Format/Datatype': 'Row major linear FP32' }],
  Weights: { Type: 'Float', Count: 1280 },
};
const REFORMAT_TO_FP32 = {
  Name: 'Reformatting CopyNode for Output Tensor 0 to /res/b/conv/Conv',
  LayerType: 'Reformat',
  Inputs: [{ Name: 'a', 'Format/Datatype': 'Thirty-two wide channel vectorized row major Int8 format' }],
  Outputs: [{ Name: 'b', 'Format/Datatype': 'Row major linear FP32' }],
};

describe('layer precisions from the engine inspector', () => {
  it('reads INT8 from the weights or inputs, FP16 from half formats, FP32 from float formats', () => {
    expect(layerPrecision(INT8_CONV)).toBe('int8');
    expect(layerPrecision(FP16_CONV)).toBe('fp16');
    expect(layerPrecision(FP32_GEMM)).toBe('fp32');
    expect(layerPrecision({ Name: 'shape', Inputs: [{ 'Format/Datatype': 'Row major linear Int32' }] })).toBe('other');
  });

  it('counts every layer once, reformats apart, names the INT8 ones, and never calls a names-only listing FP32', () => {
    const counts = countLayerPrecisions({ Layers: [INT8_CONV, FP16_CONV, FP32_GEMM, REFORMAT_TO_FP32] });
    expect(counts).toMatchObject({ int8: 1, fp16: 1, fp32: 1, other: 0, reformats: 1, total: 4 });
    expect(counts.int8Layers).toEqual([INT8_CONV.Name]);
    // kLAYER_NAMES_ONLY: strings, no types.
    expect(countLayerPrecisions({ Layers: ['conv1', 'fc'] })).toMatchObject({ int8: 0, fp32: 0, other: 2, total: 2 });
  });
});

describe('rows', () => {
  const rows: Row<{ log: string[] }>[] = [
    { name: 'ok', what: 'passes', run: async (ctx) => (ctx.log.push('ok'), { pass: true, reason: 'fine' }) },
    { name: 'boom', what: 'throws', run: async () => { throw new Error('kaput'); } },
    { name: 'after', what: 'runs after a failure', run: async (ctx) => (ctx.log.push('after'), { pass: false, reason: 'checked and failed' }) },
  ];

  it('runs every row whatever the others did, and records the thrown error as the reason', async () => {
    const ctx = { log: [] as string[] };
    const results = await runRows(rows, ctx, () => {});
    expect(ctx.log).toEqual(['ok', 'after']);
    expect(results.map((r) => [r.name, r.pass])).toEqual([['ok', true], ['boom', false], ['after', false]]);
    expect(results[1]!.reason).toContain('kaput');
    expect(formatTable(results)).toContain('1 of 3 rows passed');
  });

  it('selects a subset in suite order and refuses unknown names with ERR_BAD_OPTION', () => {
    expect(selectRows(rows, ['after', 'ok']).map((r) => r.name)).toEqual(['ok', 'after']);
    expect(selectRows(rows, []).length).toBe(3);
    const error = caught(() => selectRows(rows, ['ok', 'nope']));
    expect(error.code).toBe('ERR_BAD_OPTION');
    expect(error.input).toBe('--only');
    expect(String(error.actual)).toContain('nope');
  });
});

describe('stats', () => {
  it('quantiles by nearest rank, ratios only of two real numbers, agreement of predictions', () => {
    expect(quantile([5, 1, 4, 2, 3], 0.5)).toBe(3);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBe(10);
    expect(ratio(2, 4)).toBe(0.5);
    expect(ratio(undefined, 4)).toBeNull();
    expect(ratio(2, 0)).toBeNull();
    expect(agreement([1, 2, 3, 4], [1, 2, 0, 4])).toBe(0.75);
  });
});

/** The sixth H200 lease's detector profiles (docs/gpu-results/2026-11-30-h200-trt10.6-run6/), as the bench wrote them. */
function run6Profiles(): Record<string, ProfiledLayers> {
  const file = path.resolve('docs/gpu-results/2026-11-30-h200-trt10.6-run6/qdq-speed-ppocr-faster.json.gz');
  const saved = JSON.parse(zlib.gunzipSync(fs.readFileSync(file)).toString('utf8')) as { models: { variants: { variant: string; profile: ProfiledLayers }[] }[] };
  return Object.fromEntries(saved.models[0]!.variants.map((v) => [v.variant, v.profile]));
}

describe('per-layer choices from two profiles (lib/profiles.ts), on the H200 profiles of the PP-OCRv4 detector', () => {
  const profiles = run6Profiles();

  it('keeps in float the layers faster in FP16: the 12 the GPU run printed', async () => {
    const model = await OnnxModel.load(DEFAULT_PATHS.ocrModel());
    const chosen = fasterInFp16(model, profiles.fp16!, profiles['qdq-placed']!);
    // From the run's own log (qdq-speed-ppocr-faster.log), made by the code before its node-name matching was narrowed.
    expect([...chosen]).toEqual(['p2o.Conv.2', 'p2o.Conv.4', 'p2o.Conv.6', 'p2o.Conv.8', 'p2o.Conv.14', 'p2o.Conv.16', 'p2o.Conv.18', 'p2o.Conv.20', 'p2o.Conv.28', 'p2o.Conv.30', 'p2o.Conv.32', 'p2o.ConvTranspose.0']);
  });

  it('matches layers by ONNX node names only: not weights, unnamed nodes or TensorRT\'s per-build ONNXTRT_Broadcast_N', async () => {
    const model = await OnnxModel.load(DEFAULT_PATHS.ocrModel());
    const nodes = new Set(model.nodes.map((n) => n.name));
    expect(nodes.has('')).toBe(true); // the detector has unnamed nodes
    const fused = computingLayers(profiles['qdq-placed']!).find((l) => layerNodeNames(l.name, nodes).includes('p2o.Conv.6'))!;
    const names = layerNodeNames(fused.name, nodes);
    expect(names[0]).toBe('p2o.Conv.6');
    expect(names).toEqual(expect.arrayContaining(['p2o.Add.40', 'p2o.Clip.8', 'p2o.Div.4', 'p2o.Mul.30', 'p2o.Add.42']));
    expect(names.some((n) => n === '' || n.startsWith('ONNXTRT_') || n.includes('.w_0'))).toBe(false);
    // In another engine of the same model the same node sits in one layer only (the FP16 engine fused it differently).
    const inFp16 = computingLayers(profiles.fp16!).filter((l) => layerNodeNames(l.name, nodes).some((n) => names.includes(n)));
    expect(inFp16.map((l) => l.name.split(' + ')[0])).toEqual(['p2o.Conv.6']);
  });
});
