import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OnnxModel, onnxProto as onnx, isTrtInt8Error, type TrtInt8Error } from '../../src/index.js';
import { buildModel, initializer, node, randomValues, runModel, valueInfo, float } from './helpers.js';
import { cnnModel } from './models.js';
import { tensorToFloat32 } from '../../src/onnx/codec.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-onnx-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function caught(promiseOrFn: Promise<unknown> | (() => unknown)): Promise<TrtInt8Error> {
  try {
    await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
  } catch (error) {
    if (isTrtInt8Error(error)) return error;
    throw error;
  }
  throw new Error('expected a TrtInt8Error');
}

/** Naive NCHW convolution, stride 1, symmetric padding: an independent reference for onnxruntime. */
function conv2d(x: Float32Array, xDims: number[], weight: Float32Array, wDims: number[], bias: Float32Array, pad: number): Float32Array {
  const [n = 0, c = 0, h = 0, w = 0] = xDims;
  const [k = 0, , kh = 0, kw = 0] = wDims;
  const oh = h + 2 * pad - kh + 1;
  const ow = w + 2 * pad - kw + 1;
  const out = new Float32Array(n * k * oh * ow);
  for (let b = 0; b < n; b++)
    for (let o = 0; o < k; o++)
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          let sum = bias[o]!;
          for (let ci = 0; ci < c; ci++)
            for (let dy = 0; dy < kh; dy++)
              for (let dx = 0; dx < kw; dx++) {
                const iy = y + dy - pad;
                const ix = xx + dx - pad;
                if (iy < 0 || ix < 0 || iy >= h || ix >= w) continue;
                sum += x[((b * c + ci) * h + iy) * w + ix]! * weight[((o * c + ci) * kh + dy) * kw + dx]!;
              }
          out[((b * k + o) * oh + y) * ow + xx] = sum;
        }
  return out;
}

describe('OnnxModel.load errors', () => {
  it('missing file: ERR_IO naming the path', async () => {
    const file = path.join(tmp, 'nope.onnx');
    const error = await caught(OnnxModel.load(file));
    expect(error.code).toBe('ERR_IO');
    expect(error.input).toBe(file);
    expect(error.message).toContain(file);
  });

  it('not ONNX: ERR_BAD_MODEL naming the file', async () => {
    const file = path.join(tmp, 'text.onnx');
    fs.writeFileSync(file, 'this is not a model\n');
    const error = await caught(OnnxModel.load(file));
    expect(error.code).toBe('ERR_BAD_MODEL');
    expect(error.message).toContain(file);
  });

  it('truncated model: ERR_BAD_MODEL', async () => {
    const bytes = cnnModel().bytes;
    const error = await caught(OnnxModel.load(bytes.subarray(0, Math.floor(bytes.length / 2))));
    expect(error.code).toBe('ERR_BAD_MODEL');
    expect(error.message).toContain('<bytes>');
  });

  it('valid protobuf that is not a ModelProto: ERR_BAD_MODEL', async () => {
    const nodeBytes = onnx.NodeProto.encode(node('Relu', ['x'], ['y'])).finish();
    const error = await caught(OnnxModel.load(nodeBytes));
    expect(error.code).toBe('ERR_BAD_MODEL');
    expect(error.message).toMatch(/no ir_version or graph/);
  });

  it('wrong source type: ERR_BAD_OPTION', async () => {
    const error = await caught(OnnxModel.load(42 as unknown as string));
    expect(error.code).toBe('ERR_BAD_OPTION');
  });
});

