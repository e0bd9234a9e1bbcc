/**
 * `trt-int8 build` and `trt-int8 inspect` without TensorRT (CI has none): every argument mistake exits 2
 * before any work, the build itself fails with the typed ERR_TENSORRT_NOT_FOUND (exit 1) and writes nothing,
 * and `inspect model.onnx` works fully. The engine-inspector parser is checked on TensorRT's documented layout.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { OnnxModel } from '../../src/onnx/index.js';
import { parseProfiles, parseCalibrationProfile } from '../../src/cli/shapes.js';
import { onnxNodesOf, precisionOf, summarizeEngine } from '../../src/cli/engine-layers.js';
import { FASHION_MODEL, cli, fashionWorkspace } from './helpers.js';

const hasTensorRT = Boolean(process.env.TENSORRT_ROOT);
const PROFILE = 'input:1x1x28x28,8x1x28x28,32x1x28x28';

describe('trt-int8 inspect model.onnx', () => {
  it('lists inputs, outputs, op types and every node name, as a table and as JSON', async () => {
    const model = await OnnxModel.load(FASHION_MODEL);
    const table = await cli(['inspect', FASHION_MODEL]);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/ONNX model, opset \d+, 17 nodes/);
    expect(table.out).toMatch(/^ {2}input {2}float32 {2}\[\?, 1, 28, 28\]$/m);
    expect(table.out).toMatch(/^ {2}logits {2}float32 {2}\[\?, 10\]$/m);
    for (const node of model.nodes) expect(table.out).toMatch(new RegExp(`${node.name.replace(/[/.]/g, '\\$&')}\\s+${node.opType}$`, 'm'));

    const json = await cli(['inspect', FASHION_MODEL, '--json']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.out) as { kind: string; inputs: { name: string; shape: number[] }[]; nodes: { name: string; opType: string }[]; opTypes: Record<string, number> };
    expect(parsed.kind).toBe('onnx');
    expect(parsed.inputs).toEqual([{ name: 'input', dtype: 'float32', shape: [-1, 1, 28, 28] }]);
    expect(parsed.nodes.map((n) => n.name)).toEqual(model.nodes.map((n) => n.name));
    expect(Object.values(parsed.opTypes).reduce((a, b) => a + b, 0)).toBe(model.nodes.length);
    expect(parsed.opTypes.Conv).toBe(model.nodes.filter((n) => n.opType === 'Conv').length);
  });

  it('exits 2 on a missing file or a bad option, 1 on an engine without TensorRT', async () => {
    expect((await cli(['inspect', '/nonexistent/model.onnx'])).code).toBe(2);
    expect((await cli(['inspect'])).code).toBe(2);
    const typo = await cli(['inspect', FASHION_MODEL, '--jsn']);
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/Did you mean --json\?/);
    if (hasTensorRT) return;
    const { dir } = fashionWorkspace(1);
    const engineFile = path.join(dir, 'model.engine');
    fs.writeFileSync(engineFile, new Uint8Array(64));
    const engine = await cli(['inspect', engineFile]);
    expect(engine.code).toBe(1);
    expect(engine.err).toMatch(/ERR_TENSORRT_NOT_FOUND/);
    expect(engine.err).toMatch(/--tensorrt <folder>/);
  });
});

describe('trt-int8 build: argument handling (no TensorRT needed)', () => {
  const { dir, model, data } = fashionWorkspace(8, 'trt-int8-build-cli-');
  const engine = path.join(dir, 'model.engine');

  it('exits 2 with a message naming the mistake, before any work, and writes nothing', async () => {
    const cases: [string[], RegExp][] = [
      [[model], /-o\/--output <file> is required/],
      [[model, '-o', engine, '--fp16', '--int8'], /--fp16 and --int8 conflict.*--best is INT8 plus FP16/],
      [[model, '-o', engine, '--best', '--int8'], /--int8 and --best conflict/],
      [[model, '-o', engine], /dynamic inputs .* --profile input:1x1x28x28,8x1x28x28,32x1x28x28/],
      [[model, '-o', engine, '--profile', 'input:1x1x28x28,8x1x28x28'], /give three shapes MIN,OPT,MAX/],
      [[model, '-o', engine, '--profile', 'input:1x1x28x28,8x1x28x28,4x1x28x28'], /MIN <= OPT <= MAX/],
      [[model, '-o', engine, '--profile', 'input:1x1x28,8x1x28,32x1x28'], /wrong rank/],
      [[model, '-o', engine, '--profile', 'image:1x1x28x28,8x1x28x28,32x1x28x28'], /names input "image", which the model does not have/],
      [[model, '-o', engine, '--profile', 'input:1xAx28x28,8x1x28x28,32x1x28x28'], /"1xAx28x28" is not a shape/],
      [[model, '-o', engine, '--profile', '1x1x28x28'], /--profile needs <input>:<shapes>/],
      [[model, '-o', engine, '--profile', PROFILE, '--int8'], /--int8 needs calibration data: pass --data/],
      [[model, '-o', engine, '--profile', PROFILE, '--data', data], /--data only applies to INT8 builds/],
      [[model, '-o', engine, '--profile', PROFILE, '--exclude', 'Gem'], /no node named "Gem" and no op type "Gem"\. Did you mean "Gemm"\?/],
      [[model, '-o', engine, '--profile', PROFILE, '--opt-level', '7'], /--opt-level needs an integer from 0 to 5/],
      [[model, '-o', engine, '--profile', PROFILE, '--int8', '--data', data, '--int8-route', 'implicit'], /--int8-route must be one of calibrate, cache, qdq, got "implicit"/],
      [[model, '-o', engine, '--profile', PROFILE, '--int8-route', 'cache'], /--int8-route only applies to INT8 builds/],
      [[model, '-o', engine, '--profile', PROFILE, '--workspace', '0'], /--workspace needs a positive integer/],
      [[model, '-o', engine, '--profile', PROFILE, '--int8', '--data', data, '--layer-precisions', 'int8'], /--layer-precisions: "int8" is not <node\|\*>:<int8\|fp16\|fp32>/],
      [[model, '-o', engine, '--profile', PROFILE, '--int8', '--data', data, '--layer-precisions', '*:int4'], /--layer-precisions: "\*:int4" is not/],
      [[model, '-o', engine, '--profile', PROFILE, '--fp16', '--layer-precisions', '*:int8'], /layerPrecisions asks 'int8' of "\*", which precision 'fp16' does not enable/],
      [[model, '-o', engine, '--profile', PROFILE, '--int8', '--data', data, '--layer-precisions', '/nope/Conv:int8'], /layerPrecisions names nodes the model does not have/],
      [[model, '-o', engine, '--profile', PROFILE, '--precision-constraints', 'strict'], /--precision-constraints must be one of prefer, obey, got "strict"/],
      [[model, '-o', engine, '--profile', PROFILE, '--fp16', '--precision-constraints', 'obey'], /precisionConstraints says how TensorRT treats layerPrecisions and exclude, and neither is given/],
      [[model, '-o', model, '--profile', PROFILE], /would overwrite the model/],
      [[model, '-o', path.join(dir, 'missing', 'x.engine'), '--profile', PROFILE], /the folder .*missing does not exist/],
      [[model, '-o', engine, '--profile', PROFILE, '--int8', '--data', path.join(dir, 'none.npy')], /--data .*none\.npy does not exist/],
      [[model, '-o', engine, '--profile', PROFILE, '--int8', '--data', data, '--mean', '0.5'], /--mean only applies to images/],
      [[path.join(dir, 'nope.onnx'), '-o', engine], /model .*nope\.onnx does not exist/],
      [[model, '-o', engine, '--profiel', PROFILE], /Did you mean --profile\?/],
    ];
    for (const [args, message] of cases) {
      const run = await cli(['build', ...args]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.err, args.join(' ')).toMatch(message);
      expect(run.err).toMatch(/Usage: trt-int8 build/);
    }
    expect(fs.existsSync(engine)).toBe(false);
  });

  it.skipIf(hasTensorRT)('fails with ERR_TENSORRT_NOT_FOUND (exit 1) once the arguments are right, and writes no engine', async () => {
    for (const args of [
      [model, '-o', engine, '--profile', PROFILE, '--fp16', '--exclude', 'Gemm,/stem1/conv/Conv'],
      [model, '-o', engine, '--profile', PROFILE, '--int8', '--data', data, '--calibration-profile', 'input:4x1x28x28', '--algorithm', 'minmax'],
      [model, '-o', engine, '--profile', PROFILE, '--best', '--data', data, '--int8-route', 'qdq'],
      [model, '-o', engine, '--profile', PROFILE, '--int8', '--data', data, '--layer-precisions', '*:int8,/fc2/Gemm:fp32', '--precision-constraints', 'obey'],
    ]) {
      const run = await cli(['build', ...args]);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.err).toMatch(/error \[ERR_TENSORRT_NOT_FOUND\]: No TensorRT installation was found/);
      expect(run.err).toMatch(/--tensorrt <folder>/);
    }
    expect(fs.existsSync(engine)).toBe(false);
  });

  it('parses profiles: one per input, a repeated input starts the next profile', () => {
    expect(parseProfiles(['a:1x3,2x3,4x3', 'b:1,1,1', 'a:5x3,6x3,7x3'])).toEqual([
      { a: { min: [1, 3], opt: [2, 3], max: [4, 3] }, b: { min: [1], opt: [1], max: [1] } },
      { a: { min: [5, 3], opt: [6, 3], max: [7, 3] } },
    ]);
    expect(parseProfiles(['ns:x:1x2,1x2,1x2'])).toEqual([{ 'ns:x': { min: [1, 2], opt: [1, 2], max: [1, 2] } }]);
    expect(parseCalibrationProfile(['input:8x1x28x28'])).toEqual({ input: [8, 1, 28, 28] });
    expect(() => parseCalibrationProfile(['input:8x1x28x28', 'input:4x1x28x28'])).toThrow(/twice/);
  });
});

describe('engine inspector JSON (TensorRT layout, parsed defensively)', () => {
  it('reads precision, tactic and ONNX nodes; tolerates missing fields and bare layer names', () => {
    // The field names and value formats are those TensorRT's IEngineInspector prints at kDETAILED
    // (see the TensorRT developer guide, "Engine Inspector"); the values here are made up.
    const info = {
      Layers: [
        {
          Name: '/stem1/conv/Conv + /stem1/Relu',
          LayerType: 'CaskConvolution',
          Inputs: [{ Name: 'input', 'Format/Datatype': 'Row major linear FP32' }],
          Outputs: [{ Name: '/stem1/Relu_output_0', 'Format/Datatype': 'Thirty-two wide channel vectorized row major Int8 format' }],
          TacticName: 'sm90_xmma_fprop_implicit_gemm_i8i8',
          TacticValue: '0x11bde0e1d9f2f35d',
          Metadata: '[ONNX Layer: /stem1/conv/Conv]\x1e[ONNX Layer: /stem1/Relu]',
        },
        { Name: '/fc2/Gemm', LayerType: 'CaskGemm', Outputs: [{ 'Format/Datatype': 'Channel major FP16 format where channel % 2 == 0' }], TacticValue: '0x0000000000000001' },
        'Reformatting CopyNode for Input Tensor 0',
        { Name: 42, Inputs: 'not a list' },
      ],
    };
    const summary = summarizeEngine(JSON.stringify(info), 'm.engine');
    expect(summary.layers.map((l) => l.precision)).toEqual(['INT8', 'FP16', undefined, undefined]);
    expect(summary.layers[0]!.onnxNodes).toEqual(['/stem1/conv/Conv', '/stem1/Relu']);
    expect(summary.layers[0]!.inputPrecisions).toEqual(['FP32']);
    expect(summary.layers[0]!.tactic).toBe('sm90_xmma_fprop_implicit_gemm_i8i8');
    expect(summary.layers[1]!.tactic).toBe('0x0000000000000001');
    expect(summary.layers[2]!.name).toBe('Reformatting CopyNode for Input Tensor 0');
    expect(summary.layers[3]!.name).toBe('#3');
    expect(summary.precisions).toEqual({ INT8: 1, FP16: 1, unknown: 2 });
    expect(summarizeEngine({}, 'x').layers).toEqual([]);
    expect(precisionOf('Row major linear Half format')).toBe('FP16');
    expect(precisionOf(undefined)).toBeUndefined();
    expect(onnxNodesOf('plain')).toEqual(['plain']);
  });
});
