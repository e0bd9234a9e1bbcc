/**
 * engine.layerPrecisions() reads IEngineInspector's JSON. The samples below follow TensorRT's format as its
 * documentation and NVIDIA's trt-engine-explorer show it ("Layers"[i]."Inputs"[j]."Format/Datatype"), in the
 * wordings of the releases we support: 8.x/10.0-10.8 prose ("Thirty-two wide channel vectorized row major Int8
 * format."), 10.9+ short names ("Int8", "Float"), the names-only form of kLAYER_NAMES_ONLY, and
 * "N/A due to dynamic shapes" when no execution context was attached.
 */
import { describe, expect, it } from 'vitest';
import { summarizeLayerPrecisions } from '../../src/index.js';
import { noInt8Warning, precisionOfFormat } from '../../src/tensorrt/layer-precisions.js';

const tensor = (name: string, format: string, dims: number[] = [1, 32, 14, 14]) => ({ Name: name, Location: 'Device', Dimensions: dims, 'Format/Datatype': format });

/** A small CNN built INT8 on 10.x: input reformat, two INT8 convolutions, a pooling, an FP32 classifier. */
const int8Engine = {
  Layers: [
    {
      Name: 'Reformatting CopyNode for Input Tensor 0 to /stem1/conv/Conv + /stem1/Relu',
      LayerType: 'Reformat',
      Inputs: [tensor('input', 'Row major linear FP32 format', [1, 1, 28, 28])],
      Outputs: [tensor('Reformatted Input Tensor 0 to /stem1/conv/Conv + /stem1/Relu', 'Four wide channel vectorized row major Int8 format', [1, 1, 28, 28])],
      ParameterType: 'Reformat',
      Origin: 'REFORMAT',
      TacticValue: '0x0000000000000000',
    },
    {
      Name: '/stem1/conv/Conv + /stem1/Relu',
      LayerType: 'CaskConvolution',
      Inputs: [tensor('Reformatted Input Tensor 0 to /stem1/conv/Conv + /stem1/Relu', 'Four wide channel vectorized row major Int8 format')],
      Outputs: [tensor('/stem1/Relu_output_0', 'Thirty-two wide channel vectorized row major Int8 format.')],
      ParameterType: 'Convolution',
      TacticName: 'sm90_xmma_fprop_implicit_gemm_interleaved_i8i8_i8i32_f32_nchw_vect_c_4kcrs_vect_c_4_nchw_vect_c_32_tilesize64x32x64_stage4_warpsize2x1x1_g1_tensor16x8x32',
      TacticValue: '0x16bd29bfa2b8e59d',
    },
    {
      Name: '/stem2/conv/Conv + /stem2/Relu',
      LayerType: 'CaskConvolution',
      Inputs: [tensor('/stem1/Relu_output_0', 'Thirty-two wide channel vectorized row major Int8 format.')],
      Outputs: [tensor('/stem2/Relu_output_0', 'Thirty-two wide channel vectorized row major Int8 format.')],
      TacticName: 'sm90_xmma_fprop_implicit_gemm_interleaved_i8i8_i8i32_f32_nchw_vect_c_32kcrs_vect_c_32_nchw_vect_c_32',
    },
    {
      Name: '/MaxPool',
      LayerType: 'CaskPooling',
      Inputs: [tensor('/stem2/Relu_output_0', 'Thirty-two wide channel vectorized row major Int8 format.')],
      Outputs: [tensor('/MaxPool_output_0', 'Thirty-two wide channel vectorized row major Int8 format.')],
    },
    {
      Name: 'Reformatting CopyNode for Input Tensor 0 to /fc1/Gemm',
      LayerType: 'Reformat',
      Inputs: [tensor('/MaxPool_output_0', 'Thirty-two wide channel vectorized row major Int8 format.')],
      Outputs: [tensor('/MaxPool_output_0 copy', 'Row major linear FP32 format')],
    },
    {
      Name: '/fc1/Gemm + /Relu',
      LayerType: 'CaskGemmMatrixMultiply',
      Inputs: [tensor('/MaxPool_output_0 copy', 'Row major linear FP32 format', [1, 1568])],
      Outputs: [tensor('/Relu_output_0', 'Row major linear FP32 format', [1, 128])],
    },
    {
      Name: '/fc2/Gemm',
      LayerType: 'CaskGemmMatrixMultiply',
      Inputs: [tensor('/Relu_output_0', 'Channel major FP16 format where channel % 8 == 0', [1, 128])],
      Outputs: [tensor('logits', 'Row major linear FP32 format', [1, 10])],
    },
  ],
  Bindings: ['input', 'logits'],
};