describe('OnnxModel inspection', () => {
  it('inputs() skips initializers, dynamic dims read -1; outputs(), opsetVersion(), nodes', async () => {
    const model = await OnnxModel.load(cnnModel().bytes);
    // Older exporters list weights as graph inputs too; they are not inputs to feed.
    model.graph.input!.push(valueInfo('conv1.weight', [4, 3, 3, 3]));
    expect(model.inputs()).toEqual([{ name: 'input', dtype: 'float32', shape: [-1, 3, 8, 8] }]);
    expect(model.outputs()).toEqual([{ name: 'logits', dtype: 'float32', shape: [-1, 10] }]);
    expect(model.opsetVersion()).toBe(17);
    expect(model.opsetVersion('ai.onnx')).toBe(17);
    expect(model.opsetVersion('com.microsoft')).toBeUndefined();
    expect(model.nodes.map((n) => [n.index, n.name, n.opType])).toEqual([
      [0, 'conv1_node', 'Conv'],
      [1, 'relu1_node', 'Relu'],
      [2, 'pool1_node', 'MaxPool'],
      [3, 'flatten_node', 'Flatten'],
      [4, 'fc_node', 'Gemm'],
    ]);
    expect(model.nodes[4]!.inputs).toEqual(['flat', 'fc.weight', 'fc.bias']);
  });

  it('inputs() refuses element types calibration cannot feed, and unknown ranks', async () => {
    const doubleInput = OnnxModel.fromBytes(
      buildModel({ inputs: [valueInfo('x', [2], onnx.TensorProto.DataType.DOUBLE)], outputs: [valueInfo('y', [2], onnx.TensorProto.DataType.DOUBLE)], nodes: [node('Relu', ['x'], ['y'])] }),
    );
    const error = await caught(() => doubleInput.inputs());
    expect(error.code).toBe('ERR_BAD_MODEL');
    expect(error.actual).toBe('float64');
    const noShape = OnnxModel.fromBytes(buildModel({ inputs: [valueInfo('x')], outputs: [valueInfo('y')], nodes: [node('Relu', ['x'], ['y'])] }));
    expect((await caught(() => noShape.inputs())).input).toBe('x');
    expect(noShape.outputs()).toEqual([{ name: 'y', dtype: 'float32', shape: undefined }]);
  });
});

