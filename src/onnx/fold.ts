/**
 * Folds a constant affine that follows a convolution (a Mul by and an Add of constants holding one value or one per
 * output channel) into the convolution's weight and bias, before Q/DQ is placed ('tensorrt' placement).
 *
 * Why: TensorRT folds such an affine into the convolution itself when it calibrates (implicit INT8), but not when the
 * weight reaches it through Q/DQ, since the weight's scales are fixed by then. Measured on the PP-OCRv4 detector
 * (H200, TensorRT 10.6, docs/qdq.md), whose PP-LCNetV3 backbone has a learnable affine after every convolution: the
 * Q/DQ engine ran each affine in the convolution's epilogue with slower kernels, up to 2.5x the time of the same
 * layer in TensorRT's implicit INT8 engine. Folded before quantizing, the per-channel weight scales absorb the
 * affine's scale and the layer is a plain convolution again. The result is the same function (up to float rounding);
 * the tensors that remain keep their names, so ranges calibrated on the original model still apply.
 */
import type { OnnxModel, OnnxNode } from './model.js';
import { isFixedFloat, subgraphReads } from './rewrite-guards.js';

export interface FoldedModel {
  /** The model with the affines folded (a copy), or the model given when there was nothing to fold. */
  readonly model: OnnxModel;
  /** The Mul / Add nodes folded away, by name (their op type where unnamed). */
  readonly folded: readonly string[];
}

interface AffineStep {
  readonly node: OnnxNode;
  readonly op: 'Mul' | 'Add';
  /** One value per output channel. */
  readonly perChannel: Float32Array;
}

interface Fold {
  readonly conv: OnnxNode;
  readonly steps: readonly AffineStep[];
}

/** Convolutions whose weight layout puts the output channel where the fold can scale it: Conv, ConvTranspose of group 1. */
function outputChannelAxis(conv: OnnxNode): 0 | 1 | undefined {
  if (conv.domain !== '') return undefined;
  if (conv.opType === 'Conv') return 0;
  const group = conv.proto.attribute?.find((a) => a.name === 'group')?.i;
  if (conv.opType === 'ConvTranspose' && (group === undefined || Number(group) === 1)) return 1;
  return undefined;
}

/**
 * The constant as one value per output channel of an output of rank `rank` (N, C, spatial...): a single value, or
 * `channels` values laid along axis 1 once broadcast ([C, 1, 1], [1, C, 1, 1], ...); undefined for anything else.
 */
function perChannelValues(model: OnnxModel, tensor: string, channels: number, rank: number): Float32Array | undefined {
  const dims = model.constantTensor(tensor)!.dims;
  // A constant of higher rank than the output would broadcast the output up to its rank: not an affine of it.
  if (dims.length > rank) return undefined;
  const values = model.tensorWeights(tensor);
  if (values.length === 1) return new Float32Array(channels).fill(values[0]!);
  const channelPosition = dims.length - (rank - 1);
  if (channelPosition < 0 || dims[channelPosition] !== channels) return undefined;
  if (dims.some((d, i) => i !== channelPosition && d !== 1)) return undefined;
  return values;
}

interface FoldContext {
  readonly consumers: Map<string, OnnxNode[]>;
  readonly graphInputs: Set<string>;
  readonly graphOutputs: Set<string>;
  /** Tensors that a subgraph (If / Loop / Scan body) reads from the main graph: never removed or rewritten. */
  readonly capturedBySubgraphs: Set<string>;
  readonly isExcluded: (node: OnnxNode) => boolean;
}

/** The chain of constant Mul / Add nodes that follows `conv`, each the only reader of the tensor before it. */
function affineChain(model: OnnxModel, conv: OnnxNode, context: FoldContext): AffineStep[] {
  const axis = outputChannelAxis(conv);
  const weight = conv.inputs[1];
  if (axis === undefined || context.isExcluded(conv) || !isFixedFloat(model, weight, context.graphInputs) || context.capturedBySubgraphs.has(weight)) return [];
  const bias = conv.inputs[2];
  if (bias && (!isFixedFloat(model, bias, context.graphInputs) || context.capturedBySubgraphs.has(bias))) return [];
  const weightDims = model.constantTensor(weight)!.dims;
  const channels = weightDims[axis]!;
  const steps: AffineStep[] = [];
  let tensor = conv.outputs[0];
  while (tensor && !context.graphOutputs.has(tensor) && !context.capturedBySubgraphs.has(tensor)) {
    const readers = context.consumers.get(tensor) ?? [];
    const reader = readers[0];
    if (readers.length !== 1 || reader!.domain !== '' || (reader!.opType !== 'Mul' && reader!.opType !== 'Add') || context.isExcluded(reader!)) break;
    const other = reader!.inputs.find((input, slot) => slot < 2 && input !== tensor);
    if (reader!.inputs.length !== 2 || !isFixedFloat(model, other, context.graphInputs)) break;
    const perChannel = perChannelValues(model, other, channels, weightDims.length);
    if (!perChannel) break;
    steps.push({ node: reader!, op: reader!.opType as 'Mul' | 'Add', perChannel });
    tensor = reader!.outputs[0];
  }
  return steps;
}

