import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  OnnxModel,
  onnxProto,
  insertQdq,
  planQuantization,
  ZERO_CHANNEL_WEIGHT_SCALE,
  type QuantizationPlan,
} from '../../src/index.js';
import { absMax, calibrateAmax, cosine, readImages, runModel } from './helpers.js';
import { cnnModel, convTransposeModel, matmulModel, residualModel, type TestModel } from './models.js';
import { checkWithPythonOnnx, pythonOnnxDir, pythonOnnxMissing } from './python-onnx.js';
import { caught } from '../caught.js';

const repoRoot = path.resolve(__dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-qdq-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function quantizeWithCalibration(test: TestModel, options: Parameters<typeof planQuantization>[1] = {}) {
  const model = OnnxModel.fromBytes(test.bytes);
  const plan = planQuantization(model, options);
  const amax = await calibrateAmax(model, plan, [test.feeds(8, 1), test.feeds(8, 2)]);
  const qdq = insertQdq(model, { ...options, amax });
  return { model, plan, amax, qdq };
}

/** The first output of the FP32 and the Q/DQ model on a batch not used for calibration. */
async function compareOutputs(test: TestModel, qdq: OnnxModel, batch = 8, seed = 42) {
  const feeds = test.feeds(batch, seed);
  const [fp32] = [...(await runModel(test.bytes, feeds)).values()];
  const [int8] = [...(await runModel(qdq.toBytes(), feeds)).values()];
  return { fp32: fp32!, int8: int8!, cosine: cosine(fp32!, int8!) };
}

function opCount(model: OnnxModel, opType: string): number {
  return model.nodes.filter((n) => n.opType === opType).length;
}

function nodeNamed(model: OnnxModel, name: string) {
  const node = model.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no node ${name}`);
  return node;
}

/** The Q node reading `tensor`, and its scale / zero point / axis. */
function quantizerOf(model: OnnxModel, tensor: string) {
  const q = model.nodes.filter((n) => n.opType === 'QuantizeLinear' && n.inputs[0] === tensor);
  expect(q).toHaveLength(1);
  const dq = model.nodes.filter((n) => n.opType === 'DequantizeLinear' && n.inputs[0] === q[0]!.outputs[0]);
  expect(dq).toHaveLength(1);
  const axisAttribute = q[0]!.proto.attribute?.find((a) => a.name === 'axis');
  const zeroPoint = model.constantTensor(q[0]!.inputs[2]!)!;
  return {
    scale: model.tensorWeights(q[0]!.inputs[1]!),
    scaleDims: model.constantTensor(q[0]!.inputs[1]!)!.dims,
    zeroPoint: { dtype: zeroPoint.dtype, values: [...(zeroPoint.proto.rawData ?? [])] },
    axis: axisAttribute ? Number(axisAttribute.i) : undefined,
    dequantized: dq[0]!.outputs[0]!,
  };
}

/** Every node reads only graph inputs, initializers or outputs of earlier nodes. */
function expectTopological(model: OnnxModel) {
  const available = new Set([...(model.graph.input ?? []).map((i) => i.name), ...(model.graph.initializer ?? []).map((t) => t.name)]);
  for (const node of model.nodes) {
    for (const input of node.inputs) if (input) expect(available.has(input), `${node.name} reads ${input} before it exists`).toBe(true);
    for (const output of node.outputs) available.add(output);
  }
}

/** max |w| per slice along `axis`, divided by 127: the expected per-channel scales. */
function expectedScales(values: Float32Array, dims: number[], axis: number): number[] {
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const max = new Array<number>(channels).fill(0);
  values.forEach((v, i) => {
    const c = Math.floor(i / inner) % channels;
    max[c] = Math.max(max[c]!, Math.abs(v));
  });
  return max.map((m) => Math.fround(m / 127));
}

describe('planQuantization', () => {
  it('Conv+Relu+MaxPool+Gemm: inputs of Conv, MaxPool and Gemm, not after every op', () => {
    const plan = planQuantization(OnnxModel.fromBytes(cnnModel().bytes));
    expect(plan.activationNames).toEqual(['input', 'relu1', 'flat']);
    expect(plan.weights.map((w) => [w.tensor, w.axis, w.dims])).toEqual([
      ['conv1.weight', 0, [4, 3, 3, 3]],
      ['fc.weight', 0, [10, 64]], // transB=1: rows are output channels
    ]);
    expect(plan.quantizedNodes.map((n) => n.name)).toEqual(['conv1_node', 'pool1_node', 'fc_node']);
    expect(plan.excludedNodes).toEqual([]);
  });

  it('residual block: both Add inputs; a tensor read by two quantized nodes is planned once', () => {
    const plan = planQuantization(OnnxModel.fromBytes(residualModel().bytes));
    expect(plan.activationNames).toEqual(['input', 'r1', 'c2', 'block_out']);
    expect(plan.activations.find((a) => a.tensor === 'input')!.consumers.map((n) => n.name)).toEqual(['conv1', 'residual_add']);
    expect(plan.quantizedNodes.map((n) => n.name)).toEqual(['conv1', 'conv2', 'residual_add', 'gap']);
  });

  it('MatMul with a constant weight per output column; a bias Add is not a residual Add', () => {
    const plan = planQuantization(OnnxModel.fromBytes(matmulModel().bytes));
    expect(plan.activationNames).toEqual(['tokens', 'hidden2d']);
    expect(plan.weights.map((w) => [w.tensor, w.axis])).toEqual([
      ['proj.weight', 1],
      ['head.weight', 1], // Gemm transB=0: B is [K, N]
    ]);
    expect(plan.quantizedNodes.map((n) => n.name)).toEqual(['proj_matmul', 'head_gemm']);
  });

  it('exclusions by node name, op type and predicate; unknown names are an error', () => {
    const model = OnnxModel.fromBytes(cnnModel().bytes);
    const byName = planQuantization(model, { exclude: { names: ['fc_node'] } });
    expect(byName.activationNames).toEqual(['input', 'relu1']);
    expect(byName.weights.map((w) => w.tensor)).toEqual(['conv1.weight']);
    expect(byName.excludedNodes.map((n) => n.name)).toEqual(['fc_node']);
    expect(planQuantization(model, { exclude: { opTypes: ['MaxPool'] } }).activationNames).toEqual(['input', 'flat']);
    expect(planQuantization(model, { exclude: (node) => node.opType === 'Conv' }).activationNames).toEqual(['relu1', 'flat']);
    const error = caught(() => planQuantization(model, { exclude: { names: ['fc_nod'] } }));
    expect(error.code).toBe('ERR_BAD_OPTION');
    expect(error.actual).toEqual(['fc_nod']);
  });
});

describe('insertQdq', () => {
  it('Conv+Relu+MaxPool+Gemm: node counts, positions, scales, and outputs close to FP32 at any batch size', async () => {
    const test = cnnModel();
    const { amax, qdq } = await quantizeWithCalibration(test);
    expect(opCount(qdq, 'QuantizeLinear')).toBe(5);
    expect(opCount(qdq, 'DequantizeLinear')).toBe(5);
    expectTopological(qdq);

    const input = quantizerOf(qdq, 'input');
    expect(input.axis).toBeUndefined();
    expect(input.scaleDims).toEqual([]);
    expect(input.scale[0]).toBe(Math.fround(amax.get('input')! / 127));
    expect(input.zeroPoint).toEqual({ dtype: 'int8', values: [0] });
    const convWeight = quantizerOf(qdq, 'conv1.weight');
    expect(convWeight.axis).toBe(0);
    expect([...convWeight.scale]).toEqual(expectedScales(test.weights.get('conv1.weight')!.values, [4, 3, 3, 3], 0));
    expect(convWeight.zeroPoint).toEqual({ dtype: 'int8', values: [0, 0, 0, 0] });
    const fcWeight = quantizerOf(qdq, 'fc.weight');
    expect([...fcWeight.scale]).toEqual(expectedScales(test.weights.get('fc.weight')!.values, [10, 64], 0));

    // Conv reads DQ(input), DQ(weight) and the FP32 bias; Relu is left alone; pool and Gemm read DQ outputs.
    expect(nodeNamed(qdq, 'conv1_node').inputs).toEqual([input.dequantized, convWeight.dequantized, 'conv1.bias']);
    expect(nodeNamed(qdq, 'relu1_node').inputs).toEqual(['conv1']);
    expect(nodeNamed(qdq, 'pool1_node').inputs).toEqual([quantizerOf(qdq, 'relu1').dequantized]);
    expect(nodeNamed(qdq, 'fc_node').inputs).toEqual([quantizerOf(qdq, 'flat').dequantized, fcWeight.dequantized, 'fc.bias']);
    expect(qdq.outputs()).toEqual(OnnxModel.fromBytes(test.bytes).outputs());

    for (const batch of [1, 5]) {
      const result = await compareOutputs(test, qdq, batch);
      expect(result.cosine).toBeGreaterThan(0.999);
      expect(result.int8).not.toEqual(result.fp32); // the Q/DQ pairs do round
    }
  });

  it('uses the scales it writes: a far too small amax ruins the output', async () => {
    const test = cnnModel();
    const { amax, model } = await quantizeWithCalibration(test);
    const clipped = new Map(amax).set('input', amax.get('input')! / 50);
    const result = await compareOutputs(test, insertQdq(model, { amax: clipped }));
    expect(result.cosine).toBeLessThan(0.99);
  });

  it('residual block: one shared Q/DQ on the block input feeds both the Conv and the Add', async () => {
    const test = residualModel();
    const { qdq } = await quantizeWithCalibration(test);
    expect(opCount(qdq, 'QuantizeLinear')).toBe(6); // 4 activations + 2 weights
    const input = quantizerOf(qdq, 'input');
    expect(nodeNamed(qdq, 'conv1').inputs[0]).toBe(input.dequantized);
    expect(nodeNamed(qdq, 'residual_add').inputs).toEqual([quantizerOf(qdq, 'c2').dequantized, input.dequantized]);
    expect(nodeNamed(qdq, 'relu_out').inputs).toEqual(['sum']);
    expectTopological(qdq);
    expect((await compareOutputs(test, qdq)).cosine).toBeGreaterThan(0.999);
  });

  it('ConvTranspose: weight scales per output channel on axis 1', async () => {
    const test = convTransposeModel();
    const { qdq } = await quantizeWithCalibration(test);
    const weight = quantizerOf(qdq, 'deconv.weight');
    expect(weight.axis).toBe(1);
    expect([...weight.scale]).toEqual(expectedScales(test.weights.get('deconv.weight')!.values, [4, 3, 3, 3], 1));
    expect(nodeNamed(qdq, 'deconv').inputs[2]).toBe('deconv.bias');
    expect((await compareOutputs(test, qdq)).cosine).toBeGreaterThan(0.999);
  });

  it('MatMul / Gemm(transB=0) with constant weights: per output column', async () => {
    const test = matmulModel();
    const { qdq } = await quantizeWithCalibration(test);
    expect([...quantizerOf(qdq, 'proj.weight').scale]).toEqual(expectedScales(test.weights.get('proj.weight')!.values, [16, 8], 1));
    expect([...quantizerOf(qdq, 'head.weight').scale]).toEqual(expectedScales(test.weights.get('head.weight')!.values, [8, 6], 1));
    expect(nodeNamed(qdq, 'proj_bias').inputs).toEqual(['proj', 'proj.bias']);
    expect(opCount(qdq, 'QuantizeLinear')).toBe(4);
    expect((await compareOutputs(test, qdq)).cosine).toBeGreaterThan(0.999);
  });

  it('weights held in Constant nodes are quantized like initializers (same outputs)', async () => {
    const withInitializers = await quantizeWithCalibration(cnnModel());
    const constants = cnnModel({ constantNodes: true });
    const model = OnnxModel.fromBytes(constants.bytes);
    const qdq = insertQdq(model, { amax: withInitializers.amax });
    expectTopological(qdq);
    const weight = quantizerOf(qdq, 'fc.weight'); // stored as float_data
    expect([...weight.scale]).toEqual(expectedScales(constants.weights.get('fc.weight')!.values, [10, 64], 0));
    const feeds = constants.feeds(4, 7);
    const a = [...(await runModel(qdq.toBytes(), feeds)).values()][0]!;
    const b = [...(await runModel(withInitializers.qdq.toBytes(), feeds)).values()][0]!;
    expect(a).toEqual(b);
  });

  it('excluded nodes keep FP32 inputs', async () => {
    const test = cnnModel();
    const { qdq } = await quantizeWithCalibration(test, { exclude: { names: ['fc_node'] } });
    expect(nodeNamed(qdq, 'fc_node').inputs).toEqual(['flat', 'fc.weight', 'fc.bias']);
    expect(qdq.nodes.some((n) => n.opType === 'QuantizeLinear' && (n.inputs[0] === 'flat' || n.inputs[0] === 'fc.weight'))).toBe(false);
    expect(nodeNamed(qdq, 'conv1_node').inputs[0]).toBe(quantizerOf(qdq, 'input').dequantized);
    expect((await compareOutputs(test, qdq)).cosine).toBeGreaterThan(0.999);
  });

  it('perChannelWeights: false writes one scale per weight, without axis', async () => {
    const test = cnnModel();
    const { qdq } = await quantizeWithCalibration(test, { perChannelWeights: false });
    const weight = quantizerOf(qdq, 'conv1.weight');
    expect(weight.axis).toBeUndefined();
    expect(weight.scaleDims).toEqual([]);
    expect(weight.scale[0]).toBe(Math.fround(absMax(test.weights.get('conv1.weight')!.values) / 127));
    expect((await compareOutputs(test, qdq)).cosine).toBeGreaterThan(0.995);
  });

  it('an all-zero weight channel gets a tiny positive scale and still runs', async () => {
    const test = cnnModel();
    const model = OnnxModel.fromBytes(test.bytes);
    const weight = model.constantTensor('conv1.weight')!.proto;
    const values = model.tensorWeights('conv1.weight');
    values.fill(0, 27, 54); // output channel 1
    weight.rawData = new Uint8Array(values.buffer.slice(0));
    const plan = planQuantization(model);
    const amax = await calibrateAmax(model, plan, [test.feeds(4, 1)]);
    const qdq = insertQdq(model, { amax });
    const scales = quantizerOf(qdq, 'conv1.weight').scale;
    expect(scales[1]).toBe(Math.fround(ZERO_CHANNEL_WEIGHT_SCALE));
    expect(scales[0]).toBeGreaterThan(0);
    const feeds = test.feeds(2, 3);
    const outputs = await runModel(qdq.withExtraOutputs(['conv1']), feeds);
    const conv1 = outputs.get('conv1')!;
    const bias = test.weights.get('conv1.bias')!.values[1]!;
    for (let b = 0; b < 2; b++) for (let i = 0; i < 64; i++) expect(conv1[(b * 4 + 1) * 64 + i]).toBe(Math.fround(bias));
  });

  it('missing, zero, negative or non-finite amax: ERR_BAD_OPTION naming the tensor, never a division by zero', () => {
    const model = OnnxModel.fromBytes(cnnModel().bytes);
    const good = { input: 2, relu1: 3, flat: 3 };
    for (const [name, bad] of [['relu1', undefined], ['relu1', 0], ['flat', -1], ['input', NaN], ['input', Infinity], ['flat', 1e-45]] as const) {
      const amax: Record<string, number> = { ...good };
      if (bad === undefined) delete amax[name];
      else amax[name] = bad;
      const error = caught(() => insertQdq(model, { amax }));
      expect(error.code).toBe('ERR_BAD_OPTION');
      expect(error.input).toBe(`amax[${JSON.stringify(name)}]`);
    }
    // A plain object works as well as a Map; extra entries are ignored.
    expect(opCount(insertQdq(model, { amax: { ...good, unrelated: 1 } }), 'QuantizeLinear')).toBe(5);
  });

  it('opset < 10 (no upgrade, no QuantizeLinear): ERR_BAD_MODEL with the fix; a model that already has Q/DQ: ERR_BAD_MODEL', () => {
    const old = OnnxModel.fromBytes(cnnModel({ opset: 9 }).bytes);
    const error = caught(() => insertQdq(old, { amax: { input: 1, relu1: 1, flat: 1 } }));
    expect(error.code).toBe('ERR_BAD_MODEL');
    expect(error.actual).toBe(9);
    expect(error.fixes.join(' ')).toMatch(/opset/);
    const once = insertQdq(OnnxModel.fromBytes(cnnModel().bytes), { amax: { input: 1, relu1: 1, flat: 1 } });
    expect(caught(() => insertQdq(once, { amax: { input: 1, relu1: 1, flat: 1 } })).code).toBe('ERR_BAD_MODEL');
  });

  it('refuses tensors that are not float32 (an FP16 weight)', () => {
    const model = OnnxModel.fromBytes(cnnModel().bytes);
    const weight = model.constantTensor('conv1.weight')!.proto;
    weight.dataType = onnxProto.TensorProto.DataType.FLOAT16;
    weight.rawData = new Uint8Array(4 * 3 * 3 * 3 * 2);
    const error = caught(() => insertQdq(model, { amax: { input: 1, relu1: 1, flat: 1 } }));
    expect(error.code).toBe('ERR_BAD_MODEL');
    expect(error.input).toBe('conv1.weight');
  });

  it('a Q/DQ model can expose its intermediates too (int8 Q outputs declared as int8)', async () => {
    const test = cnnModel();
    const { qdq } = await quantizeWithCalibration(test);
    const quantizedInput = qdq.nodes.find((n) => n.opType === 'QuantizeLinear' && n.inputs[0] === 'input')!.outputs[0]!;
    const bytes = qdq.withExtraOutputs(['relu1', quantizedInput]);
    expect(OnnxModel.fromBytes(bytes).outputs().map((o) => o.dtype)).toEqual(['float32', 'float32', 'int8']);
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(bytes);
    const feeds = test.feeds(2, 5);
    const result = await session.run({ input: new ort.Tensor('float32', feeds.input!.data, [...feeds.input!.dims]) });
    const scale = quantizerOf(qdq, 'input').scale[0]!;
    const q = result[quantizedInput]!.data as Int8Array;
    // QuantizeLinear: round-half-to-even(x / scale), saturated to [-128, 127].
    const roundHalfEven = (v: number) => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));
    feeds.input!.data.forEach((x, i) => expect(q[i]).toBe(Math.max(-128, Math.min(127, roundHalfEven(Math.fround(x / scale)))) + 0));
    await session.release();
  });

  it('does not modify the model it is given', () => {
    const bytes = cnnModel().bytes;
    const model = OnnxModel.fromBytes(bytes);
    insertQdq(model, { amax: { input: 1, relu1: 1, flat: 1 } });
    expect(Buffer.from(model.toBytes()).equals(Buffer.from(bytes))).toBe(true);
  });

  it.skipIf(!pythonOnnxDir)(`Q/DQ models pass onnx.checker full_check${pythonOnnxDir ? '' : ` (${pythonOnnxMissing})`}`, async () => {
    const files: string[] = [];
    for (const [name, test] of Object.entries({ cnn: cnnModel(), residual: residualModel(), deconv: convTransposeModel(), matmul: matmulModel() })) {
      const { qdq } = await quantizeWithCalibration(test);
      files.push(path.join(tmp, `${name}.qdq.onnx`));
      await qdq.save(files.at(-1)!);
    }
    expect(checkWithPythonOnnx(files)).toEqual(Object.fromEntries(files.map((f) => [f, ''])));
  });
});

describe('real model: examples/fashion-mnist/model.onnx', () => {
  const modelFile = path.join(repoRoot, 'examples/fashion-mnist/model.onnx');
  const dataDir = path.join(repoRoot, 'examples/fashion-mnist/data');
  const present = fs.existsSync(modelFile) && fs.existsSync(path.join(dataDir, 't10k-images-idx3-ubyte.gz'));
  const skipped = present ? '' : ' (skipped: model.onnx or its data/ is not there; see examples/fashion-mnist)';

  /** Calibrates on 256 training images, quantizes, and compares 500 test images' predictions with FP32. */
  async function quantizeAndCompare(options: Parameters<typeof planQuantization>[1]) {
    const model = await OnnxModel.load(modelFile);
    const plan = planQuantization(model, options);
    const calibration = readImages(path.join(dataDir, 'train-images-idx3-ubyte.gz'), 256);
    const amax = await calibrateAmax(model, plan, [{ input: { data: calibration, dims: [256, 1, 28, 28] } }]);
    const qdq = insertQdq(model, { ...options, amax });
    const test = readImages(path.join(dataDir, 't10k-images-idx3-ubyte.gz'), 500);
    const feeds = { input: { data: test, dims: [500, 1, 28, 28] } };
    const fp32 = (await runModel(model.toBytes(), feeds)).get('logits')!;
    const int8 = (await runModel(qdq.toBytes(), feeds)).get('logits')!;
    const argmax = (logits: Float32Array, i: number) => {
      const row = logits.subarray(i * 10, i * 10 + 10);
      return row.indexOf(Math.max(...row));
    };
    let agree = 0;
    for (let i = 0; i < 500; i++) if (argmax(fp32, i) === argmax(int8, i)) agree++;
    console.log(`fashion-mnist (${options?.placement ?? 'default'} placement): top-1 agreement INT8 vs FP32 ${agree}/500, logits cosine ${cosine(fp32, int8).toFixed(5)}`);
    return { plan, agreement: agree / 500, cosine: cosine(fp32, int8) };
  }

  it.skipIf(!present)(`quantizes the exported model; INT8 predictions agree with FP32${skipped}`, async () => {
    const { plan, agreement, cosine: similarity } = await quantizeAndCompare({});
    expect(plan.quantizedNodes.map((n) => n.opType).sort()).toEqual(['Add', 'Conv', 'Conv', 'Conv', 'Conv', 'Conv', 'Gemm', 'Gemm', 'MaxPool', 'MaxPool']);
    expect(agreement).toBeGreaterThan(0.97);
    expect(similarity).toBeGreaterThan(0.999);
  });

  it.skipIf(!present)(`'tensorrt' placement: the 1-channel stem is INT8 (32 output channels), the 10-class head too (fc1 writes its input), pools share scales${skipped}`, async () => {
    const { plan, agreement, cosine: similarity } = await quantizeAndCompare({ placement: 'tensorrt' });
    // fc2 (10 outputs) is smaller than minChannels, but in float it would make fc1 write FP32 (rule 5).
    expect(plan.smallNodes).toEqual([]);
    expect(plan.quantizedNodes.map((n) => n.name)).toContain('/fc2/Gemm');
    expect(plan.activationNames[0]).toBe('input');
    expect(plan.quantizedNodes.map((n) => n.opType).sort()).toEqual(['Add', 'Conv', 'Conv', 'Conv', 'Conv', 'Conv', 'Gemm', 'Gemm', 'MaxPool', 'MaxPool']);
    expect(plan.scaleGroups).toEqual([
      ['/stem2/Relu_output_0', '/MaxPool_output_0'],
      ['/conv3/Relu_output_0', '/MaxPool_1_output_0'],
    ]);
    expect(agreement).toBeGreaterThan(0.97);
    expect(similarity).toBeGreaterThan(0.999);
  });
});