describe('tensorWeights', () => {
  it('reads initializers (raw_data) and Constant nodes (raw_data, float_data)', () => {
    const plain = cnnModel();
    const model = OnnxModel.fromBytes(plain.bytes);
    expect(model.tensorWeights('conv1.weight')).toEqual(plain.weights.get('conv1.weight')!.values);
    const constants = cnnModel({ constantNodes: true });
    const fromConstants = OnnxModel.fromBytes(constants.bytes);
    expect(fromConstants.graph.initializer).toEqual([]);
    expect(fromConstants.constantTensor('fc.weight')).toMatchObject({ source: 'constant-node', dims: [10, 64], dtype: 'float32' });
    expect(fromConstants.tensorWeights('conv1.weight')).toEqual(constants.weights.get('conv1.weight')!.values);
    expect(fromConstants.tensorWeights('fc.weight')).toEqual(constants.weights.get('fc.weight')!.values);
  });

  it('reads value_floats Constants and float16 / float64 initializers', () => {
    const half = Uint8Array.of(0x00, 0x3c, 0x00, 0xc0, 0x00, 0x35, 0x00, 0x00); // 1, -2, 0.3125, 0
    const doubles = new Float64Array([0.5, -1.25]);
    const model = OnnxModel.fromBytes(
      buildModel({
        inputs: [valueInfo('x', [2])],
        outputs: [valueInfo('y', [2])],
        nodes: [node('Constant', [], ['c'], { value_floats: [] }), node('Add', ['x', 'c'], ['y'])],
        initializers: [
          { name: 'h', dims: [4], dataType: onnx.TensorProto.DataType.FLOAT16, rawData: half },
          { name: 'd', dims: [2], dataType: onnx.TensorProto.DataType.DOUBLE, rawData: new Uint8Array(doubles.buffer) },
          // bfloat16 without raw_data: one value per int32_data entry (0x3fc0 = 1.5, 0xc020 = -2.5)
          { name: 'b', dims: [2], dataType: onnx.TensorProto.DataType.BFLOAT16, int32Data: [0x3fc0, 0xc020] },
        ],
      }),
    );
    // value_floats is a FLOATS attribute; the helper makes INTS for arrays, so set it by hand.
    model.graph.node![0]!.attribute = [{ name: 'value_floats', type: onnx.AttributeProto.AttributeType.FLOATS, floats: [1.5, -2.5] }];
    expect([...model.tensorWeights('c')]).toEqual([1.5, -2.5]);
    expect([...model.tensorWeights('h')]).toEqual([1, -2, 0.3125, 0]);
    expect([...model.tensorWeights('d')]).toEqual([0.5, -1.25]);
    expect([...model.tensorWeights('b')]).toEqual([1.5, -2.5]);
  });

  it('negative or huge dims are ERR_BAD_MODEL, not a RangeError from the allocation (found by test/fuzz/onnx.test.ts)', async () => {
    const rawData = new Uint8Array(Float32Array.of(1, 2, 3, 4).buffer);
    for (const dims of [[-5, 4], [4, -1], [2 ** 40, 4], [2 ** 20, 2 ** 20], [-2, -2]]) {
      const tensor = { name: 'w', dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData };
      const error = await caught(() => tensorToFloat32(tensor, { modelName: 'test' }));
      expect(error.code).toBe('ERR_BAD_MODEL');
      expect(error.input).toBe('w');
    }
    // The same through tensorWeights (what insertQdq calls): a Conv weight whose dims were changed to [-5, 3, 3, 3].
    const model = OnnxModel.fromBytes(cnnModel().bytes);
    model.graph.initializer!.find((t) => t.name === 'conv1.weight')!.dims = [-5, 3, 3, 3];
    const error = await caught(() => model.tensorWeights('conv1.weight'));
    expect(error.code).toBe('ERR_BAD_MODEL');
    expect(error.message).toMatch(/negative dimension/);
  });

  it('reads float32 raw_data at any byte alignment', () => {
    const values = Float32Array.of(1.25, -3.5, 1e-3);
    for (const offset of [0, 1, 2, 3, 4]) {
      const buffer = new Uint8Array(offset + values.byteLength);
      buffer.set(new Uint8Array(values.buffer), offset);
      const tensor = { name: 't', dims: [3], dataType: onnx.TensorProto.DataType.FLOAT, rawData: buffer.subarray(offset) };
      const read = tensorToFloat32(tensor, { modelName: 'test' });
      expect(read).toEqual(values);
      buffer.fill(0); // the result must not alias the model's bytes
      expect(read).toEqual(values);
    }
  });

  it('reads external data relative to the model file; refuses it for models loaded from bytes', async () => {
    const values = randomValues(24, 7);
    const dir = fs.mkdtempSync(path.join(tmp, 'external-'));
    const prefix = new Uint8Array(16); // data at a non-zero offset
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat([prefix, Buffer.from(values.buffer)]));
    const bytes = buildModel({
      inputs: [valueInfo('x', [24])],
      outputs: [valueInfo('y', [24])],
      nodes: [node('Add', ['x', 'w'], ['y'])],
      initializers: [
        {
          name: 'w',
          dims: [24],
          dataType: onnx.TensorProto.DataType.FLOAT,
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [
            { key: 'location', value: 'weights.bin' },
            { key: 'offset', value: '16' },
            { key: 'length', value: String(values.byteLength) },
          ],
        },
      ],
    });
    fs.writeFileSync(path.join(dir, 'model.onnx'), bytes);
    expect((await OnnxModel.load(path.join(dir, 'model.onnx'))).tensorWeights('w')).toEqual(values);

    const fromBytes = await OnnxModel.load(bytes);
    const error = await caught(() => fromBytes.tensorWeights('w'));
    expect(error.code).toBe('ERR_BAD_MODEL');
    expect(error.input).toBe('w');
    expect(error.fixes.join(' ')).toMatch(/OnnxModel\.load\(path\)/);

    const escaping = await OnnxModel.load(path.join(dir, 'model.onnx'));
    escaping.graph.initializer![0]!.externalData![0]!.value = '../elsewhere.bin';
    expect((await caught(() => escaping.tensorWeights('w'))).message).toMatch(/outside the model folder/);

    // A symbolic link inside the folder that leads outside it is refused too; one that stays inside is followed.
    const outside = fs.mkdtempSync(path.join(tmp, 'outside-'));
    fs.copyFileSync(path.join(dir, 'weights.bin'), path.join(outside, 'secret.bin'));
    fs.symlinkSync(path.join(outside, 'secret.bin'), path.join(dir, 'link.bin'));
    fs.symlinkSync(outside, path.join(dir, 'linked-folder'));
    fs.symlinkSync(path.join(dir, 'weights.bin'), path.join(dir, 'inner-link.bin'));
    for (const location of ['link.bin', 'linked-folder/secret.bin']) {
      const linked = await OnnxModel.load(path.join(dir, 'model.onnx'));
      linked.graph.initializer![0]!.externalData![0]!.value = location;
      const linkError = await caught(() => linked.tensorWeights('w'));
      expect(linkError.code).toBe('ERR_BAD_MODEL');
      expect(linkError.message).toMatch(/symbolic link .* outside the model folder/);
      expect(linkError.actual).toBe(fs.realpathSync(path.join(outside, 'secret.bin')));
      expect(await caught(() => linked.withInlinedExternalData())).toMatchObject({ code: 'ERR_BAD_MODEL' });
    }
    const innerLink = await OnnxModel.load(path.join(dir, 'model.onnx'));
    innerLink.graph.initializer![0]!.externalData![0]!.value = 'inner-link.bin';
    expect(innerLink.tensorWeights('w')).toEqual(values);
    // The model folder itself may be reached through a link.
    fs.symlinkSync(dir, path.join(tmp, 'model-folder-link'));
    expect((await OnnxModel.load(path.join(tmp, 'model-folder-link', 'model.onnx'))).tensorWeights('w')).toEqual(values);

    const tooLong = await OnnxModel.load(path.join(dir, 'model.onnx'));
    tooLong.graph.initializer![0]!.externalData![2]!.value = String(values.byteLength + 4);
    expect((await caught(() => tooLong.tensorWeights('w'))).code).toBe('ERR_BAD_MODEL');
  });

  it('refuses non-constants, non-float tensors and data that does not match dims', async () => {
    const model = OnnxModel.fromBytes(cnnModel().bytes);
    expect((await caught(() => model.tensorWeights('relu1'))).code).toBe('ERR_BAD_OPTION');
    model.graph.initializer!.push({ name: 'ints', dims: [2], dataType: onnx.TensorProto.DataType.INT32, int32Data: [1, 2] });
    expect((await caught(() => model.tensorWeights('ints'))).actual).toBe('int32');
    model.graph.initializer!.push(initializer('short', [3, 3], randomValues(8, 1)));
    const error = await caught(() => model.tensorWeights('short'));
    expect(error.code).toBe('ERR_BAD_MODEL');
    expect([error.expected, error.actual]).toEqual([9, 8]);
  });
});

