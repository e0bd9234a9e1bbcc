import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { OnnxModel, convertToFp16, insertQdq, planQuantization, onnxProto as onnx, type PlanOptions } from '../../src/index.js';
import { float16ToFloat32 } from '../../src/onnx/codec.js';
import { float16Bits as float32ToFloat16Bits } from '../../src/core/tensor.js';
import { argmaxRows, buildModel, calibrateAmax, cosine, initializer, node, readImages, runModel, valueInfo } from './helpers.js';
import { residual16Model, sideOutputModel, smallResNetModel } from './models.js';

const repoRoot = path.resolve(__dirname, '../..');
const F16 = onnx.TensorProto.DataType.FLOAT16;

function nodeNamed(model: OnnxModel, name: string) {
  const found = model.nodes.find((n) => n.name === name);
  if (!found) throw new Error(`no node ${name}`);
  return found;
}

describe('float32ToFloat16Bits', () => {
  it('round-trips every finite float16 value and rounds half to even', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue; // NaN payloads
      expect(float32ToFloat16Bits(float16ToFloat32(h))).toBe(h);
    }
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and 1 + 2^-10: to the even one, 1
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway, odd below: up
    expect(float32ToFloat16Bits(2 ** -25)).toBe(0); // half the smallest subnormal: to even, 0
    expect(float32ToFloat16Bits(1.5 * 2 ** -25)).toBe(1);
    expect(float32ToFloat16Bits(70000)).toBe(0x7c00);
    expect(float32ToFloat16Bits(-Infinity)).toBe(0xfc00);
    expect(Number.isNaN(float16ToFloat32(float32ToFloat16Bits(NaN)))).toBe(true);
  });
});