describe('summarizeLayerPrecisions', () => {
  it('counts compute layers by the type of their first input and keeps reformats apart', () => {
    const summary = summarizeLayerPrecisions(int8Engine);
    expect({ ...summary, layers: undefined }).toEqual({ total: 5, int8: 3, fp16: 1, fp32: 1, other: 0, unknown: 0, reformats: 2, layers: undefined });
    expect(summary.layers.map((l) => [l.name, l.precision])).toEqual([
      ['Reformatting CopyNode for Input Tensor 0 to /stem1/conv/Conv + /stem1/Relu', 'fp32'],
      ['/stem1/conv/Conv + /stem1/Relu', 'int8'],
      ['/stem2/conv/Conv + /stem2/Relu', 'int8'],
      ['/MaxPool', 'int8'],
      ['Reformatting CopyNode for Input Tensor 0 to /fc1/Gemm', 'int8'],
      ['/fc1/Gemm + /Relu', 'fp32'],
      ['/fc2/Gemm', 'fp16'],
    ]);
    expect(summary.layers[1]!.tactic).toMatch(/^sm90_xmma_fprop_implicit_gemm_interleaved_i8i8/);
    expect(summary.layers[0]!.tactic).toBe('0x0000000000000000');
    expect(summary.layers[1]!.outputFormats).toEqual(['Thirty-two wide channel vectorized row major Int8 format.']);
  });

  it("reads 10.9+'s short data type names and a constant layer by its output", () => {
    const summary = summarizeLayerPrecisions({
      Layers: [
        { Name: 'conv', LayerType: 'CaskConvolution', Inputs: [tensor('x', 'Int8')], Outputs: [tensor('y', 'Int8')] },
        { Name: 'weights', LayerType: 'Constant', Inputs: [], Outputs: [tensor('w', 'Half')] },
        { Name: 'head', LayerType: 'CaskGemmMatrixMultiply', Inputs: [tensor('y', 'Float')], Outputs: [tensor('z', 'Float')] },
        { Name: 'shape', LayerType: 'Shape', Inputs: [tensor('z', 'Int32')], Outputs: [tensor('s', 'Int64')] },
      ],
    });
    expect(summary.layers.map((l) => l.precision)).toEqual(['int8', 'fp16', 'fp32', 'int32']);
    expect(summary).toMatchObject({ total: 4, int8: 1, fp16: 1, fp32: 1, other: 1, reformats: 0 });
  });

  it('reports layers as unknown where the inspector gives no data type', () => {
    const namesOnly = summarizeLayerPrecisions({ Layers: ['/stem1/conv/Conv + /stem1/Relu', '/fc2/Gemm'], Bindings: ['input', 'logits'] });
    expect(namesOnly).toMatchObject({ total: 2, unknown: 2, int8: 0, fp32: 0 });
    expect(namesOnly.layers[0]).toEqual({ name: '/stem1/conv/Conv + /stem1/Relu', type: '', precision: 'unknown', inputFormats: [], outputFormats: [] });
    const dynamic = summarizeLayerPrecisions({ Layers: [{ Name: 'conv', LayerType: 'CaskConvolution', Inputs: [tensor('x', 'N/A due to dynamic shapes')] }] });
    expect(dynamic.layers[0]!.precision).toBe('unknown');
    expect(summarizeLayerPrecisions({})).toMatchObject({ total: 0, layers: [] });
    expect(summarizeLayerPrecisions(null)).toMatchObject({ total: 0, layers: [] });
  });

  it('tells INT8 from INT32/INT64 and FP16 from BF16', () => {
    expect(precisionOfFormat('Row major linear INT32 format')).toBe('int32');
    expect(precisionOfFormat('Row major linear Int64')).toBe('int64');
    expect(precisionOfFormat('Row major linear BF16 format')).toBe('bf16');
    expect(precisionOfFormat('Row major linear FP8 format')).toBe('fp8');
    expect(precisionOfFormat('Two wide channel vectorized row major FP16 format')).toBe('fp16');
    expect(precisionOfFormat(undefined)).toBe('unknown');
  });
});

describe('the INT8 build warning', () => {
  it('is given when no compute layer runs in INT8, and names the counts', () => {
    const fp32Only = summarizeLayerPrecisions({
      Layers: int8Engine.Layers.map((l) => ({ ...l, Inputs: l.Inputs.map((t) => ({ ...t, 'Format/Datatype': 'Row major linear FP32 format' })) })),
    });
    const warning = noInt8Warning(fp32Only, 'int8');
    expect(warning).toContain("precision 'int8'");
    expect(warning).toContain('5 FP32, 0 FP16, 0 other of 5 layers');
  });

  it('is not given when a layer runs in INT8, or when the inspector gives no types', () => {
    expect(noInt8Warning(summarizeLayerPrecisions(int8Engine), 'int8')).toBeUndefined();
    expect(noInt8Warning(summarizeLayerPrecisions({ Layers: ['a', 'b'] }), 'best')).toBeUndefined();
  });
});
