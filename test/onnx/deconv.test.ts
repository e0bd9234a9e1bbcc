import { describe, expect, it } from 'vitest';
import { OnnxModel, type OnnxNode } from '../../src/onnx/model.js';
import { onnxProto as onnx } from '../../src/onnx/index.js';
import { deconvolutionsAsConvolutions } from '../../src/onnx/deconv.js';
import { buildModel, type Feed, initializer, node, randomValues, relativeDifference, runModel, valueInfo } from './helpers.js';

const BATCH = 2;
const HEIGHT = 5;
const WIDTH = 7;
const everyNode = () => true;

function randomFeed(name: string, dims: number[], seed: number): Record<string, Feed> {
  return { [name]: { data: randomValues(dims.reduce((a, b) => a * b, 1), seed, 1), dims } };
}

type NodeAttributes = NonNullable<Parameters<typeof node>[3]>;

interface DeconvSpec {
  /** [Cin, Cout/group, kH, kW]. */
  readonly weightDims: [number, number, number, number];
  readonly bias?: boolean;
  /** Replace the default attributes (kernel_shape and strides equal to the kernel); undefined removes one. */
  readonly attributes?: Readonly<Record<string, NodeAttributes[string] | undefined>>;
  readonly opset?: number;
  /** The weight is a graph input: one the caller feeds ('fed'), or an initializer a caller may override ('overridable'). */
  readonly weightAsInput?: 'fed' | 'overridable';
}

/** input[N, Cin, 5, 7] -> ConvTranspose "deconv" (weight "deconv.weight", bias "deconv.bias") -> out. */
function deconvModel(spec: DeconvSpec): { bytes: Uint8Array; feeds: Record<string, Feed> } {
  const [inChannels, outPerGroup, kernelHeight, kernelWidth] = spec.weightDims;
  const group = typeof spec.attributes?.group === 'number' ? spec.attributes.group : 1;
  const weight = randomValues(spec.weightDims.reduce((a, b) => a * b, 1), 101, 0.5);
  const bias = randomValues(outPerGroup * group, 102, 0.5);
  const attributes = Object.fromEntries(
    Object.entries({ kernel_shape: [kernelHeight, kernelWidth], strides: [kernelHeight, kernelWidth], ...spec.attributes }).filter(([, value]) => value !== undefined),
  ) as NodeAttributes;
  const inputs = ['input', 'deconv.weight', ...(spec.bias ? ['deconv.bias'] : [])];
  const weightFed = spec.weightAsInput === 'fed';
  const bytes = buildModel({
    inputs: [valueInfo('input', ['batch', inChannels, HEIGHT, WIDTH]), ...(spec.weightAsInput ? [valueInfo('deconv.weight', [...spec.weightDims])] : [])],
    outputs: [valueInfo('out')],
    nodes: [node('ConvTranspose', inputs, ['out'], attributes, 'deconv')],
    initializers: [...(weightFed ? [] : [initializer('deconv.weight', [...spec.weightDims], weight)]), ...(spec.bias ? [initializer('deconv.bias', [bias.length], bias)] : [])],
    opset: spec.opset,
  });
  const feeds = { ...randomFeed('input', [BATCH, inChannels, HEIGHT, WIDTH], 7), ...(weightFed ? { 'deconv.weight': { data: weight, dims: spec.weightDims } } : {}) };
  return { bytes, feeds };
}

function stringAttribute(node: OnnxNode, name: string): string | undefined {
  const attribute = node.proto.attribute?.find((a) => a.name === name);
  return attribute?.s ? new TextDecoder().decode(attribute.s) : undefined;
}

function intAttribute(node: OnnxNode, name: string): number | undefined {
  const attribute = node.proto.attribute?.find((a) => a.name === name);
  return attribute?.i === undefined || attribute.i === null ? undefined : Number(attribute.i);
}

/** True when every node reads only graph inputs, initializers and outputs of nodes before it. */
function isTopological(model: OnnxModel): boolean {
  const available = new Set(['', ...model.inputNames(), ...(model.graph.initializer ?? []).map((t) => t.name ?? '')]);
  return model.nodes.every((n) => {
    const ready = n.inputs.every((input) => available.has(input));
    for (const output of n.outputs) available.add(output);
    return ready;
  });
}

