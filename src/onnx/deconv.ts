/**
 * Rewrites an "upsampling" ConvTranspose, one whose kernel equals its stride so that its output tiles never overlap,
 * as a 1x1 Conv to Cout*k*k channels followed by DepthToSpace (blocksize k, CRD order): the same function, exactly.
 *
 * Why: TensorRT's deconvolution kernels do poorly with few output channels. Measured on an H200 with TensorRT 10.6,
 * the PP-OCRv4 detector's last transposed convolution (24 -> 1 channel, kernel 2 stride 2, to 640x640 at batch 32)
 * took 0.39-0.46 ms in every precision (FP32, FP16, INT8), about a tenth of the whole engine.
 *
 * Each output pixel (h*k+i, w*k+j) of such a ConvTranspose sees one input pixel (h, w) through one kernel tap (i, j):
 *   out[n, c, h*k+i, w*k+j] = bias[c] + sum over cin of x[n, cin, h, w] * W[cin, c, i, j]
 * which is a 1x1 Conv computing channel c*k*k + i*k + j, moved to its place by DepthToSpace in CRD mode:
 *   out[n, c, h*k+i, w*k+j] = conv[n, c*k*k + i*k + j, h, w].
 * The Conv keeps the ConvTranspose's node name (selections and reports by name still find the weighted layer) and the
 * DepthToSpace writes its output tensor (ranges calibrated by tensor name still apply).
 */
import { findAttribute, type NodeProto } from './codec.js';
import { nodeIntAttribute, nodeIntsAttribute, type OnnxModel, type OnnxNode } from './model.js';
import { intAttribute, intsAttribute, isFixedFloat, replaceNodes, stringAttribute, subgraphReads } from './rewrite-guards.js';

export interface RewrittenDeconvolutions {
  /** The model with the rewrite applied (a copy), or the model given when nothing was rewritten. */
  readonly model: OnnxModel;
  /** Names of the ConvTranspose nodes rewritten (their op type where unnamed). */
  readonly rewritten: readonly string[];
}

/** DepthToSpace takes its `mode` attribute (and so the CRD order this rewrite needs) from opset 11 on. */
const MIN_DEPTH_TO_SPACE_MODE_OPSET = 11;

/** A ConvTranspose the rewrite can replace, and the sizes the replacement needs. */
interface Upsampling {
  readonly node: OnnxNode;
  /** Kernel side = stride = DepthToSpace block size. */
  readonly block: number;
  readonly inChannels: number;
  readonly outChannels: number;
}

interface SearchContext {
  readonly graphInputs: ReadonlySet<string>;
  /** Tensors that a subgraph (If / Loop / Scan body) reads from the main graph: their producers are left alone. */
  readonly capturedBySubgraphs: ReadonlySet<string>;
  readonly isSelected: (node: OnnxNode) => boolean;
}

/** True when the INTS attribute is absent (its default holds) or set to values that pass `test`. */
function intsAbsentOr(node: OnnxNode, name: string, test: (values: readonly number[]) => boolean): boolean {
  if (!findAttribute(node.proto, name)) return true;
  const values = nodeIntsAttribute(node, name);
  return values !== undefined && test(values);
}

function sameInts(values: readonly number[] | undefined, expected: readonly number[]): boolean {
  return values !== undefined && values.length === expected.length && values.every((v, i) => v === expected[i]);
}

/**
 * True when the attributes make each input pixel write its own k x k output tile and nothing else: stride k, one
 * group, no padding, dilation or extra output size. auto_pad other than NOTSET is refused rather than reasoned about.
 */
function tilesWithoutOverlap(node: OnnxNode, block: number): boolean {
  const autoPad = findAttribute(node.proto, 'auto_pad');
  return (
    sameInts(nodeIntsAttribute(node, 'strides'), [block, block]) &&
    intsAbsentOr(node, 'kernel_shape', (kernel) => sameInts(kernel, [block, block])) &&
    nodeIntAttribute(node, 'group', 1) === 1 &&
    intsAbsentOr(node, 'pads', (pads) => pads.every((p) => p === 0)) &&
    intsAbsentOr(node, 'dilations', (dilations) => dilations.every((d) => d === 1)) &&
    intsAbsentOr(node, 'output_padding', (padding) => padding.every((p) => p === 0)) &&
    !findAttribute(node.proto, 'output_shape') &&
    (!autoPad || new TextDecoder().decode(autoPad.s ?? new Uint8Array()) === 'NOTSET')
  );
}

