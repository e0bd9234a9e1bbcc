import { describe, expect, it } from 'vitest';
import { OnnxModel, calibrate, checkQuantizable, calibratorFromBatches, insertQdq, keepInHigherPrecision, measureEndToEnd, planQuantization, sensitivityReport, DEFAULT_MIN_CHANNELS, type PlanOptions } from '../../src/index.js';
import { buildModel, calibrateAmax, cosine, initializer, node, randomValues, runModel, valueInfo } from './helpers.js';
import { cnnModel, concatModel, convTransposeModel, denseHardSwishModel, depthwiseBlockModel, depthwiseSqueezeExciteModel, maxPoolModel, neckModel, residual16Model, segmentationHeadModel, sharedBranchAddModel, twoLayerHeadModel, shortcutConvModel, sharedFloatReaderModel, sideOutputModel, smallResNetModel, squeezeExciteModel, type TestModel } from './models.js';
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

  it('residual Add: a Conv whose output is also read elsewhere cannot take the Add into its epilogue, however deep', async () => {
    const test = sharedBranchAddModel();
    const { plan, qdq } = await quantize(test);
    // p (the deeper branch) is read by convE too, so the Add fuses into convQ and reads p through convE's pair.
    expect(plan.activationNames).toEqual(['input', 'ra', 'p']);
    expect(inputsOf(qdq, 'residual_add')).toEqual([dequantizedName(qdq, 'p'), 'q']);
    expect(inputsOf(qdq, 'convE')[0]).toBe(dequantizedName(qdq, 'p'));
    expect(quantizedTensors(qdq).has('q')).toBe(false);
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

  it(`layers smaller than minChannels (default ${DEFAULT_MIN_CHANNELS}) stay in float; minChannels: 1 keeps them`, async () => {
    const test = cnnModel(); // Conv 3 -> 4 channels, Gemm 64 -> 10
    const small = planQuantization(OnnxModel.fromBytes(test.bytes), tensorrt);
    expect(small.quantizedNodes).toEqual([]);
    expect(small.smallNodes.map((n) => n.name)).toEqual(['conv1_node', 'fc_node']);
    expect(small.activationNames).toEqual([]);
    // ConvTranspose: 3 output channels (weight [C_in, C_out / group, kH, kW]).
    expect(planQuantization(OnnxModel.fromBytes(convTransposeModel().bytes), tensorrt).smallNodes.map((n) => n.name)).toEqual(['deconv']);
    const { plan, amax, qdq } = await quantize(test, { placement: 'tensorrt', minChannels: 1 });
    // The MaxPool output reaches the quantized Gemm through Flatten: the pool runs in INT8 too, its output gets a pair
    // before the Flatten (so the Quantize follows the pool), and input, output and Flatten output share one scale (the
    // same values).
    expect(plan.activationNames).toEqual(['input', 'relu1', 'pool1', 'flat']);
    expect(plan.quantizedNodes.map((n) => n.name)).toEqual(['conv1_node', 'fc_node', 'pool1_node', 'flatten_node']);
    expect(plan.scaleGroups).toEqual([['relu1', 'pool1', 'flat']]);
    const scales = quantizedTensors(qdq);
    expect(scales.get('relu1')).toEqual([Math.fround(Math.max(amax.get('relu1')!, amax.get('pool1')!, amax.get('flat')!) / 127)]);
    expect(scales.get('flat')).toEqual(scales.get('relu1'));
    expect(scales.get('pool1')).toEqual(scales.get('relu1'));
    expect(inputsOf(qdq, 'pool1_node')).toEqual([dequantizedName(qdq, 'relu1')]);
    expect(inputsOf(qdq, 'flatten_node')).toEqual([dequantizedName(qdq, 'pool1')]);
    expect(plan.smallNodes).toEqual([]);
    for (const c of await closeness(test, qdq)) expect(c).toBeGreaterThan(0.999);
  });

  it('ResNet in miniature: the 3-channel stem is INT8, MaxPool shares its scale, the pooled head is a 1x1 Conv reading INT8', async () => {
    const test = smallResNetModel();
    const { plan, qdq } = await quantize(test);
    // The stem has 3 input but 16 output channels: quantized (its input is the graph input).
    expect(plan.smallNodes).toEqual([]);
    expect(plan.quantizedNodes.map((n) => n.name)).toEqual(['stem', 'conv1', 'conv2', 'fc', 'residual_add', 'gap', 'maxpool']);
    expect(plan.activationNames).toEqual(['input', 'sr', 'pool', 'r1', 'block_out', 'gap']);
    // MaxPool keeps values: one scale; GlobalAveragePool averages: its input keeps a scale of its own.
    expect(plan.scaleGroups).toEqual([['sr', 'pool']]);
    expect(inputsOf(qdq, 'stem')[0]).toBe(dequantizedName(qdq, 'input'));
    expect(inputsOf(qdq, 'maxpool')).toEqual([dequantizedName(qdq, 'sr')]);
    // The Add fuses into conv2 and reads the skip (the MaxPool output) through the pair conv1 reads too.
    expect(inputsOf(qdq, 'residual_add')).toEqual(['c2', dequantizedName(qdq, 'pool')]);
    expect(inputsOf(qdq, 'conv1')[0]).toBe(dequantizedName(qdq, 'pool'));
    // The block output is read through a pair (by the pooling), so conv2 + Add + Relu can write INT8.
    expect(inputsOf(qdq, 'gap')).toEqual([dequantizedName(qdq, 'block_out')]);
    // pooling -> Flatten -> Gemm is now pooling -> 1x1 Conv (named fc) -> Flatten: the Conv reads the pooled tensor
    // through its pair, as TensorRT's implicit INT8 runs such a head (pooled-gemm.ts).
    expect(qdq.nodes.filter((n) => n.name === 'fc' || n.name === 'flatten').map((n) => n.opType)).toEqual(['Conv', 'Flatten']);
    expect(inputsOf(qdq, 'fc')[0]).toBe(dequantizedName(qdq, 'gap'));
    expect(inputsOf(qdq, 'flatten')).toEqual(qdq.nodes.find((n) => n.name === 'fc')!.outputs);
    const scales = quantizedTensors(qdq);
    expect(scales.get('block_out')).not.toEqual(scales.get('gap'));
    // Nothing on the graph output.
    expect(scales.has('logits')).toBe(false);
    expect(qdq.outputs()).toEqual(OnnxModel.fromBytes(test.bytes).outputs());
    for (const c of await closeness(test, qdq)) expect(c).toBeGreaterThan(0.999);

    // minChannels 17 leaves every weighted layer in float, and with them the pools and the Add: no pair at all.
    const big = planQuantization(OnnxModel.fromBytes(test.bytes), { placement: 'tensorrt', minChannels: 17 });
    expect(big.smallNodes.map((n) => n.name)).toEqual(['stem', 'conv1', 'conv2', 'fc']);
    expect(big.activationNames).toEqual([]);
  });

  it('depthwise conv followed by an affine and a decomposed hard-swish: the affine folds in, its output gets a pair, so it writes INT8', async () => {
    const test = depthwiseBlockModel('affine-hardswish');
    const { plan, qdq } = await quantize(test);
    // The constant affine (Mul, Add) is folded into the depthwise weights and bias: dw now writes 'da'.
    expect(qdq.nodes.some((n) => n.name === 'affine_mul' || n.name === 'affine_add')).toBe(false);
    expect(plan.activationNames).toEqual(['input', 'r1', 'da', 'h']);
    expect(plan.quantizedNodes.map((n) => n.name)).toEqual(['conv1', 'dw', 'conv2', 'hs_add', 'hs_mul']);
    // The hard-swish reads the depthwise output through the pair, and runs as one pointwise layer INT8 to INT8.
    const dqDa = dequantizedName(qdq, 'da');
    expect(inputsOf(qdq, 'hs_add')[0]).toBe(dqDa);
    expect(inputsOf(qdq, 'hs_mul')).toEqual([dqDa, 'dc']);
    for (const c of await closeness(test, qdq)) expect(c).toBeGreaterThan(0.995);
  });

  it('segmentation head: the 1-channel upsampling deconvolution becomes Conv + DepthToSpace, INT8 since an INT8 layer writes its input', async () => {
    const test = segmentationHeadModel();
    const { plan, qdq } = await quantize(test);
    // 'up' (16 -> 1 channel, kernel = stride = 2) is now a 1x1 Conv to 4 channels of the same name + DepthToSpace.
    expect(qdq.nodes.filter((n) => n.opType !== 'QuantizeLinear' && n.opType !== 'DequantizeLinear').map((n) => `${n.name}:${n.opType}`)).toEqual(['conv:Conv', 'relu:Relu', 'up:Conv', 'up_depth_to_space:DepthToSpace', 'sigmoid:Sigmoid']);
    // Smaller than minChannels, but in float it would make conv write FP32 (rule 5): quantized.
    expect(plan.smallNodes).toEqual([]);
    expect(plan.quantizedNodes.map((n) => n.name)).toEqual(['conv', 'up']);
    expect(plan.activationNames).toEqual(['input', 'r']);
    expect(qdq.outputs()).toEqual(OnnxModel.fromBytes(test.bytes).outputs());
    for (const c of await closeness(test, qdq)) expect(c).toBeGreaterThan(0.995);
    expect(checkQuantizable(OnnxModel.fromBytes(test.bytes), tensorrt).notes.join('\n')).toMatch(/rewrote 1 transposed convolution.*: up$/m);

    // Behind a layer that stays in float, the small layer stays in float too (still rewritten: faster in any precision).
    const floatConv = planQuantization(OnnxModel.fromBytes(test.bytes), { ...tensorrt, exclude: { names: ['conv'] } });
    expect(floatConv.smallNodes.map((n) => `${n.name}:${n.opType}`)).toEqual(['up:Conv']);
    expect(floatConv.activationNames).toEqual([]);
    // Excluded, it is neither rewritten nor quantized; the original placement rewrites nothing.
    const excluded = await quantize(test, { ...tensorrt, exclude: { names: ['up'] } });
    expect(excluded.qdq.nodes.find((n) => n.name === 'up')!.opType).toBe('ConvTranspose');
    expect(excluded.plan.excludedNodes.map((n) => n.name)).toEqual(['up']);
    expect((await quantize(test, {})).qdq.nodes.find((n) => n.name === 'up')!.opType).toBe('ConvTranspose');
  });

  it('segmentation head: a deconvolution whose Conv form would not be small is left as it is; a Constant weight may be excluded by name', async () => {
    // 4 output channels x 2 x 2 = a 16-channel Conv: not smaller than minChannels, so not rewritten (rules 1 and 5 then
    // judge the 4-channel deconvolution as they would have).
    const four = segmentationHeadModel({ outChannels: 4 });
    const { plan, qdq } = await quantize(four);
    expect(qdq.nodes.find((n) => n.name === 'up')!.opType).toBe('ConvTranspose');
    expect(plan.quantizedNodes.map((n) => n.name)).toEqual(['conv', 'up']);
    const floatConv = planQuantization(OnnxModel.fromBytes(four.bytes), { ...tensorrt, exclude: { names: ['conv'] } });
    expect(floatConv.smallNodes.map((n) => `${n.name}:${n.opType}`)).toEqual(['up:ConvTranspose']);
    // The rewrite removes the Constant node that held the weight; naming it in exclude is still accepted (names are
    // checked against the model given), and the 1-channel deconvolution is still rewritten.
    const constant = OnnxModel.fromBytes(segmentationHeadModel({ weightConstant: true }).bytes);
    const named = planQuantization(constant, { ...tensorrt, exclude: { names: ['up_weight_constant'] } });
    expect(named.quantizedNodes.map((n) => `${n.name}:${n.opType}`)).toEqual(['conv:Conv', 'up:Conv']);
  });

  it('a dense conv whose epilogue feeds no INT8 layer (a Sigmoid in front of the output) keeps it fused', () => {
    const test = segmentationHeadModel({ outChannels: 16 });
    // 16 output channels: not small, not rewritten; 'up' is a ConvTranspose, its Sigmoid reaches the graph output.
    const model = OnnxModel.fromBytes(buildModel({
      inputs: [valueInfo('input', ['batch', 16, 6, 6])],
      outputs: [valueInfo('out', ['batch', 16, 6, 6])],
      nodes: [
        node('Conv', ['input', 'conv.weight'], ['c'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv'),
        node('Relu', ['c'], ['r'], {}, 'relu'),
        node('Conv', ['r', 'conv.weight'], ['c2'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv2'),
        node('Sigmoid', ['c2'], ['out'], {}, 'sigmoid'),
      ],
      initializers: [initializer('conv.weight', [16, 16, 3, 3], test.weights.get('conv.weight')!.values)],
    }));
    const plan = planQuantization(model, tensorrt);
    expect(plan.activationNames).toEqual(['input', 'r']);
    expect(plan.quantizedNodes.map((n) => n.name)).toEqual(['conv', 'conv2']);
  });

  it('classifier head of two Gemms: the first becomes a 1x1 Conv, and the small second one is INT8 because that Conv writes its input', async () => {
    const test = twoLayerHeadModel();
    const { plan, qdq } = await quantize(test);
    expect(qdq.nodes.filter((n) => n.opType !== 'QuantizeLinear' && n.opType !== 'DequantizeLinear').map((n) => `${n.name}:${n.opType}`)).toEqual(['conv:Conv', 'relu:Relu', 'gap:GlobalAveragePool', 'fc1:Conv', 'flatten:Flatten', 'fc1_relu:Relu', 'fc2:Gemm']);
    // fc2 (10 outputs) is smaller than minChannels, but fc1 writes its input through the Flatten: rule 5.
    expect(plan.smallNodes).toEqual([]);
    expect(plan.quantizedNodes.map((n) => n.name)).toContain('fc2');
    for (const c of await closeness(test, qdq)) expect(c).toBeGreaterThan(0.99);
    // exclude by op type 'Conv' does not catch the Gemm it did not name: the head is left a Gemm, and not excluded.
    const convsExcluded = planQuantization(OnnxModel.fromBytes(test.bytes), { ...tensorrt, exclude: { opTypes: ['Conv'] } });
    expect(convsExcluded.excludedNodes.map((n) => `${n.name}:${n.opType}`)).toEqual(['conv:Conv']);
    expect(convsExcluded.quantizedNodes.map((n) => `${n.name}:${n.opType}`)).toContain('fc1:Gemm');
  });

  it('dense conv followed by a hard-swish: its output gets a pair, so the hard-swish runs as an INT8 layer of its own', async () => {
    const test = denseHardSwishModel();
    const { plan, qdq } = await quantize(test);
    expect(plan.activationNames).toEqual(['input', 'c1', 'h']);
    expect(plan.quantizedNodes.map((n) => n.name)).toEqual(['conv1', 'conv2', 'hs_add', 'hs_mul']);
    // Both hard-swish inputs read the one pair: the pointwise layer runs INT8 to INT8.
    expect(inputsOf(qdq, 'hs_add')[0]).toBe(dequantizedName(qdq, 'c1'));
    expect(inputsOf(qdq, 'hs_mul')).toEqual([dequantizedName(qdq, 'c1'), 'cc']);
    for (const c of await closeness(test, qdq)) expect(c).toBeGreaterThan(0.995);
    // conv2's output is the graph output, which never gets a pair.
    expect(plan.activationNames).not.toContain('out');
    // The original placement has no epilogue rule.
    const original = planQuantization(OnnxModel.fromBytes(test.bytes));
    expect(original.activationNames).toEqual(['input', 'h']);
  });

  it('fusedEpilogues: a selected dense conv keeps its hard-swish in its epilogue (no pair between them)', async () => {
    const test = denseHardSwishModel();
    const fused = await quantize(test, { ...tensorrt, fusedEpilogues: { names: ['conv1'] } });
    expect(fused.plan.activationNames).toEqual(['input', 'h']);
    expect(fused.plan.quantizedNodes.map((n) => n.name)).toEqual(['conv1', 'conv2']);
    expect(inputsOf(fused.qdq, 'hs_add')[0]).toBe('c1');
    for (const c of await closeness(test, fused.qdq)) expect(c).toBeGreaterThan(0.995);
    const byOpType = planQuantization(OnnxModel.fromBytes(test.bytes), { ...tensorrt, fusedEpilogues: { opTypes: ['Conv'] } });
    expect(byOpType.activationNames).toEqual(['input', 'h']);
    // A depthwise convolution is split whatever the option says: TensorRT does not fuse such chains into it.
    const depthwise = OnnxModel.fromBytes(depthwiseBlockModel('affine-hardswish').bytes);
    expect(planQuantization(depthwise, { ...tensorrt, fusedEpilogues: { names: ['dw'] } }).activationNames).toEqual(planQuantization(depthwise, tensorrt).activationNames);
  });

  it('fusedEpilogues: names are those of the model given (a folded node may be named); non-conv nodes change nothing', () => {
    const model = OnnxModel.fromBytes(depthwiseBlockModel('affine-hardswish').bytes);
    const plain = planQuantization(model, tensorrt);
    // affine_mul is folded into dw in the plan's copy, but the model given has it: accepted, and it is no convolution.
    expect(planQuantization(model, { ...tensorrt, fusedEpilogues: { names: ['affine_mul', 'hs_add'] } })).toEqual(plain);
    const amax = Object.fromEntries(plain.activationNames.map((t) => [t, 1]));
    expect(insertQdq(model, { amax, placement: 'tensorrt', fusedEpilogues: { names: ['affine_mul'] } }).toBytes()).toEqual(insertQdq(model, { amax, placement: 'tensorrt' }).toBytes());
  });

  it('fusedEpilogues naming a node the model lacks, or of the wrong type: ERR_BAD_OPTION naming fusedEpilogues', () => {
    const model = OnnxModel.fromBytes(denseHardSwishModel().bytes);
    // Checked for either placement: a name the model lacks is a mistake whatever the rules.
    expect(caught(() => planQuantization(model, { fusedEpilogues: { names: ['conv9'] } }))).toMatchObject({ code: 'ERR_BAD_OPTION', input: 'fusedEpilogues.names' });
    for (const [fusedEpilogues, input] of [
      [{ opTypes: 'Conv' }, 'fusedEpilogues.opTypes'],
      [{ names: [1] }, 'fusedEpilogues.names'],
      [{ name: ['conv1'] }, 'fusedEpilogues'],
      [['conv1'], 'fusedEpilogues'],
      [null, 'fusedEpilogues'],
    ] as const) {
      expect(caught(() => planQuantization(model, { ...tensorrt, fusedEpilogues: fusedEpilogues as unknown as PlanOptions['fusedEpilogues'] }))).toMatchObject({ code: 'ERR_BAD_OPTION', input });
    }
    expect(caught(() => planQuantization(model, { ...tensorrt, exclude: { opTypes: 'Conv' } as unknown as PlanOptions['exclude'] }))).toMatchObject({ code: 'ERR_BAD_OPTION', input: 'exclude.opTypes' });
    expect(caught(() => planQuantization(model, { ...tensorrt, perChannelWeights: 'no' as unknown as boolean }))).toMatchObject({ code: 'ERR_BAD_OPTION', input: 'perChannelWeights' });
    const unknown = caught(() => planQuantization(model, { ...tensorrt, fusedEpilogues: { names: ['conv9'] } }));
    expect(unknown).toMatchObject({ code: 'ERR_BAD_OPTION', input: 'fusedEpilogues.names', actual: ['conv9'] });
    const wrongType = caught(() => planQuantization(model, { ...tensorrt, fusedEpilogues: 'conv1' as unknown as PlanOptions['fusedEpilogues'] }));
    expect(wrongType).toMatchObject({ code: 'ERR_BAD_OPTION', input: 'fusedEpilogues' });
    const throwing = caught(() => planQuantization(model, { ...tensorrt, fusedEpilogues: () => { throw new Error('boom'); } }));
    expect(throwing).toMatchObject({ code: 'ERR_BAD_OPTION', input: 'fusedEpilogues' });
  });

  it("calibrate({ placement: 'tensorrt' }) calibrates that plan's tensors and toQdqModel() writes it", async () => {
    const test = smallResNetModel();
    const model = OnnxModel.fromBytes(test.bytes);
    const batches = [1, 2, 3].map((seed) => ({ input: { data: test.feeds(8, seed).input!.data, shape: test.feeds(8, seed).input!.dims } }));
    const result = await calibrate(model, calibratorFromBatches(batches), { placement: 'tensorrt' });
    const plan = planQuantization(model, tensorrt);
    expect([...result.tensors.keys()].sort()).toEqual([...plan.activationNames].sort());
    expect(result.parameters.placement).toBe('tensorrt');
    const written = OnnxModel.fromBytes(result.toQdqModel());
    expect(written.toBytes()).toEqual(insertQdq(model, { amax: result.amax(), placement: 'tensorrt' }).toBytes());
    // The placements differ on this model (the residual Add's main path, the pooled head): the option took effect.
    const byDefault = await calibrate(model, calibratorFromBatches(batches));
    expect(byDefault.parameters.placement).toBeUndefined();
    expect(quantizedTensors(written)).not.toEqual(quantizedTensors(OnnxModel.fromBytes(byDefault.toQdqModel())));
    for (const c of await closeness(test, written)) expect(c).toBeGreaterThan(0.995);
    // 'auto''s whole-model check weighed Q/DQ models of the same placement.
    expect(result.modelCheck?.evaluations).toBeGreaterThan(0);
    await expect(calibrate(model, calibratorFromBatches(batches), { placement: 'fastest' as unknown as 'tensorrt' })).rejects.toMatchObject({ code: 'ERR_BAD_OPTION', input: 'placement' });
    // tensors replace the placement's plan: both at once is refused before any batch is read.
    await expect(calibrate(model, calibratorFromBatches(batches), { placement: 'tensorrt', tensors: ['input'] })).rejects.toMatchObject({ code: 'ERR_BAD_OPTION', input: 'tensors' });
    // Mixed precision and the report work on the default placement: under 'tensorrt' keeping conv2 in float would put
    // a pair on c2, which was not calibrated; they say so instead of failing inside insertQdq.
    expect(result.tensors.has('c2')).toBe(false);
    expect(caught(() => sensitivityReport(result))).toMatchObject({ code: 'ERR_BAD_OPTION', input: 'result' });
    await expect(keepInHigherPrecision(model, result, batches, { maxDrop: 0 })).rejects.toMatchObject({ code: 'ERR_BAD_OPTION', input: 'result', message: expect.stringMatching(/'layer-inputs' placement/) });
    await expect(measureEndToEnd(model, result, batches)).rejects.toMatchObject({ code: 'ERR_BAD_OPTION', input: 'result' });
    // A cache of this calibration lacks tensors the default plan needs: insertQdq's error says why.
    const missing = caught(() => insertQdq(model, { amax: result.amax() }));
    expect(missing).toMatchObject({ code: 'ERR_BAD_OPTION' });
    expect((missing as unknown as { fixes: string[] }).fixes.join(' ')).toMatch(/another placement/);
  });

  it("calibrate() on the 'tensorrt' plan's tensors gives insertQdq every amax it needs (docs/qdq.md)", async () => {
    const test = depthwiseBlockModel('affine-hardswish');
    const model = OnnxModel.fromBytes(test.bytes);
    const tensors = planQuantization(model, tensorrt).activationNames;
    const batches = [1, 2, 3].map((seed) => {
      const feed = test.feeds(8, seed).input!;
      return { input: { data: feed.data, shape: feed.dims } };
    });
    const result = await calibrate(model, calibratorFromBatches(batches), { tensors });
    const qdq = insertQdq(model, { amax: result.amax(), placement: 'tensorrt' });
    expect(inputsOf(qdq, 'hs_add')[0]).toBe(dequantizedName(qdq, 'da'));
    for (const c of await closeness(test, qdq)) expect(c).toBeGreaterThan(0.995);
  });

  it('depthwise conv followed by a plain Relu: no pair between them (the Relu fuses into the convolution)', async () => {
    const { plan, qdq } = await quantize(depthwiseBlockModel('relu'));
    expect(plan.activationNames).toEqual(['input', 'r1', 'h']);
    expect(inputsOf(qdq, 'dw_relu')).toEqual(['d']);
  });

  it('depthwise conv + Relu feeding a squeeze-and-excitation block: the pair goes after the Relu, never between', async () => {
    const test = depthwiseSqueezeExciteModel();
    const { plan, qdq } = await quantize(test);
    // Whatever order the rules meet it in, the Relu stays fused to the depthwise conv: r gets the pair, d does not.
    expect(plan.activationNames).toEqual(['input', 'r1', 'r', 'pooled', 'sr', 'ex', 'm']);
    expect(inputsOf(qdq, 'dw_relu')).toEqual(['d']);
    expect(inputsOf(qdq, 'gap')).toEqual([dequantizedName(qdq, 'r')]);
    // Rule 8: the gate and the Mul form one pointwise region between INT8 tensors, so the gate reads INT8 too.
    expect(inputsOf(qdq, 'gate')).toEqual([dequantizedName(qdq, 'ex')]);
    expect(inputsOf(qdq, 'scale_mul')).toEqual([dequantizedName(qdq, 'r'), 's']);
    expect(plan.smallNodes).toEqual([]);
    for (const c of await closeness(test, qdq)) expect(c).toBeGreaterThan(0.995);
  });

  it('one format per tensor only where every reader can take the pair: a ReduceMean reader keeps the others on float', async () => {
    const { plan, qdq } = await quantize(sharedFloatReaderModel());
    expect(plan.activationNames).toEqual(['input', 'x', 'centered']);
    expect(inputsOf(qdq, 'center')).toEqual(['x', 'mean']);
    expect(inputsOf(qdq, 'mean')).toEqual(['x']);
  });

  it('squeeze-and-excitation with a squeeze conv below minChannels: quantized anyway, the whole block reads one INT8 tensor', async () => {
    const test = squeezeExciteModel();
    const { plan, qdq } = await quantize(test);
    // The squeeze conv (24 -> 6) feeds a quantized conv through its Relu: left in float it would keep the pooling, and
    // with it a second, float copy of x, out of INT8.
    expect(plan.smallNodes).toEqual([]);
    expect(plan.activationNames).toEqual(['input', 'x', 'pooled', 'sr', 'ex', 'y']);
    expect(new Set(plan.quantizedNodes.map((n) => n.name))).toEqual(new Set(['conv_in', 'squeeze', 'excite', 'conv_out', 'gap', 'scale_mul', 'se_add', 'gate']));
    // One format per tensor: every reader of x reads it through the same pair.
    const dqX = dequantizedName(qdq, 'x');
    expect(inputsOf(qdq, 'gap')).toEqual([dqX]);
    expect(inputsOf(qdq, 'scale_mul')).toEqual([dqX, 's']);
    expect(inputsOf(qdq, 'se_add')).toEqual([dqX, 'xs']);
    for (const c of await closeness(test, qdq)) expect(c).toBeGreaterThan(0.995);

    // With the squeeze conv excluded, it reads the pooled tensor in float: the pooling writes float. x still gets its
    // pair (conv_in is followed by more than a plain activation: rule 6), and so does the excite conv's output.
    const excluded = planQuantization(OnnxModel.fromBytes(test.bytes), { ...tensorrt, exclude: { names: ['squeeze'] } });
    expect(excluded.excludedNodes.map((n) => n.name)).toEqual(['squeeze']);
    expect(excluded.activationNames).toEqual(['input', 'x', 'sr', 'ex', 'y']);
  });

  it('pointwise regions between INT8 tensors run INT8 to INT8: the gate and an upsampled map get pairs, a Resize shares its output scale', async () => {
    const test = neckModel();
    const { plan, qdq } = await quantize(test);
    // Block 1: x + x * hardsigmoid(ex) + Resize(u). Every input of the region reads INT8: x, the gate's input ex, and
    // the upsampled map, whose Resize reads u through u's pair.
    expect(inputsOf(qdq, 'gate')).toEqual([dequantizedName(qdq, 'ex')]);
    expect(inputsOf(qdq, 'top_down_add')).toEqual(['y', dequantizedName(qdq, 'up')]);
    expect(inputsOf(qdq, 'upsample')[0]).toBe(dequantizedName(qdq, 'u'));
    expect(inputsOf(qdq, 'scale_mul')).toEqual([dequantizedName(qdq, 'x'), 's']);
    // Block 2 writes only into a Resize whose output a conv reads: its output y2 gets a pair of the Resize's scale.
    expect(inputsOf(qdq, 'upsample2')[0]).toBe(dequantizedName(qdq, 'y2'));
    expect(inputsOf(qdq, 'gate2')).toEqual([dequantizedName(qdq, 'ex2')]);
    expect(plan.scaleGroups).toEqual([['y2', 'v_up']]);
    const scales = quantizedTensors(qdq);
    expect(scales.get('y2')).toEqual(scales.get('v_up'));
    // The tensors inside the regions stay float (one pointwise layer each), and nothing reads a graph output's pair.
    for (const inner of ['s', 'xs', 'y', 's2', 'xs2', 'side', 'out', 'out2']) expect(scales.has(inner)).toBe(false);
    for (const c of await closeness(test, qdq)) expect(c).toBeGreaterThan(0.99);

    // An excluded Resize keeps its input and output float, and the region before it then stays as it was.
    const excluded = planQuantization(OnnxModel.fromBytes(test.bytes), { ...tensorrt, exclude: { names: ['upsample2'] } });
    expect(excluded.quantizedNodes.map((n) => n.name)).not.toContain('upsample2');
    expect(excluded.activationNames).not.toContain('y2');
    expect(excluded.scaleGroups).toEqual([]);

    // A float reader outside the region (a ReduceMean of the upsampled map) keeps that input float: one format per tensor.
    const withMean = OnnxModel.fromBytes(test.bytes);
    withMean.graph.node!.push(node('ReduceMean', ['up'], ['up_mean'], { keepdims: 0 }, 'up_mean'));
    withMean.graph.output!.push(valueInfo('up_mean'));
    expect(planQuantization(withMean, tensorrt).activationNames).not.toContain('up');
  });

  it('rule 8 leaves a residual main path alone even with a BatchNormalization between the layer and the Add', () => {
    const bytes = buildModel({
      inputs: [valueInfo('input', ['batch', 16, 6, 6])],
      outputs: [valueInfo('out', ['batch', 16, 6, 6])],
      nodes: [
        node('Conv', ['input', 'w1'], ['c1'], { kernel_shape: [1, 1] }, 'conv1'),
        node('Relu', ['c1'], ['r1'], {}, 'relu1'),
        node('Conv', ['r1', 'w2'], ['c2'], { kernel_shape: [1, 1] }, 'conv2'),
        node('BatchNormalization', ['c2', 'gamma', 'beta', 'mean', 'var'], ['b2'], {}, 'bn2'),
        node('Add', ['b2', 'r1'], ['sum'], {}, 'residual_add'),
        node('Relu', ['sum'], ['block'], {}, 'relu_out'),
        node('Conv', ['block', 'w3'], ['out'], { kernel_shape: [1, 1] }, 'conv3'),
      ],
      initializers: [
        ...['w1', 'w2', 'w3'].map((w, i) => initializer(w, [16, 16, 1, 1], randomValues(256, 60 + i, 0.3))),
        initializer('gamma', [16], randomValues(16, 70, 1)),
        initializer('beta', [16], randomValues(16, 71, 0.1)),
        initializer('mean', [16], randomValues(16, 72, 0.1)),
        initializer('var', [16], Float32Array.from(randomValues(16, 73, 0.5), (v) => 1 + Math.abs(v))),
      ],
    });
    const plan = planQuantization(OnnxModel.fromBytes(bytes), tensorrt);
    // conv2 + BN + Add + Relu fuse into one layer reading the skip input r1 in INT8: no pair on c2 or b2.
    expect(plan.activationNames).toEqual(['input', 'r1', 'block']);
  });

  it('a pooling read through Flatten by a layer that stays in float stays in float', () => {
    const model = OnnxModel.fromBytes(smallResNetModel().bytes);
    const plan = planQuantization(model, { ...tensorrt, exclude: { names: ['fc'] } });
    expect(plan.excludedNodes.map((n) => n.name)).toEqual(['fc']);
    expect(plan.activationNames).toEqual(['input', 'sr', 'pool', 'r1']);
    expect(plan.quantizedNodes.map((n) => n.name)).not.toContain('gap');
  });

  it("the pooled head's own pair: not on an excluded Flatten, not when a float reader would see quantized values", async () => {
    const model = OnnxModel.fromBytes(smallResNetModel().bytes);
    // Flatten excluded: it keeps reading the float pooled tensor; the Gemm still reads its input through a pair.
    const excluded = planQuantization(model, { ...tensorrt, exclude: { names: ['flatten'] } });
    expect(excluded.excludedNodes.map((n) => n.name)).toEqual(['flatten']);
    expect(excluded.activationNames).toEqual(['input', 'sr', 'pool', 'r1', 'block_out', 'flat']);
    expect(excluded.quantizedNodes.map((n) => n.name)).not.toContain('flatten');
    // The flattened features are also a graph output (through an Identity, read in float): a pair on the pooled
    // tensor would hand that output quantized values, so only the Gemm's input gets one.
    const test = smallResNetModel({ featuresOutput: true });
    const { plan, qdq } = await quantize(test);
    expect(plan.activationNames).toEqual(['input', 'sr', 'pool', 'r1', 'block_out', 'flat']);
    expect(inputsOf(qdq, 'flatten')).toEqual(['gap']);
    expect(inputsOf(qdq, 'features')).toEqual(['flat']);
    expect(qdq.outputs()).toEqual(OnnxModel.fromBytes(test.bytes).outputs());
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