describe('convertToFp16', () => {
  it("residual block Q/DQ ('tensorrt'): the INT8 region stays float32, the tail after the Add runs in FP16, I/O types kept", async () => {
    const test = residual16Model();
    const model = OnnxModel.fromBytes(test.bytes);
    const options: PlanOptions = { placement: 'tensorrt' };
    const amax = await calibrateAmax(model, planQuantization(model, options), [test.feeds(8, 1)]);
    const qdq = insertQdq(model, { ...options, amax });
    const { model: fp16, fp16Nodes } = convertToFp16(qdq);
    expect(fp16Nodes.map((n) => n.name)).toEqual(['relu_out', 'gap']);
    const types = fp16.elemTypes();
    expect(types.get('block_out')).toBe('float16');
    for (const tensor of ['c1', 'r1', 'c2', 'sum']) expect(types.get(tensor)).toBe('float32');
    // Scales stay float32; the Add's output is cast once, the output cast back under its own name.
    for (const q of fp16.nodes.filter((n) => n.opType === 'QuantizeLinear')) expect(fp16.constantTensor(q.inputs[1]!)!.dtype).toBe('float32');
    expect(nodeNamed(fp16, 'relu_out').inputs).toEqual(['sum_fp16']);
    expect(fp16.outputs()).toEqual(qdq.outputs());
    expect(fp16.inputs()).toEqual(qdq.inputs());
    expect(fp16.producers().get('pooled')!.opType).toBe('Cast');
    expect(types.get(fp16.producers().get('pooled')!.inputs[0]!)).toBe('float16');
    const feeds = test.feeds(4, 9);
    const reference = (await runModel(qdq.toBytes(), feeds)).get('pooled')!;
    const converted = (await runModel(fp16.toBytes(), feeds)).get('pooled')!;
    expect(converted).toBeInstanceOf(Float32Array);
    // (onnxruntime's CPU provider computes these FP16 nodes in float32 between its own casts, so no FP16 rounding shows here.)
    expect(cosine(reference, converted)).toBeGreaterThan(0.9999);
  });

  it("small ResNet Q/DQ ('tensorrt'): stem to head in INT8 regions, nothing cast; with the head excluded the float tail runs in FP16", async () => {
    const test = smallResNetModel();
    const model = OnnxModel.fromBytes(test.bytes);
    const feeds = test.feeds(4, 9);
    for (const [exclude, expected] of [
      // Every node reads a DQ or lies between a DQ and a Q, but the Flatten after the head (a 1x1 Conv: pooled-gemm.ts),
      // which only moves the INT8 layer's float output: left in float32, nothing cast.
      [undefined, []],
      // fc in float: the pooled head no longer reads a pair, so the block's last Relu, the pooling, Flatten and fc go FP16.
      [{ names: ['fc'] }, ['relu_out', 'gap', 'flatten', 'fc']],
    ] as const) {
      const options: PlanOptions = { placement: 'tensorrt', ...(exclude ? { exclude } : {}) };
      const amax = await calibrateAmax(model, planQuantization(model, options), [test.feeds(8, 1)]);
      const qdq = insertQdq(model, { ...options, amax });
      const { model: fp16, fp16Nodes } = convertToFp16(qdq);
      expect(fp16Nodes.map((n) => n.name)).toEqual(expected);
      expect(fp16.nodes.filter((n) => n.opType === 'Cast').length).toBe(expected.length === 0 ? 0 : 2); // in and back out
      expect(fp16.inputs()).toEqual(qdq.inputs());
      expect(fp16.outputs()).toEqual(qdq.outputs());
      const reference = (await runModel(qdq.toBytes(), feeds)).get('logits')!;
      const converted = (await runModel(fp16.toBytes(), feeds)).get('logits')!;
      expect(converted).toBeInstanceOf(Float32Array);
      expect(cosine(reference, converted)).toBeGreaterThan(0.999);
    }
  });

  it('keeps shape computations and Resize scales in float32, converts float constants read in FP16, clamps to ±65504', async () => {
    // x -> Mul(big) -> Mul(small) -> Resize(scales) -> r ; Shape(x) -> Cast(float) -> Mul(2) -> Cast(int64) -> Resize sizes
    const bytes = buildModel({
      inputs: [valueInfo('x', ['batch', 2, 3, 3])],
      outputs: [valueInfo('up', ['batch', 2, 6, 6]), valueInfo('sized', undefined)],
      nodes: [
        node('Mul', ['x', 'big'], ['xb'], {}, 'mul_big'),
        node('Mul', ['xb', 'small'], ['xs'], {}, 'mul_small'),
        node('Resize', ['xs', '', 'scales'], ['up'], {}, 'resize_scales'),
        node('Shape', ['x'], ['shape'], {}, 'shape'),
        node('Cast', ['shape'], ['shape_f'], { to: onnx.TensorProto.DataType.FLOAT }, 'shape_to_float'),
        node('Mul', ['shape_f', 'factors'], ['sizes_f'], {}, 'mul_sizes'),
        node('Cast', ['sizes_f'], ['sizes'], { to: onnx.TensorProto.DataType.INT64 }, 'sizes_to_int'),
        node('Resize', ['x', '', '', 'sizes'], ['sized'], {}, 'resize_sizes'),
      ],
      initializers: [
        initializer('big', [1], Float32Array.of(1e5)),
        initializer('small', [1], Float32Array.of(1e-5)),
        initializer('scales', [4], Float32Array.of(1, 1, 2, 2)),
        initializer('factors', [4], Float32Array.of(1, 1, 2, 2)),
      ],
    });
    const model = OnnxModel.fromBytes(bytes);
    const { model: fp16, fp16Nodes, clampedValues } = convertToFp16(model);
    expect(fp16Nodes.map((n) => n.name)).toEqual(['mul_big', 'mul_small', 'resize_scales', 'resize_sizes']);
    expect(clampedValues).toBe(1);
    expect([...fp16.tensorWeights('big')]).toEqual([65504]);
    expect(fp16.constantTensor('big')!.dtype).toBe('float16');
    expect(fp16.constantTensor('small')!.dtype).toBe('float16');
    expect(fp16.constantTensor('scales')!.dtype).toBe('float32');
    expect(fp16.constantTensor('factors')!.dtype).toBe('float32');
    expect(fp16.elemTypes().get('sizes_f')).toBe('float32');
    expect(fp16.outputs().map((o) => o.dtype)).toEqual(['float32', 'float32']);
    const x = Float32Array.from({ length: 36 }, (_, i) => (i - 18) / 7);
    const reference = await runModel(bytes, { x: { data: x, dims: [2, 2, 3, 3] } });
    const converted = await runModel(fp16.toBytes(), { x: { data: x, dims: [2, 2, 3, 3] } });
    expect(converted.get('sized')!.length).toBe(2 * 2 * 6 * 6);
    expect(cosine(reference.get('sized')!, converted.get('sized')!)).toBeGreaterThan(0.99999);
    // 1e5 became 65504: the clamping shows in the output (0.655 x instead of x), and nothing overflowed to Infinity.
    const up = converted.get('up')!;
    expect(up.every(Number.isFinite)).toBe(true);
    const ratio = up[0]! / reference.get('up')![0]!;
    expect(ratio).toBeCloseTo(0.65504, 2);
  });

  it('a graph output that other nodes also read: renamed in FP16 for them, cast back to float32 under its own name', async () => {
    const test = sideOutputModel(); // conv1 -> relu (features: an output, read by conv2) -> conv2 -> out
    const model = OnnxModel.fromBytes(test.bytes);
    const { model: fp16 } = convertToFp16(model, { keepFloat32: { names: ['conv2'] } });
    const producers = fp16.producers();
    expect(producers.get('features')!.opType).toBe('Cast');
    const renamed = producers.get('features')!.inputs[0]!;
    expect(fp16.elemTypes().get(renamed)).toBe('float16');
    // conv2 stays float32: it reads the FP16 tensor through a Cast of its own, placed before it.
    const conv2Input = nodeNamed(fp16, 'conv2').inputs[0]!;
    expect(producers.get(conv2Input)!).toMatchObject({ opType: 'Cast', inputs: [renamed] });
    expect(fp16.outputs()).toEqual(model.outputs());
    const feeds = test.feeds(2, 4);
    const reference = await runModel(test.bytes, feeds);
    const converted = await runModel(fp16.toBytes(), feeds);
    for (const name of ['features', 'out']) expect(cosine(reference.get(name)!, converted.get(name)!)).toBeGreaterThan(0.9999);
  });

  it('keepFloat32 keeps named nodes in float32', () => {
    const model = OnnxModel.fromBytes(residual16Model().bytes);
    const all = convertToFp16(model).fp16Nodes.map((n) => n.name);
    expect(all).toEqual(['conv1', 'relu1', 'conv2', 'residual_add', 'relu_out', 'gap']);
    const kept = convertToFp16(model, { keepFloat32: { names: ['conv1'], opTypes: ['GlobalAveragePool'] } });
    expect(kept.fp16Nodes.map((n) => n.name)).toEqual(['relu1', 'conv2', 'residual_add', 'relu_out']);
    expect(kept.model.constantTensor('conv1.weight')!.dtype).toBe('float32');
    expect(kept.model.constantTensor('conv2.weight')!.dtype).toBe('float16');
  });

  const modelFile = path.join(repoRoot, 'examples/fashion-mnist/model.onnx');
  const dataDir = path.join(repoRoot, 'examples/fashion-mnist/data');
  const present = fs.existsSync(modelFile) && fs.existsSync(path.join(dataDir, 't10k-images-idx3-ubyte.gz'));
  for (const placement of ['layer-inputs', 'tensorrt'] as const) {
    it.skipIf(!present)(`Fashion-MNIST Q/DQ (${placement}): FP16 elsewhere keeps I/O types and top-1 of the float32 Q/DQ model${present ? '' : ' (skipped: run npm run setup:example)'}`, async () => {
      const model = await OnnxModel.load(modelFile);
      // With 'tensorrt' the 10-class head is excluded, so that a float region is left to convert: fc1's Relu and fc2.
      const options = placement === 'tensorrt' ? { placement, exclude: { names: ['/fc2/Gemm'] } } : { placement };
      const plan = planQuantization(model, options);
      const calibration = readImages(path.join(dataDir, 'train-images-idx3-ubyte.gz'), 256);
      const amax = await calibrateAmax(model, plan, [{ input: { data: calibration, dims: [256, 1, 28, 28] } }]);
      const qdq = insertQdq(model, { ...options, amax });
      const { model: fp16, fp16Nodes } = convertToFp16(qdq);
      if (placement === 'tensorrt') {
        expect(fp16Nodes.map((n) => n.name)).toEqual(['/Relu', '/fc2/Gemm']);
      } else {
        expect(fp16Nodes).toEqual([]); // every layer is in an INT8 region
      }
      expect(fp16.inputs()).toEqual(qdq.inputs());
      expect(fp16.outputs()).toEqual(qdq.outputs());
      const count = 500;
      const feeds = { input: { data: readImages(path.join(dataDir, 't10k-images-idx3-ubyte.gz'), count), dims: [count, 1, 28, 28] } };
      const reference = argmaxRows((await runModel(qdq.toBytes(), feeds)).get('logits')!, 10);
      const converted = argmaxRows((await runModel(fp16.toBytes(), feeds)).get('logits')!, 10);
      const agree = reference.filter((c, i) => c === converted[i]).length;
      console.log(`fashion-mnist Q/DQ (${placement}) with FP16 elsewhere: top-1 agreement with float32 Q/DQ ${agree}/${count}`);
      expect(agree / count).toBeGreaterThanOrEqual(0.99);
    });
  }
});
