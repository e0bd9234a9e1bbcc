/**
 * Rewrites a classifier head, a global pooling whose output is flattened into a Gemm (ResNet's `avgpool -> flatten
 * -> fc`), as the pooling, a 1x1 Conv with the Gemm's weights, and the Flatten after it: the same function, exactly
 * (the pooled tensor is [N, C, 1, 1], so a 1x1 convolution over it is the matrix product).
 *
 * Why: TensorRT turns such a Gemm into a convolution itself in implicit INT8, and there runs the pooling and the
 * layer INT8 (0.022 ms on ResNet-50, H200, TensorRT 10.6). Given the Q/DQ model's Flatten and Gemm, it handed them to
 * its Myelin compiler instead, dequantized the pooling's input in a separate pass and pooled in FP16 (0.028 ms, and
 * the engine 1-1.4 % slower than implicit INT8 in three runs). The Conv keeps the Gemm's node name and the Flatten
 * writes the Gemm's output tensor; the Gemm's input (the flattened pooling) is gone, its values are the pooling
 * output's, which the Conv reads instead.
 */
import type { NodeProto } from './codec.js';
import { nodeFloatAttribute, nodeIntAttribute, type OnnxModel, type OnnxNode } from './model.js';
import { intAttribute, intsAttribute, isFixedFloat, replaceNodes, subgraphReads } from './rewrite-guards.js';

export interface RewrittenHeads {
  /** The model with the rewrite applied (a copy), or the model given when nothing was rewritten. */
  readonly model: OnnxModel;
  /** Names of the Gemm nodes rewritten (their op type where unnamed). */
  readonly rewritten: readonly string[];
}

/**
 * Ops whose output has the rank of their first data input: enough to learn a pooling input's rank from the
 * convolution that wrote it when the model declares no shapes (exporters rarely write value_info).
 */
