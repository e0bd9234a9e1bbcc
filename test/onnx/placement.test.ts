import { describe, expect, it } from 'vitest';
import { OnnxModel, insertQdq, planQuantization, DEFAULT_MIN_CHANNELS, type PlanOptions } from '../../src/index.js';
import { calibrateAmax, cosine, runModel } from './helpers.js';
import { cnnModel, concatModel, maxPoolModel, residual16Model, shortcutConvModel, sideOutputModel, type TestModel } from './models.js';
import { caught } from '../caught.js';

const tensorrt: PlanOptions = { placement: 'tensorrt' };

async function quantize(test: TestModel, options: PlanOptions = tensorrt) {
  const model = OnnxModel.fromBytes(test.bytes);
  const plan = planQuantization(model, options);
  const amax = await calibrateAmax(model, plan, [test.feeds(8, 1), test.feeds(8, 2)]);
  return { model, plan, amax, qdq: insertQdq(model, { ...options, amax }) };
}

/** Tensors that a QuantizeLinear reads, with their scale. */
function quantizedTensors(qdq: OnnxModel): Map<string, number[]> {
  const scales = new Map<string, number[]>();
  for (const n of qdq.nodes) if (n.opType === 'QuantizeLinear') scales.set(n.inputs[0]!, [...qdq.tensorWeights(n.inputs[1]!)]);
  return scales;
}

function dequantizedName(qdq: OnnxModel, tensor: string): string {
  const q = qdq.nodes.find((n) => n.opType === 'QuantizeLinear' && n.inputs[0] === tensor)!;
  return qdq.nodes.find((n) => n.opType === 'DequantizeLinear' && n.inputs[0] === q.outputs[0])!.outputs[0]!;
}

function inputsOf(qdq: OnnxModel, name: string): readonly string[] {
  return qdq.nodes.find((n) => n.name === name)!.inputs;
}

/** Cosine similarity of every output of the float and the Q/DQ model on a batch not used for calibration. */
async function closeness(test: TestModel, qdq: OnnxModel): Promise<number[]> {
  const feeds = test.feeds(8, 42);
  const fp32 = await runModel(test.bytes, feeds);
  const int8 = await runModel(qdq.toBytes(), feeds);
  return [...fp32].map(([name, values]) => cosine(values, int8.get(name)!));
}

