import { describe, expect, it } from 'vitest';
import { OnnxModel, checkQuantizable, planQuantization } from '../../src/index.js';
import { onnxProto as onnx } from '../../src/onnx/index.js';
import { caught } from '../caught.js';
import { foldConvAffines } from '../../src/onnx/fold.js';
import { buildModel, type Feed, initializer, node, randomValues, relativeDifference, runModel, valueInfo } from './helpers.js';
import { depthwiseBlockModel, squeezeExciteModel } from './models.js';

const conv3x3 = { kernel_shape: [3, 3], pads: [1, 1, 1, 1] };

function feed(dims: number[], seed: number): Record<string, Feed> {
  return { input: { data: randomValues(dims.reduce((a, b) => a * b, 1), seed, 1), dims } };
}

/**
 * input[N,8,5,5] -> conv (3x3, 16, bias) -> Mul by one value ([1]) -> Add per channel ([16,1,1]) -> Relu -> deconv
 * (ConvTranspose 2x2 stride 2, 16 -> 8, no bias) -> Mul per channel ([1,8,1,1]) -> out.
 */
function affineModel(): Uint8Array {
  return buildModel({
    inputs: [valueInfo('input', ['batch', 8, 5, 5])],
    outputs: [valueInfo('out', ['batch', 8, 10, 10])],
    nodes: [
      node('Conv', ['input', 'conv.weight', 'conv.bias'], ['c'], conv3x3, 'conv'),
      node('Mul', ['c', 'gain'], ['cg'], {}, 'gain_mul'),
      node('Add', ['shift', 'cg'], ['cs'], {}, 'shift_add'),
      node('Relu', ['cs'], ['r'], {}, 'relu'),
      node('ConvTranspose', ['r', 'deconv.weight'], ['d'], { kernel_shape: [2, 2], strides: [2, 2] }, 'deconv'),
      node('Mul', ['d', 'deconv_scale'], ['out'], {}, 'deconv_mul'),
    ],
    initializers: [
      initializer('conv.weight', [16, 8, 3, 3], randomValues(16 * 8 * 9, 1, 0.3)),
      initializer('conv.bias', [16], randomValues(16, 2, 0.1)),
      initializer('gain', [1], Float32Array.of(-1.75)),
      initializer('shift', [16, 1, 1], randomValues(16, 3, 0.5)),
      initializer('deconv.weight', [16, 8, 2, 2], randomValues(16 * 8 * 4, 4, 0.3)),
      initializer('deconv_scale', [1, 8, 1, 1], randomValues(8, 5, 2)),
    ],
  });
}