describe('withExtraOutputs', () => {
  it('exposes intermediates with the values onnxruntime computes, leaving the model unchanged', async () => {
    const test = cnnModel();
    const model = OnnxModel.fromBytes(test.bytes);
    const feeds = test.feeds(2, 99);
    const extra = model.withExtraOutputs(['conv1', 'relu1', 'flat', 'input', 'logits']);
    expect(model.toBytes()).toEqual(test.bytes);
    expect(OnnxModel.fromBytes(extra).outputs().map((o) => [o.name, o.dtype])).toEqual([
      ['logits', 'float32'],
      ['conv1', 'float32'],
      ['relu1', 'float32'],
      ['flat', 'float32'],
      ['input', 'float32'],
    ]);
    const outputs = await runModel(extra, feeds);
    const plain = await runModel(test.bytes, feeds);
    expect(outputs.get('logits')).toEqual(plain.get('logits'));
    expect(outputs.get('input')).toEqual(feeds.input!.data);
    // conv1 against an independent JS convolution; relu1 and flat follow from it exactly.
    const w = test.weights;
    const reference = conv2d(feeds.input!.data, [2, 3, 8, 8], w.get('conv1.weight')!.values, [4, 3, 3, 3], w.get('conv1.bias')!.values, 1);
    const conv1 = outputs.get('conv1')!;
    expect(conv1.length).toBe(reference.length);
    for (let i = 0; i < reference.length; i++) expect(Math.abs(conv1[i]! - reference[i]!)).toBeLessThan(1e-5);
    expect(outputs.get('relu1')).toEqual(conv1.map((v) => Math.max(v, 0)));
    const relu1 = outputs.get('relu1')!;
    const flat = outputs.get('flat')!;
    expect(flat.length).toBe(2 * 64);
    // flat[b, c*16 + y*4 + x] = max of the 2x2 window of relu1[b, c].
    for (let b = 0; b < 2; b++)
      for (let c = 0; c < 4; c++)
        for (let y = 0; y < 4; y++)
          for (let x = 0; x < 4; x++) {
            const at = (yy: number, xx: number) => relu1[((b * 4 + c) * 8 + yy) * 8 + xx]!;
            const max = Math.max(at(2 * y, 2 * x), at(2 * y, 2 * x + 1), at(2 * y + 1, 2 * x), at(2 * y + 1, 2 * x + 1));
            expect(flat[b * 64 + c * 16 + y * 4 + x]).toBe(max);
          }
  });

  it('declares non-float intermediates with their element types (Shape, Cast, Equal)', async () => {
    const bytes = buildModel({
      inputs: [valueInfo('x', [2, 3])],
      outputs: [valueInfo('y', [2, 3])],
      nodes: [
        node('Shape', ['x'], ['shape']),
        node('Cast', ['x'], ['as_int'], { to: onnx.TensorProto.DataType.INT32 }),
        node('Equal', ['as_int', 'as_int'], ['same']),
        node('Mul', ['x', 'two'], ['y']),
        node('Constant', [], ['two'], { value_float: float(2) }),
      ].sort((a) => (a.opType === 'Constant' ? -1 : 0)),
    });
    const model = OnnxModel.fromBytes(bytes);
    const extra = model.withExtraOutputs(['shape', 'as_int', 'same', 'two']);
    expect(OnnxModel.fromBytes(extra).outputs().map((o) => o.dtype)).toEqual(['float32', 'int64', 'int32', 'bool', 'float32']);
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(extra);
    const result = await session.run({ x: new ort.Tensor('float32', Float32Array.of(1.5, -2, 3, 4, 5, 6), [2, 3]) });
    expect([...(result.shape!.data as BigInt64Array)]).toEqual([2n, 3n]);
    expect([...(result.as_int!.data as Int32Array)]).toEqual([1, -2, 3, 4, 5, 6]);
    expect([...(result.same!.data as Uint8Array)].every(Boolean)).toBe(true);
    expect([...(result.two!.data as Float32Array)]).toEqual([2]);
    await session.release();
  });

  it('unknown tensor names: ERR_BAD_OPTION listing them', async () => {
    const model = OnnxModel.fromBytes(cnnModel().bytes);
    const error = await caught(() => model.withExtraOutputs(['relu1', 'nope']));
    expect(error.code).toBe('ERR_BAD_OPTION');
    expect(error.actual).toEqual(['nope']);
  });
});

describe('clone and save', () => {
  it('clone() is independent; save() writes atomically and reloads identically', async () => {
    const bytes = cnnModel().bytes;
    const model = OnnxModel.fromBytes(bytes);
    const copy = model.clone();
    copy.graph.node!.pop();
    expect(model.nodes.length).toBe(5);
    expect(copy.nodes.length).toBe(4);
    const dir = fs.mkdtempSync(path.join(tmp, 'save-'));
    const file = path.join(dir, 'model.onnx');
    await model.save(file);
    expect(fs.readdirSync(dir)).toEqual(['model.onnx']);
    expect(fs.readFileSync(file).equals(Buffer.from(bytes))).toBe(true);
    const error = await caught(model.save(path.join(dir, 'missing-folder', 'model.onnx')));
    expect(error.code).toBe('ERR_IO');
  });
});
