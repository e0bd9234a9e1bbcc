import { describe, expect, it } from 'vitest';
import { OnnxModel, checkQuantizable, insertQdq, planQuantization, upgradeToOpset13, onnxProto as onnx } from '../../src/index.js';
import { buildModel, calibrateAmax, cosine, initializer, node, randomValues, runModel, valueInfo } from './helpers.js';
import { cnnModel } from './models.js';
import { caught } from '../caught.js';

/** Q/DQ nodes' axis attributes and scale shapes. */
function weightQuantizers(qdq: OnnxModel) {
  return qdq.nodes
    .filter((n) => n.opType === 'QuantizeLinear' && n.inputs[0]!.endsWith('.weight'))
    .map((n) => ({ tensor: n.inputs[0], axis: n.proto.attribute?.find((a) => a.name === 'axis')?.i, scaleDims: qdq.constantTensor(n.inputs[1]!)!.dims }));
}

/** x[N,4] -> Unsqueeze(axes [2]) -> Squeeze(axes [2]) -> Gemm(16 x 4, transB) -> Split(split [8, 8], axis 1) -> Softmax(a) ; b */
function attributeOpsModel(opset: number, softmaxAxis = 1): Uint8Array {
  const weight = randomValues(16 * 4, 5, 0.5);
  const bytes = buildModel({
    opset,
    inputs: [valueInfo('x', ['batch', 4])],
    outputs: [valueInfo('probs', ['batch', 8]), valueInfo('rest', ['batch', 8])],
    nodes: [
      node('Unsqueeze', ['x'], ['x3'], { axes: [2] }, 'unsqueeze'),
      node('Squeeze', ['x3'], ['x2'], { axes: [2] }, 'squeeze'),
      node('Gemm', ['x2', 'fc.weight'], ['h'], { transB: 1 }, 'fc'),
      node('Split', ['h'], ['a', 'rest'], { axis: 1, split: [8, 8] }, 'split'),
      node('Softmax', ['a'], ['probs'], { axis: softmaxAxis }, 'softmax'),
    ],
    initializers: [initializer('fc.weight', [16, 4], weight)],
  });
  // The Softmax input's rank is declared (as shape inference writes it): the upgrade needs it.
  const model = OnnxModel.fromBytes(bytes);
  model.graph.valueInfo = [valueInfo('a', ['batch', 8])];
  return model.toBytes();
}

describe('upgradeToOpset13', () => {
  it('moves Squeeze/Unsqueeze/Split attributes to inputs, keeps the last-axis Softmax, and computes the same outputs', async () => {
    const bytes = attributeOpsModel(11);
    const undeclared = OnnxModel.fromBytes(bytes);
    undeclared.graph.valueInfo = [];
    expect(upgradeToOpset13(undeclared).blockers).toEqual(['"softmax" (Softmax): axis 1 on a tensor of unknown rank means a different reduction at opset 13']);
    const upgrade = upgradeToOpset13(OnnxModel.fromBytes(bytes));
    expect(upgrade.blockers).toEqual([]);
    const upgraded = upgrade.model!;
    expect(upgraded.opsetVersion()).toBe(13);
    expect(upgrade.changes[0]).toBe('default-domain opset 11 -> 13');
    expect(upgrade.changes.slice(1).map((c) => c.split(':')[0])).toEqual(['"unsqueeze" (Unsqueeze)', '"squeeze" (Squeeze)', '"split" (Split)']);
    const squeeze = upgraded.nodes.find((n) => n.name === 'squeeze')!;
    expect(squeeze.proto.attribute).toEqual([]);
    expect(upgraded.constantTensor(squeeze.inputs[1]!)!.dims).toEqual([1]);
    const x = randomValues(3 * 4, 8, 2);
    const before = await runModel(bytes, { x: { data: x, dims: [3, 4] } });
    const after = await runModel(upgraded.toBytes(), { x: { data: x, dims: [3, 4] } });
    expect(after).toEqual(before);
  });

  it('refuses what would change meaning, and says which node', () => {
    // Softmax over axis 1 of a rank-3 tensor is a 2-D coercion before 13 and one axis from 13 on.
    const bytes = buildModel({
      opset: 12,
      inputs: [valueInfo('x', ['batch', 3, 5])],
      outputs: [valueInfo('y', ['batch', 3, 5])],
      nodes: [node('Softmax', ['x'], ['y'], { axis: 1 }, 'softmax3d')],
    });
    const upgrade = upgradeToOpset13(OnnxModel.fromBytes(bytes));
    expect(upgrade.model).toBeUndefined();
    expect(upgrade.blockers).toEqual(['"softmax3d" (Softmax): axis 1 on a tensor of rank 3 means a different reduction at opset 13']);
    expect(upgradeToOpset13(OnnxModel.fromBytes(cnnModel({ opset: 10 }).bytes)).blockers[0]).toMatch(/only opsets 11 and 12/);
  });
});