const rankKeepingOps = new Set(['Relu', 'LeakyRelu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'BatchNormalization', 'Identity', 'Add', 'Mul', 'Div', 'Sub']);

/**
 * The rank of `tensor`: declared, or that of the Conv / ConvTranspose weight behind it through rank-keeping ops (an
 * Add or Mul of two activations follows its first input: a residual Add of two feature maps). Undefined if unknown.
 */
function knownRank(model: OnnxModel, tensor: string, producers: ReadonlyMap<string, OnnxNode>): number | undefined {
  let current = tensor;
  for (let steps = 0; steps < 32; steps++) {
    const declared = model.declaredShape(current);
    if (declared) return declared.length;
    const producer = producers.get(current);
    if (!producer || producer.domain !== '') return undefined;
    if (producer.opType === 'Conv' || producer.opType === 'ConvTranspose') return model.constantTensor(producer.inputs[1] ?? '')?.dims.length;
    if (!rankKeepingOps.has(producer.opType) || !producer.inputs[0]) return undefined;
    current = producer.inputs[0];
  }
  return undefined;
}

/** A pooling -> Flatten -> Gemm chain the rewrite can replace. */
interface PooledGemm {
  readonly flatten: OnnxNode;
  readonly gemm: OnnxNode;
  /** The pooling's output, [N, C, 1, 1] (its input is known to be 4-D). */
  readonly pooled: string;
  readonly inputFeatures: number;
  readonly outputFeatures: number;
}

/** The Gemm as a PooledGemm when the rewrite computes exactly what it computes, else undefined. */
function asPooledGemm(model: OnnxModel, gemm: OnnxNode, producers: ReadonlyMap<string, OnnxNode>, consumers: ReadonlyMap<string, readonly OnnxNode[]>, guards: { graphInputs: ReadonlySet<string>; graphOutputs: ReadonlySet<string>; captured: ReadonlySet<string> }): PooledGemm | undefined {
  if (gemm.domain !== '' || gemm.opType !== 'Gemm') return undefined;
  const [flat, weight, bias] = gemm.inputs;
  const flatten = flat ? producers.get(flat) : undefined;
  if (!flatten || flatten.domain !== '' || flatten.opType !== 'Flatten' || nodeIntAttribute(flatten, 'axis', 1) !== 1) return undefined;
  const pooled = flatten.inputs[0];
  const pooling = pooled ? producers.get(pooled) : undefined;
  // GlobalAveragePool only: the placement runs it INT8 between INT8 layers (rule 3), which is what the rewrite is for.
  // A 4-D input only: the Conv written is 2-D.
  if (!pooled || !pooling || pooling.domain !== '' || pooling.opType !== 'GlobalAveragePool' || !pooling.inputs[0]) return undefined;
  if (knownRank(model, pooling.inputs[0], producers) !== 4) return undefined;
  // The Flatten's output disappears: only the Gemm may read it, and nothing outside the main graph.
  if ((consumers.get(flat!) ?? []).length !== 1 || guards.graphOutputs.has(flat!) || guards.captured.has(flat!) || guards.captured.has(gemm.outputs[0] ?? '')) return undefined;
  if (nodeIntAttribute(gemm, 'transA', 0) !== 0 || (nodeFloatAttribute(gemm, 'alpha') ?? 1) !== 1 || (nodeFloatAttribute(gemm, 'beta') ?? 1) !== 1) return undefined;
  if (!isFixedFloat(model, weight, guards.graphInputs)) return undefined;
  const dims = model.constantTensor(weight)!.dims;
  if (dims.length !== 2) return undefined;
  const [inputFeatures, outputFeatures] = nodeIntAttribute(gemm, 'transB', 0) ? [dims[1]!, dims[0]!] : [dims[0]!, dims[1]!];
  // A bias of one value per output, [K] or [1, K] ([K, 1] would broadcast per sample; a scalar is left alone too).
  if (bias && !isOutputBias(model, bias, outputFeatures, guards.graphInputs)) return undefined;
  return { flatten, gemm, pooled, inputFeatures, outputFeatures };
}

function isOutputBias(model: OnnxModel, bias: string, outputFeatures: number, graphInputs: ReadonlySet<string>): boolean {
  if (!isFixedFloat(model, bias, graphInputs)) return false;
  const dims = model.constantTensor(bias)!.dims;
  return (dims.length === 1 && dims[0] === outputFeatures) || (dims.length === 2 && dims[0] === 1 && dims[1] === outputFeatures);
}

/** The Conv weight [K, C, 1, 1] from the Gemm's B ([C, K], or [K, C] with transB). */
function convWeight(model: OnnxModel, head: PooledGemm): Float32Array {
  const b = model.tensorWeights(head.gemm.inputs[1]!);
  if (nodeIntAttribute(head.gemm, 'transB', 0)) return Float32Array.from(b);
  const { inputFeatures: c, outputFeatures: k } = head;
  const weight = new Float32Array(k * c);
  for (let row = 0; row < c; row++) for (let col = 0; col < k; col++) weight[col * c + row] = b[row * k + col]!;
  return weight;
}

/** Adds the Conv's weight and bias and returns the Conv and Flatten that replace the Gemm. */
function replacementNodes(model: OnnxModel, head: PooledGemm, unique: (base: string) => string): NodeProto[] {
  const { gemm, flatten, pooled, inputFeatures, outputFeatures } = head;
  const [, weight, bias] = gemm.inputs as [string, string, string | undefined];
  const weightName = unique(`${weight}_as_conv`);
  model.setInitializer(weightName, [outputFeatures, inputFeatures, 1, 1], convWeight(model, head));
  const convInputs = [pooled, weightName];
  if (bias) {
    const biasName = unique(`${bias}_as_conv`);
    model.setInitializer(biasName, [outputFeatures], Float32Array.from(model.tensorWeights(bias)));
    convInputs.push(biasName);
  }
  const convOutput = unique(`${gemm.outputs[0]}_as_conv`);
  return [
    { name: gemm.name, opType: 'Conv', input: convInputs, output: [convOutput], attribute: [intsAttribute('kernel_shape', [1, 1])] },
    { name: flatten.name, opType: 'Flatten', input: [convOutput], output: [gemm.outputs[0]!], attribute: [intAttribute('axis', 1)] },
  ];
}

/**
 * Rewrites every GlobalAveragePool (of a 4-D tensor) -> Flatten -> Gemm chain whose Flatten and Gemm are selected (Gemm without transA, alpha = beta = 1, constant
 * weight and bias) as pooling -> 1x1 Conv -> Flatten (see the file comment). Others are left as they are.
 */
export function pooledGemmsAsConvolutions(model: OnnxModel, isSelected: (node: OnnxNode) => boolean): RewrittenHeads {
  const guards = { graphInputs: model.inputNames(), graphOutputs: model.outputNames(), captured: subgraphReads(model) };
  const producers = model.producers();
  const consumers = model.consumers();
  const heads = model.nodes
    .filter(isSelected)
    .map((node) => asPooledGemm(model, node, producers, consumers, guards))
    .filter((head): head is PooledGemm => head !== undefined && isSelected(head.flatten));
  if (heads.length === 0) return { model, rewritten: [] };
  const result = model.clone();
  const unique = result.nameAllocator();
  // The Flatten goes where the Gemm was (after it), where its input, the Conv's output, exists.
  const replacements = new Map<number, NodeProto[]>();
  for (const head of heads) {
    replacements.set(head.flatten.index, []);
    replacements.set(head.gemm.index, replacementNodes(result, head, unique));
  }
  replaceNodes(result, replacements);
  result.removeUnreadConstants(heads.flatMap(({ gemm }) => gemm.inputs.slice(1).filter((tensor) => tensor !== '')));
  return { model: result, rewritten: heads.map(({ gemm }) => gemm.name || gemm.opType) };
}