/** The weight and bias with the steps applied: a Mul scales both per output channel, an Add shifts the bias. */
function foldedValues(model: OnnxModel, fold: Fold): { weight: Float32Array; bias: Float32Array } {
  const axis = outputChannelAxis(fold.conv)!;
  const dims = model.constantTensor(fold.conv.inputs[1]!)!.dims;
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const weight = Float32Array.from(model.tensorWeights(fold.conv.inputs[1]!));
  const biasName = fold.conv.inputs[2];
  const bias = biasName ? Float32Array.from(model.tensorWeights(biasName)) : new Float32Array(channels);
  for (const step of fold.steps) {
    for (let c = 0; c < channels; c++) {
      const value = step.perChannel[c]!;
      if (step.op === 'Add') {
        bias[c]! += value;
        continue;
      }
      bias[c]! *= value;
      for (let i = c * inner; i < weight.length; i += channels * inner) for (let j = i; j < i + inner; j++) weight[j]! *= value;
    }
  }
  return { weight, bias };
}

/** Writes the folded weight and bias (in place where only this convolution reads them) and rewires the convolution. */
function applyFold(model: OnnxModel, fold: Fold, consumers: Map<string, OnnxNode[]>, unique: (base: string) => string): void {
  const { weight, bias } = foldedValues(model, fold);
  const conv = fold.conv;
  const ownedInitializer = (tensor: string | undefined) =>
    tensor !== undefined && tensor !== '' && model.constantTensor(tensor)?.source === 'initializer' && (consumers.get(tensor) ?? []).length === 1;
  const weightName = ownedInitializer(conv.inputs[1]) ? conv.inputs[1]! : unique(`${conv.inputs[1]}_folded`);
  const biasName = ownedInitializer(conv.inputs[2]) ? conv.inputs[2]! : unique(`${conv.name || conv.inputs[1]}_folded_bias`);
  model.setInitializer(weightName, model.constantTensor(conv.inputs[1]!)!.dims, weight);
  model.setInitializer(biasName, [bias.length], bias);
  model.setNodeInput(conv.index, 1, weightName);
  model.setNodeInput(conv.index, 2, biasName);
  model.setNodeOutput(conv.index, 0, fold.steps.at(-1)!.node.outputs[0]!);
}

/**
 * Folds every constant per-channel Mul / Add chain that follows a Conv (or a ConvTranspose of group 1) into it.
 * Excluded nodes (`isExcluded`, as the placement's `exclude`) are neither folded nor folded into.
 */
export function foldConvAffines(model: OnnxModel, isExcluded: (node: OnnxNode) => boolean = () => false): FoldedModel {
  const context: FoldContext = { consumers: model.consumers(), graphInputs: model.inputNames(), graphOutputs: model.outputNames(), capturedBySubgraphs: subgraphReads(model), isExcluded };
  const folds = model.nodes
    .filter((node) => outputChannelAxis(node) !== undefined)
    .map((conv) => ({ conv, steps: affineChain(model, conv, context) }))
    .filter((fold) => fold.steps.length > 0);
  if (folds.length === 0) return { model, folded: [] };
  const result = model.clone();
  const unique = result.nameAllocator();
  for (const fold of folds) applyFold(result, fold, context.consumers, unique);
  result.removeNodes(folds.flatMap((fold) => fold.steps.map((step) => step.node.index)));
  // The affine constants, and weights or biases replaced under a new name, when nothing else reads them.
  result.removeUnreadConstants(folds.flatMap((fold) => [...fold.conv.inputs.slice(1), ...fold.steps.flatMap((step) => step.node.inputs)]));
  return { model: result, folded: folds.flatMap((fold) => fold.steps.map((step) => step.node.name || step.node.opType)) };
}