describe("placement: 'tensorrt'", () => {
  it('residual block: Q/DQ on the skip input of the Add only; the conv branch fuses, nothing after the Add', async () => {
    const test = residual16Model();
    const { plan, qdq } = await quantize(test);
    expect(plan.activationNames).toEqual(['input', 'r1']);
    expect(plan.quantizedNodes.map((n) => n.name)).toEqual(['conv1', 'conv2', 'residual_add']);
    expect([...quantizedTensors(qdq).keys()].sort()).toEqual(['conv1.weight', 'conv2.weight', 'input', 'r1']);
    // The skip connection shares the pair that conv1 reads; the conv2 output goes into the Add as it is.
    expect(inputsOf(qdq, 'residual_add')).toEqual(['c2', dequantizedName(qdq, 'input')]);
    expect(inputsOf(qdq, 'conv1')[0]).toBe(dequantizedName(qdq, 'input'));
    expect(inputsOf(qdq, 'gap')).toEqual(['block_out']);
    for (const c of await closeness(test, qdq)) expect(c).toBeGreaterThan(0.999);

    // The original placement puts pairs on both Add inputs and on the pooling input.
    const original = planQuantization(OnnxModel.fromBytes(test.bytes));
    expect(original.activationNames).toEqual(['input', 'r1', 'c2', 'block_out']);
    expect(original.scaleGroups).toEqual([]);
  });

  it('residual block with a shortcut Conv: the Add fuses into the deeper main path, the shortcut output gets the Q/DQ', async () => {
    const test = shortcutConvModel();
    const { plan, qdq } = await quantize(test);
    expect(plan.activationNames).toEqual(['input', 'ra', 's']);
    expect(inputsOf(qdq, 'residual_add')).toEqual([dequantizedName(qdq, 's'), 'b']);
    expect(quantizedTensors(qdq).has('b')).toBe(false);
    for (const c of await closeness(test, qdq)) expect(c).toBeGreaterThan(0.999);
  });

  it('Concat: every input and the output share one scale (the largest amax), so TensorRT needs no requantize', async () => {
    const test = concatModel();
    const { plan, amax, qdq } = await quantize(test);
    expect(plan.activationNames).toEqual(['input', 'ra', 'rb', 'cat']);
    expect(plan.scaleGroups).toEqual([['ra', 'rb', 'cat']]);
    expect(amax.get('ra')).not.toBe(amax.get('rb')); // the sharing is not a coincidence of equal ranges
    const scales = quantizedTensors(qdq);
    const shared = Math.fround(Math.max(amax.get('ra')!, amax.get('rb')!, amax.get('cat')!) / 127);
    for (const tensor of ['ra', 'rb', 'cat']) expect(scales.get(tensor)).toEqual([shared]);
    expect(inputsOf(qdq, 'concat')).toEqual([dequantizedName(qdq, 'ra'), dequantizedName(qdq, 'rb')]);
    expect(inputsOf(qdq, 'convC')[0]).toBe(dequantizedName(qdq, 'cat'));
    expect(scales.has('out')).toBe(false);
    for (const c of await closeness(test, qdq)) expect(c).toBeGreaterThan(0.999);
  });

  it('MaxPool: input and output share one scale', async () => {
    const test = maxPoolModel();
    const { plan, amax, qdq } = await quantize(test);
    expect(plan.activationNames).toEqual(['input', 'r1', 'pool']);
    expect(plan.scaleGroups).toEqual([['r1', 'pool']]);
    const scales = quantizedTensors(qdq);
    expect(scales.get('pool')).toEqual(scales.get('r1'));
    expect(scales.get('r1')).toEqual([Math.fround(Math.max(amax.get('r1')!, amax.get('pool')!) / 127)]);
    expect(inputsOf(qdq, 'maxpool')).toEqual([dequantizedName(qdq, 'r1')]);
    expect(inputsOf(qdq, 'conv2')[0]).toBe(dequantizedName(qdq, 'pool'));
    for (const c of await closeness(test, qdq)) expect(c).toBeGreaterThan(0.999);
  });

  it('no Q/DQ on a graph output: the layer that reads one stays in float', async () => {
    const test = sideOutputModel();
    const { plan, qdq } = await quantize(test);
    expect(plan.activationNames).toEqual(['input']);
    expect(plan.quantizedNodes.map((n) => n.name)).toEqual(['conv1']);
    expect(quantizedTensors(qdq).has('features')).toBe(false);
    expect(inputsOf(qdq, 'conv2')).toEqual(['features', 'conv2.weight']);
    expect(qdq.outputs()).toEqual(OnnxModel.fromBytes(test.bytes).outputs());
    for (const c of await closeness(test, qdq)) expect(c).toBeGreaterThan(0.999);
    // The original placement quantizes it for conv2 (the graph output itself still reads the float tensor).
    expect(planQuantization(OnnxModel.fromBytes(test.bytes)).activationNames).toEqual(['input', 'features']);
  });

  it(`layers with fewer than minChannels (default ${DEFAULT_MIN_CHANNELS}) channels stay in float; minChannels: 1 keeps them`, async () => {
    const test = cnnModel(); // Conv 3 -> 4 channels, Gemm 64 -> 10
    const small = planQuantization(OnnxModel.fromBytes(test.bytes), tensorrt);
    expect(small.quantizedNodes).toEqual([]);
    expect(small.smallNodes.map((n) => n.name)).toEqual(['conv1_node', 'fc_node']);
    const { plan, qdq } = await quantize(test, { placement: 'tensorrt', minChannels: 1 });
    // The MaxPool output goes through Flatten, not into a quantized layer: the pool stays in float.
    expect(plan.activationNames).toEqual(['input', 'flat']);
    expect(plan.quantizedNodes.map((n) => n.name)).toEqual(['conv1_node', 'fc_node']);
    expect(plan.smallNodes).toEqual([]);
    for (const c of await closeness(test, qdq)) expect(c).toBeGreaterThan(0.999);
  });

  it('exclusions apply as in the original placement', () => {
    const model = OnnxModel.fromBytes(concatModel().bytes);
    const plan = planQuantization(model, { ...tensorrt, exclude: { names: ['convC'] } });
    expect(plan.excludedNodes.map((n) => n.name)).toEqual(['convC']);
    // Nothing reads the Concat output through Q/DQ any more, so the Concat stays in float too.
    expect(plan.activationNames).toEqual(['input']);
  });

  it('bad placement or minChannels: ERR_BAD_OPTION naming the option', () => {
    const model = OnnxModel.fromBytes(cnnModel().bytes);
    for (const [options, input] of [
      [{ placement: 'fast' }, 'placement'],
      [{ placement: 'tensorrt', minChannels: 0 }, 'minChannels'],
      [{ minChannels: 2.5 }, 'minChannels'],
    ] as const) {
      const error = caught(() => planQuantization(model, options as PlanOptions));
      expect(error.code).toBe('ERR_BAD_OPTION');
      expect(error.input).toBe(input);
      expect(caught(() => insertQdq(model, { ...(options as PlanOptions), amax: {} })).input).toBe(input);
    }
  });
});