/** The node as an Upsampling when the rewrite computes exactly what it computes, else undefined. */
function asUpsampling(model: OnnxModel, node: OnnxNode, context: SearchContext): Upsampling | undefined {
  if (node.domain !== '' || node.opType !== 'ConvTranspose' || !context.isSelected(node)) return undefined;
  const [input, weight, bias] = node.inputs;
  const output = node.outputs[0];
  if (!input || !output || context.capturedBySubgraphs.has(output)) return undefined;
  if (!isFixedFloat(model, weight, context.graphInputs)) return undefined;
  const dims = model.constantTensor(weight)!.dims;
  if (dims.length !== 4) return undefined;
  const [inChannels, outChannels, kernelHeight, kernelWidth] = dims as [number, number, number, number];
  // DepthToSpace has one block size for both axes.
  if (kernelHeight !== kernelWidth || kernelHeight < 2 || !tilesWithoutOverlap(node, kernelHeight)) return undefined;
  if (bias && (!isFixedFloat(model, bias, context.graphInputs) || model.tensorWeights(bias).length !== outChannels)) return undefined;
  return { node, block: kernelHeight, inChannels, outChannels };
}

/** The 1x1 Conv weight [Cout*k*k, Cin, 1, 1]: row c*k*k + i*k + j holds the taps W[:, c, i, j]. */
function convWeight(deconvWeight: Float32Array, { block, inChannels, outChannels }: Upsampling): Float32Array {
  const taps = block * block;
  const weight = new Float32Array(outChannels * taps * inChannels);
  for (let cin = 0; cin < inChannels; cin++) {
    for (let c = 0; c < outChannels; c++) {
      for (let tap = 0; tap < taps; tap++) weight[(c * taps + tap) * inChannels + cin] = deconvWeight[(cin * outChannels + c) * taps + tap]!;
    }
  }
  return weight;
}

/** The 1x1 Conv bias: each output channel's bias repeated for its k*k taps. */
function convBias(deconvBias: Float32Array, { block }: Upsampling): Float32Array {
  const taps = block * block;
  return Float32Array.from({ length: deconvBias.length * taps }, (_, row) => deconvBias[Math.floor(row / taps)]!);
}

/** Adds the Conv's weight and bias to `model` and returns the Conv and DepthToSpace that replace the ConvTranspose. */
function replacementNodes(model: OnnxModel, upsampling: Upsampling, unique: (base: string) => string): NodeProto[] {
  const { node, block, inChannels, outChannels } = upsampling;
  const [input, weight, bias] = node.inputs as [string, string, string | undefined];
  const output = node.outputs[0]!;
  const convWeightName = unique(`${weight}_as_conv`);
  model.setInitializer(convWeightName, [outChannels * block * block, inChannels, 1, 1], convWeight(model.tensorWeights(weight), upsampling));
  const convInputs = [input, convWeightName];
  if (bias) {
    const convBiasName = unique(`${bias}_as_conv`);
    model.setInitializer(convBiasName, [outChannels * block * block], convBias(model.tensorWeights(bias), upsampling));
    convInputs.push(convBiasName);
  }
  const blocks = unique(`${output}_blocks`);
  return [
    { name: node.name, opType: 'Conv', input: convInputs, output: [blocks], attribute: [intsAttribute('kernel_shape', [1, 1])] },
    {
      name: unique(`${node.name || node.opType}_depth_to_space`),
      opType: 'DepthToSpace',
      input: [blocks],
      output: [output],
      attribute: [intAttribute('blocksize', block), stringAttribute('mode', 'CRD')],
    },
  ];
}

/**
 * Rewrites every selected ConvTranspose whose kernel equals its stride (k x k, k >= 2, group 1, no padding) as a 1x1
 * Conv and a DepthToSpace that compute the same function (see the file comment). Nodes that do not qualify, or
 * models below opset 11, are left as they are.
 */
export function deconvolutionsAsConvolutions(model: OnnxModel, isSelected: (node: OnnxNode) => boolean): RewrittenDeconvolutions {
  if ((model.opsetVersion('') ?? 0) < MIN_DEPTH_TO_SPACE_MODE_OPSET) return { model, rewritten: [] };
  const context: SearchContext = { graphInputs: model.inputNames(), capturedBySubgraphs: subgraphReads(model), isSelected };
  const upsamplings = model.nodes.map((node) => asUpsampling(model, node, context)).filter((u): u is Upsampling => u !== undefined);
  if (upsamplings.length === 0) return { model, rewritten: [] };
  const result = model.clone();
  const unique = result.nameAllocator();
  replaceNodes(result, new Map(upsamplings.map((upsampling) => [upsampling.node.index, replacementNodes(result, upsampling, unique)])));
  // The ConvTransposes' weights and biases, when no other node reads them.
  result.removeUnreadConstants(upsamplings.flatMap(({ node }) => node.inputs.slice(1).filter((tensor) => tensor !== '')));
  return { model: result, rewritten: upsamplings.map(({ node }) => node.name || node.opType) };
}