describe('foldConvAffines', () => {
  it('folds a scalar Mul and a per-channel Add into a Conv, and a per-channel Mul into a ConvTranspose: same outputs', async () => {
    const bytes = affineModel();
    const model = OnnxModel.fromBytes(bytes);
    const { model: folded, folded: names } = foldConvAffines(model);
    expect(names).toEqual(['gain_mul', 'shift_add', 'deconv_mul']);
    expect(folded.nodes.map((n) => n.opType)).toEqual(['Conv', 'Relu', 'ConvTranspose']);
    // The convolutions write the tensors their affines wrote: ranges calibrated on the original model still apply.
    expect(folded.nodes.map((n) => n.outputs[0])).toEqual(['cs', 'r', 'out']);
    expect(folded.nodes[2]!.inputs).toHaveLength(3);
    expect(await relativeDifference(bytes, folded.toBytes(), feed([2, 8, 5, 5], 7))).toBeLessThan(1e-5);
    // The model given is left as it was; the folded one keeps no constant that nothing reads.
    expect(model.nodes).toHaveLength(6);
    expect([...folded.constantNames()].sort()).toEqual(['conv.bias', 'conv.weight', 'deconv.weight', 'deconv_folded_bias']);
  });

  it('folds the affine of a depthwise block; leaves a Mul by an activation (squeeze-and-excitation) alone', async () => {
    const block = depthwiseBlockModel('affine-hardswish');
    const { model: folded, folded: names } = foldConvAffines(OnnxModel.fromBytes(block.bytes));
    expect(names).toEqual(['affine_mul', 'affine_add']);
    expect(folded.nodes.find((n) => n.name === 'dw')!.outputs).toEqual(['da']);
    expect(await relativeDifference(block.bytes, folded.toBytes(), block.feeds(2, 9))).toBeLessThan(1e-5);

    const se = OnnxModel.fromBytes(squeezeExciteModel().bytes);
    const untouched = foldConvAffines(se);
    expect(untouched.folded).toEqual([]);
    expect(untouched.model).toBe(se);
  });

  it('stops where folding would change what others see: a second reader, a graph output, a constant that is not per channel', () => {
    const weights = [initializer('w', [4, 4, 1, 1], randomValues(16, 11, 0.5)), initializer('k', [1], Float32Array.of(2)), initializer('grid', [4, 5, 5], randomValues(100, 12))];
    const plan = (nodes: ReturnType<typeof node>[], outputs: string[]) =>
      foldConvAffines(OnnxModel.fromBytes(buildModel({ inputs: [valueInfo('input', ['batch', 4, 5, 5])], outputs: outputs.map((o) => valueInfo(o)), nodes, initializers: weights }))).folded;
    // The conv output is also a graph output.
    expect(plan([node('Conv', ['input', 'w'], ['c'], { kernel_shape: [1, 1] }, 'conv'), node('Mul', ['c', 'k'], ['m'], {}, 'mul')], ['c', 'm'])).toEqual([]);
    // Read by the Mul and by a Relu.
    expect(plan([node('Conv', ['input', 'w'], ['c'], { kernel_shape: [1, 1] }, 'conv'), node('Mul', ['c', 'k'], ['m'], {}, 'mul'), node('Relu', ['c'], ['r'], {}, 'relu')], ['m', 'r'])).toEqual([]);
    // A constant with a value per position, not per channel.
    expect(plan([node('Conv', ['input', 'w'], ['c'], { kernel_shape: [1, 1] }, 'conv'), node('Add', ['c', 'grid'], ['a'], {}, 'add')], ['a'])).toEqual([]);
    // A Mul of the conv output by itself.
    expect(plan([node('Conv', ['input', 'w'], ['c'], { kernel_shape: [1, 1] }, 'conv'), node('Mul', ['c', 'c'], ['m'], {}, 'square')], ['m'])).toEqual([]);
    // One value, but of higher rank than the output: the Mul would broadcast the output to rank 5.
    weights.push(initializer('k5', [1, 1, 1, 1, 1], Float32Array.of(2)));
    expect(plan([node('Conv', ['input', 'w'], ['c'], { kernel_shape: [1, 1] }, 'conv'), node('Mul', ['c', 'k5'], ['m'], {}, 'mul')], ['m'])).toEqual([]);
  });

  it('leaves alone what a subgraph reads from the main graph, and the nodes that exclude names', () => {
    const branch = (name: string, reads: string): onnx.GraphProto.$Properties => ({ name, node: [node('Identity', [reads], [`${name}_out`], {}, `${name}_id`)], output: [valueInfo(`${name}_out`)] });
    const ifReading = (tensor: string) => ({
      name: 'branchy',
      opType: 'If',
      input: ['cond'],
      output: ['picked'],
      attribute: [
        { name: 'then_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch('then', tensor) },
        { name: 'else_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch('else', tensor) },
      ],
    });
    const model = (extra: ReturnType<typeof ifReading>) =>
      OnnxModel.fromBytes(
        buildModel({
          inputs: [valueInfo('input', ['batch', 4, 5, 5]), valueInfo('cond', [], onnx.TensorProto.DataType.BOOL)],
          outputs: [valueInfo('m'), valueInfo('picked')],
          nodes: [node('Conv', ['input', 'w'], ['c'], { kernel_shape: [1, 1] }, 'conv'), node('Mul', ['c', 'k'], ['m'], {}, 'mul'), extra],
          initializers: [initializer('w', [4, 4, 1, 1], randomValues(16, 11, 0.5)), initializer('k', [1], Float32Array.of(2))],
        }),
      );
    // The branches read the conv output (which the fold would remove) or its weight (which it would rewrite).
    expect(foldConvAffines(model(ifReading('c'))).folded).toEqual([]);
    expect(foldConvAffines(model(ifReading('w'))).folded).toEqual([]);
    expect(foldConvAffines(model(ifReading('input'))).folded).toEqual(['mul']);

    // exclude names a node of the chain: it stays, with what follows it, and the name is still known to the placement.
    const affine = OnnxModel.fromBytes(affineModel());
    const plan = planQuantization(affine, { placement: 'tensorrt', exclude: { names: ['gain_mul'] } });
    expect(plan.excludedNodes.map((n) => n.name)).toEqual([]);
    expect(checkQuantizable(affine, { placement: 'tensorrt', exclude: { names: ['gain_mul'] } }).model.nodes.map((n) => n.name)).toEqual(['conv', 'gain_mul', 'shift_add', 'relu', 'deconv']);
    expect(checkQuantizable(affine, { placement: 'tensorrt', exclude: { names: ['deconv'] } }).model.nodes.map((n) => n.name)).toEqual(['conv', 'relu', 'deconv', 'deconv_mul']);
  });

  it("checkQuantizable with the 'tensorrt' placement says what it folded; the default placement folds nothing", () => {
    const model = OnnxModel.fromBytes(depthwiseBlockModel('affine-hardswish').bytes);
    const tensorrt = checkQuantizable(model, { placement: 'tensorrt' });
    expect(tensorrt.notes.join(' ')).toMatch(/folded 2 constant Mul\/Add node\(s\).*affine_mul, affine_add/);
    expect(tensorrt.model.nodes.some((n) => n.name === 'affine_mul')).toBe(false);
    const original = checkQuantizable(model);
    expect(original.notes).toEqual([]);
    expect(original.model).toBe(model);
    // Options are checked before anything is folded.
    expect(caught(() => checkQuantizable(model, null as never))).toMatchObject({ code: 'ERR_BAD_OPTION' });
    expect(caught(() => planQuantization(model, { placement: 'tensorrt', minChannels: 0 }))).toMatchObject({ code: 'ERR_BAD_OPTION' });
  });
});