describe('checkQuantizable: before any calibration', () => {
  it('opset 12 with upgradable ops: quantized per channel at opset 13, saying what changed; close to FP32', async () => {
    const test = cnnModel({ opset: 12 });
    const model = OnnxModel.fromBytes(test.bytes);
    const ready = checkQuantizable(model);
    expect(ready.opset).toBe(13);
    expect(ready.perChannelWeights).toBe(true);
    expect(ready.notes).toEqual(['upgraded for per-channel Q/DQ: default-domain opset 12 -> 13']);
    expect(ready.plan.activationNames).toEqual(planQuantization(model).activationNames);
    const amax = await calibrateAmax(model, ready.plan, [test.feeds(8, 1)]);
    const qdq = insertQdq(model, { amax });
    expect(qdq.opsetVersion()).toBe(13);
    expect(weightQuantizers(qdq).map((w) => [w.tensor, Number(w.axis), w.scaleDims])).toEqual([
      ['conv1.weight', 0, [4]],
      ['fc.weight', 0, [10]],
    ]);
    expect(model.opsetVersion()).toBe(12); // the model given is not changed
    const feeds = test.feeds(4, 3);
    expect(cosine((await runModel(test.bytes, feeds)).get('logits')!, (await runModel(qdq.toBytes(), feeds)).get('logits')!)).toBeGreaterThan(0.999);
  });

  it('opset 10 (not upgradable): quantized anyway with one scale per weight tensor, saying so', async () => {
    const test = cnnModel({ opset: 10 });
    const model = OnnxModel.fromBytes(test.bytes);
    const ready = checkQuantizable(model);
    expect(ready.opset).toBe(10);
    expect(ready.perChannelWeights).toBe(false);
    expect(ready.notes[0]).toMatch(/^opset 10 kept .*one scale per tensor/);
    const amax = await calibrateAmax(model, ready.plan, [test.feeds(8, 1)]);
    const qdq = insertQdq(model, { amax });
    expect(qdq.opsetVersion()).toBe(10);
    expect(weightQuantizers(qdq).map((w) => [w.tensor, w.axis, w.scaleDims])).toEqual([
      ['conv1.weight', undefined, []],
      ['fc.weight', undefined, []],
    ]);
    const feeds = test.feeds(4, 3);
    expect(cosine((await runModel(test.bytes, feeds)).get('logits')!, (await runModel(qdq.toBytes(), feeds)).get('logits')!)).toBeGreaterThan(0.995);
  });

  it('refuses, with no amax at hand: opset 9, Q/DQ already there, FP16 weights, bad options', () => {
    const old = caught(() => checkQuantizable(OnnxModel.fromBytes(cnnModel({ opset: 9 }).bytes)));
    expect(old.code).toBe('ERR_BAD_MODEL');
    expect(old.actual).toBe(9);
    expect(old.details.blockers).toEqual(['opset 9: only opsets 11 and 12 are upgraded here (Clip, Pad, Resize and others changed at 11)']);
    const quantized = insertQdq(OnnxModel.fromBytes(cnnModel().bytes), { amax: { input: 1, relu1: 1, flat: 1 } });
    expect(caught(() => checkQuantizable(quantized)).code).toBe('ERR_BAD_MODEL');
    const fp16 = OnnxModel.fromBytes(cnnModel().bytes);
    const weight = fp16.constantTensor('conv1.weight')!.proto;
    weight.dataType = onnx.TensorProto.DataType.FLOAT16;
    weight.rawData = new Uint8Array(4 * 3 * 3 * 3 * 2);
    expect(caught(() => checkQuantizable(fp16)).input).toBe('conv1.weight');
    expect(caught(() => checkQuantizable(OnnxModel.fromBytes(cnnModel().bytes), { placement: 'nope' as 'tensorrt' })).input).toBe('placement');
  });
});