describe('deconvolutionsAsConvolutions', () => {
  it.each([
    { inChannels: 8, outChannels: 1, block: 2, bias: true },
    { inChannels: 6, outChannels: 3, block: 3, bias: false },
  ])('rewrites a $inChannels -> $outChannels ConvTranspose of kernel = stride = $block (bias: $bias) as Conv + DepthToSpace, same outputs', async ({ inChannels, outChannels, block, bias }) => {
    const { bytes, feeds } = deconvModel({ weightDims: [inChannels, outChannels, block, block], bias });
    const model = OnnxModel.fromBytes(bytes);
    const { model: rewritten, rewritten: names } = deconvolutionsAsConvolutions(model, everyNode);

    expect(names).toEqual(['deconv']);
    expect(rewritten.nodes.map((n) => [n.opType, n.name])).toEqual([
      ['Conv', 'deconv'],
      ['DepthToSpace', 'deconv_depth_to_space'],
    ]);
    const [conv, depthToSpace] = rewritten.nodes as [OnnxNode, OnnxNode];
    expect(conv.inputs[0]).toBe('input');
    expect(conv.inputs).toHaveLength(bias ? 3 : 2);
    expect(rewritten.constantTensor(conv.inputs[1]!)!.dims).toEqual([outChannels * block * block, inChannels, 1, 1]);
    if (bias) expect(rewritten.constantTensor(conv.inputs[2]!)!.dims).toEqual([outChannels * block * block]);
    expect(depthToSpace.inputs).toEqual(conv.outputs);
    expect(conv.outputs[0]).not.toBe('out');
    // The ConvTranspose's output tensor keeps its name: ranges calibrated on the original still apply.
    expect(depthToSpace.outputs).toEqual(['out']);
    expect(intAttribute(depthToSpace, 'blocksize')).toBe(block);
    expect(stringAttribute(depthToSpace, 'mode')).toBe('CRD');
    // The ConvTranspose's weight and bias are gone; the model given is left as it was.
    expect([...rewritten.constantNames()].sort()).toEqual([conv.inputs[1]!, ...(bias ? [conv.inputs[2]!] : [])].sort());
    expect(model.nodes.map((n) => n.opType)).toEqual(['ConvTranspose']);

    expect(await relativeDifference(bytes, rewritten.toBytes(), feeds)).toBeLessThan(1e-4);
  });

  it.each<[string, DeconvSpec, ((node: OnnxNode) => boolean)?]>([
    ['padding', { weightDims: [4, 2, 2, 2], attributes: { pads: [1, 1, 1, 1] } }],
    ['a stride other than the kernel', { weightDims: [4, 2, 3, 3], attributes: { strides: [2, 2] } }],
    ['two groups', { weightDims: [4, 1, 2, 2], attributes: { group: 2 } }],
    ['a kernel that is not square', { weightDims: [4, 2, 2, 3] }],
    ['a kernel that is not square, strides of its height', { weightDims: [4, 2, 2, 3], attributes: { kernel_shape: undefined, strides: [2, 2] } }],
    ['a kernel of 1', { weightDims: [4, 2, 1, 1] }],
    ['output_padding', { weightDims: [4, 2, 2, 2], attributes: { output_padding: [1, 1] } }],
    ['auto_pad SAME_UPPER', { weightDims: [4, 2, 2, 2], attributes: { auto_pad: 'SAME_UPPER' } }],
    ['a weight fed as a graph input', { weightDims: [4, 2, 2, 2], weightAsInput: 'fed' }],
    ['a weight initializer that is also a graph input', { weightDims: [4, 2, 2, 2], weightAsInput: 'overridable' }],
    ['opset 10 (DepthToSpace has no mode)', { weightDims: [4, 2, 2, 2], bias: true, opset: 10 }],
    ['a node not selected', { weightDims: [4, 2, 2, 2] }, (n) => n.name !== 'deconv'],
  ])('leaves a ConvTranspose with %s untouched', async (_, spec, isSelected = everyNode) => {
    const { bytes, feeds } = deconvModel(spec);
    // A model onnxruntime runs: the rewrite declines a real ConvTranspose, not a broken one.
    expect((await runModel(bytes, feeds)).get('out')!.length).toBeGreaterThan(0);
    const model = OnnxModel.fromBytes(bytes);
    const result = deconvolutionsAsConvolutions(model, isSelected);
    expect(result.rewritten).toEqual([]);
    expect(result.model).toBe(model);
  });

  it('leaves a ConvTranspose whose output a subgraph reads untouched', () => {
    const branch = (name: string): onnx.GraphProto.$Properties => ({ name, node: [node('Identity', ['out'], [`${name}_out`], {}, `${name}_id`)], output: [valueInfo(`${name}_out`)] });
  const bytes = buildModel({
      inputs: [valueInfo('input', ['batch', 4, HEIGHT, WIDTH]), valueInfo('cond', [], onnx.TensorProto.DataType.BOOL)],
      outputs: [valueInfo('picked')],
      nodes: [
        node('ConvTranspose', ['input', 'deconv.weight'], ['out'], { kernel_shape: [2, 2], strides: [2, 2] }, 'deconv'),
        {
          name: 'branchy',
          opType: 'If',
          input: ['cond'],
          output: ['picked'],
          attribute: [
            { name: 'then_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch('then') },
            { name: 'else_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch('else') },
          ],
        },
      ],
      initializers: [initializer('deconv.weight', [4, 2, 2, 2], randomValues(32, 5, 0.5))],
    });
    const model = OnnxModel.fromBytes(bytes);
    expect(deconvolutionsAsConvolutions(model, everyNode)).toEqual({ model, rewritten: [] });
  });

  it('keeps what reads the output computing the same, and a weight another ConvTranspose still reads', async () => {
    // input -> "up" ConvTranspose (weight from a Constant node, bias) -> d -> Sigmoid -> s; Mul(d, s) -> m.
    // "kept" reads the same weight; d is also a graph output.
    const weight = initializer('up.weight', [6, 4, 2, 2], randomValues(96, 31, 0.5));
  const bytes = buildModel({
      inputs: [valueInfo('input', ['batch', 6, HEIGHT, WIDTH])],
      outputs: [valueInfo('m'), valueInfo('d'), valueInfo('e')],
      nodes: [
        node('Constant', [], ['up.weight'], { value: weight }, 'weight_constant'),
        node('ConvTranspose', ['input', 'up.weight', 'up.bias'], ['d'], { kernel_shape: [2, 2], strides: [2, 2] }, 'up'),
        node('Sigmoid', ['d'], ['s'], {}, 'sigmoid'),
        node('Mul', ['d', 's'], ['m'], {}, 'silu'),
        node('ConvTranspose', ['input', 'up.weight'], ['e'], { strides: [2, 2] }, 'kept'),
      ],
      initializers: [initializer('up.bias', [4], randomValues(4, 32, 0.5))],
    });
    const feeds = randomFeed('input', [BATCH, 6, HEIGHT, WIDTH], 9);
    const model = OnnxModel.fromBytes(bytes);

    const one = deconvolutionsAsConvolutions(model, (n) => n.name === 'up');
    expect(one.rewritten).toEqual(['up']);
    expect(one.model.nodes.map((n) => n.opType)).toEqual(['Constant', 'Conv', 'DepthToSpace', 'Sigmoid', 'Mul', 'ConvTranspose']);
    expect(one.model.nodes.filter((n) => n.inputs.includes('d')).map((n) => n.name)).toEqual(['sigmoid', 'silu']);
    // "kept" still reads the weight: its Constant stays; the bias only "up" read goes.
    expect(one.model.constantNames().has('up.weight')).toBe(true);
    expect(one.model.constantNames().has('up.bias')).toBe(false);
    expect(isTopological(one.model)).toBe(true);
    expect(await relativeDifference(bytes, one.model.toBytes(), feeds)).toBeLessThan(1e-4);

    const both = deconvolutionsAsConvolutions(model, everyNode);
    expect(both.rewritten).toEqual(['up', 'kept']);
    expect(both.model.nodes.map((n) => n.name)).toEqual(['up', 'up_depth_to_space', 'sigmoid', 'silu', 'kept', 'kept_depth_to_space']);
    expect(both.model.nodes.some((n) => n.opType === 'Constant' || n.opType === 'ConvTranspose')).toBe(false);
    expect(isTopological(both.model)).toBe(true);
    expect(await relativeDifference(bytes, both.model.toBytes(), feeds)).toBeLessThan(1e-4);
  });
});
