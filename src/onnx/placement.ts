/**
 * Where Q/DQ pairs go: which activation tensors need a scale (the calibration targets), which weights get
 * quantized and along which axis, and which node inputs read through a pair. See docs/qdq.md for the rules and why.
 */
import { TrtInt8Error } from '../core/errors.js';
import { badOption, isIntegerIn, isObject, isOneOf } from '../core/is.js';
import { deconvolutionsAsConvolutions } from './deconv.js';
import { foldConvAffines } from './fold.js';
import { pooledGemmsAsConvolutions } from './pooled-gemm.js';
import { nodeIntAttribute, type OnnxModel, type OnnxNode } from './model.js';

/** Nodes to keep in FP32: by name, by op type, or by a predicate. */
export type NodeExclusion =
  | { readonly names?: readonly string[]; readonly opTypes?: readonly string[] }
  | ((node: OnnxNode) => boolean);

/**
 * Placement policies. 'layer-inputs' (the original rules): Q/DQ on the inputs of every weighted layer, on both
 * inputs of a residual Add and on the input of every pooling layer. 'tensorrt': only where TensorRT's fusions gain
 * from it (docs/qdq.md, "TensorRT placement").
 */
export type Placement = 'layer-inputs' | 'tensorrt';
export const PLACEMENTS: readonly Placement[] = ['layer-inputs', 'tensorrt'];
/** The placement insertQdq and planQuantization use when the options name none. */
export const DEFAULT_PLACEMENT: Placement = 'layer-inputs';
/**
 * 'tensorrt' placement: a Conv / ConvTranspose with fewer output channels than this, or a Gemm / MatMul whose K or N
 * is smaller, stays in float.
 */
export const DEFAULT_MIN_CHANNELS = 16;

export interface PlanOptions {
  /** Which placement rules to follow (default DEFAULT_PLACEMENT). */
  readonly placement?: Placement;
  /**
   * 'tensorrt' placement only: a Conv / ConvTranspose with a constant weight and fewer output channels than this, or a
   * Gemm / MatMul with a constant weight whose K (input features) or N (output features) is smaller, stays in float
   * (an INT8 tensor-core tile gains nothing on layers that small). The input channels of a convolution do not count:
   * TensorRT has INT8 first-layer kernels for 1 to 4 input channels, and a float stem in front of INT8 layers costs a
   * separate quantize pass over its output, the largest activation of the network. A small layer among INT8 ones
   * (its input already read through a pair or written by a quantized layer, or its output reaching a pair) is
   * quantized anyway: float would cost a second copy of an activation, or an FP32 output of the layer before it
   * (docs/qdq.md, rule 5). Default 16; 1 keeps all.
   */
  readonly minChannels?: number;
  /** Nodes that keep FP32 inputs (no Q/DQ in front of them). Unknown node names: ERR_BAD_OPTION. */
  readonly exclude?: NodeExclusion;
  /**
   * 'tensorrt' placement only: dense convolutions (selected as `exclude` selects nodes) whose pointwise ops after them
   * (a hard-swish, an affine) stay in the convolution's epilogue. By default rule 6 gives every quantized convolution
   * followed by more than a plain activation a pair on its output, so those ops run as an INT8 layer of their own:
   * under Q/DQ, TensorRT 10.6 on an H200 ran such fused epilogues with `_linkable` kernels at up to 2.8x the time of
   * the same fused layer in implicit INT8, and the split PP-OCRv4 detector took 4.33 ms per batch of 32 instead of
   * 5.17 (docs/qdq.md, rule 6). Select layers here where fusing measures faster on your TensorRT and GPU.
   */
  readonly fusedEpilogues?: NodeExclusion;
  /** Per-output-channel weight scales (default true); false gives one scale per weight tensor. */
  readonly perChannelWeights?: boolean;
}

export interface PlannedActivation {
  /** The activation tensor that gets one (shared) Q/DQ pair and needs an amax. */
  readonly tensor: string;
  /** The quantized nodes that read it through the pair. */
  readonly consumers: readonly OnnxNode[];
}

export interface PlannedWeight {
  readonly tensor: string;
  /** Channel axis for per-channel scales; undefined for a single scale. */
  readonly axis: number | undefined;
  readonly dims: readonly number[];
  readonly consumers: readonly OnnxNode[];
}

export interface QuantizationPlan {
  readonly activations: readonly PlannedActivation[];
  /** Tensor names of `activations`, in graph order: what calibration must provide an amax for. */
  readonly activationNames: readonly string[];
  readonly weights: readonly PlannedWeight[];
  /** Nodes that get Q/DQ on their inputs. */
  readonly quantizedNodes: readonly OnnxNode[];
  /** Nodes the exclusion kept in FP32 that would otherwise have been quantized. */
  readonly excludedNodes: readonly OnnxNode[];
  /** 'tensorrt' placement: weighted layers left in float because they are smaller than `minChannels` (see there). */
  readonly smallNodes: readonly OnnxNode[];
  /**
   * Activation tensors that must share one scale (the largest amax of the group), so that TensorRT needs no
   * requantization across a Concat or a max-pooling; in graph order. Empty for 'layer-inputs'.
   */
  readonly scaleGroups: readonly (readonly string[])[];
}

/** The plan with what the rewrite needs besides: per quantized node index, input slot -> tensor read through a pair. */
export interface RewritePlan extends QuantizationPlan {
  readonly rewires: ReadonlyMap<number, ReadonlyMap<number, string>>;
}

const weightedOps = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);
/** Ops TensorRT fuses into the preceding weighted layer; a residual Add is traced through them. */
const fusedActivationOps = new Set([
  'Relu', 'LeakyRelu', 'Clip', 'Sigmoid', 'Tanh', 'HardSigmoid', 'HardSwish', 'Elu', 'Selu', 'Softplus',
  'BatchNormalization', 'Identity', 'Mul',
]);

export function exclusionPredicate(model: OnnxModel, nodes: readonly OnnxNode[], exclude: NodeExclusion | undefined, option = 'exclude', checkNames = true): (node: OnnxNode) => boolean {
  if (exclude === undefined) return () => false;
  if (typeof exclude === 'function') {
    return (node) => {
      try {
        return Boolean(exclude(node));
      } catch (cause) {
        throw new TrtInt8Error('ERR_BAD_OPTION', `The ${option} predicate threw for node "${node.name}" (${node.opType}).`, { input: option, cause, actual: cause instanceof Error ? cause.message : String(cause) });
      }
    };
  }
  if (typeof exclude !== 'object' || exclude === null) {
    throw badOption('insertQdq', option, '{ names?: string[]; opTypes?: string[] } | (node) => boolean', typeof exclude, [], `${option} must be { names?, opTypes? } or a function.`);
  }
  const names = new Set(exclude.names ?? []);
  const opTypes = new Set(exclude.opTypes ?? []);
  const present = new Set(nodes.map((n) => n.name));
  const unknown = [...names].filter((n) => !present.has(n));
  if (checkNames && unknown.length > 0) {
    throw badOption('insertQdq', `${option}.names`, 'names of nodes of the main graph', unknown, [
      'Check the spelling; node names are listed by model.nodes.map((n) => n.name).',
    ], `${option}.names lists ${unknown.length} node name(s) that ${model.displayName} does not have.`);
  }
  return (node) => names.has(node.name) || opTypes.has(node.opType);
}

/** What the placement rules read about the graph, computed once. */
interface GraphIndex {
  readonly constants: ReadonlySet<string>;
  readonly producer: ReadonlyMap<string, OnnxNode>;
  /** Dims of a constant tensor ([] when not a constant). */
  readonly dimsOf: (name: string) => readonly number[];
  readonly graphOutputs: ReadonlySet<string>;
  readonly elemTypes: ReadonlyMap<string, string>;
  readonly consumers: ReadonlyMap<string, readonly OnnxNode[]>;
}

function indexGraph(model: OnnxModel): GraphIndex {
  const dimsCache = new Map<string, readonly number[]>();
  const dimsOf = (name: string) => {
    let dims = dimsCache.get(name);
    if (!dims) dimsCache.set(name, (dims = model.constantTensor(name)?.dims ?? []));
    return dims;
  };
  return { constants: model.constantNames(), producer: model.producers(), dimsOf, graphOutputs: model.outputNames(), elemTypes: model.elemTypes(), consumers: model.consumers() };
}

/**
 * The weighted layer that `tensor` is the output of, possibly through fused activations (or the other ops `through`
 * names); undefined if none.
 */
function weightedLayerBehind(tensor: string, index: GraphIndex, through: ReadonlySet<string> = fusedActivationOps): OnnxNode | undefined {
  let current = index.producer.get(tensor);
  for (let steps = 0; current && steps < 8; steps++) {
    if (current.domain !== '') return undefined;
    if (weightedOps.has(current.opType)) return current;
    if (!through.has(current.opType)) return undefined;
    // Follow the data input (for Mul: the non-constant one).
    const next = current.inputs.find((i) => i && !index.constants.has(i));
    current = next ? index.producer.get(next) : undefined;
  }
  return undefined;
}

function comesFromWeightedLayer(tensor: string, index: GraphIndex): boolean {
  return weightedLayerBehind(tensor, index) !== undefined;
}

interface Role {
  readonly kind: 'activation' | 'weight';
  readonly slot: number;
  /** Preferred per-channel axis of a weight (from the consumer's layout); undefined: per tensor. */
  readonly axis?: number;
}

/** The inputs of a weighted layer that get Q/DQ: the data input and the weight, with the weight's output-channel axis. */
function weightedLayerRoles(node: OnnxNode, index: GraphIndex): Role[] {
  const isConst = (slot: number) => index.constants.has(node.inputs[slot] ?? '');
  const activationOrWeight = (slot: number, axis: number | undefined): Role =>
    isConst(slot) ? { kind: 'weight', slot, axis } : { kind: 'activation', slot };
  const weightAxis = (): number | undefined => {
    switch (node.opType) {
      case 'Conv':
        return 0;
      case 'ConvTranspose':
        return 1;
      case 'Gemm':
        return nodeIntAttribute(node, 'transB', 0) ? 0 : 1;
      default: {
        const rankB = isConst(1) ? index.dimsOf(node.inputs[1]!).length : 0;
        return rankB >= 2 ? rankB - 1 : undefined;
      }
    }
  };
  return [activationOrWeight(0, undefined), activationOrWeight(1, weightAxis())].filter((r) => (node.inputs[r.slot] ?? '') !== '');
}

/** Today's placement: which inputs of a node get Q/DQ, or [] if the node is not quantized. */
function inputRoles(node: OnnxNode, index: GraphIndex): Role[] {
  if (node.domain !== '') return [];
  if (weightedOps.has(node.opType)) return weightedLayerRoles(node, index);
  switch (node.opType) {
    case 'MaxPool':
    case 'AveragePool':
    case 'GlobalAveragePool':
      return index.constants.has(node.inputs[0] ?? '') || !node.inputs[0] ? [] : [{ kind: 'activation', slot: 0 }];
    case 'Add': {
      const [a, b] = node.inputs;
      if (!a || !b || index.constants.has(a) || index.constants.has(b)) return [];
      if (!comesFromWeightedLayer(a, index) && !comesFromWeightedLayer(b, index)) return [];
      return [{ kind: 'activation', slot: 0 }, { kind: 'activation', slot: 1 }];
    }
    default:
      return [];
  }
}

/** An activation TensorRT can take in INT8 here: not a constant, not a graph output, float32 (or of unknown type). */
function isQuantizableActivation(tensor: string | undefined, index: GraphIndex): tensor is string {
  if (!tensor || index.constants.has(tensor) || index.graphOutputs.has(tensor)) return false;
  const dtype = index.elemTypes.get(tensor);
  return dtype === undefined || dtype === 'float32';
}

/**
 * Whether a weighted layer with a constant weight is too small for INT8 to gain: a Conv / ConvTranspose with fewer
 * than `minChannels` output channels, a Gemm / MatMul whose K or N is below it. Undefined weight: not judged (false).
 */
function isSmallLayer(node: OnnxNode, index: GraphIndex, minChannels: number): boolean {
  const weight = node.inputs[1];
  if (!weight || !index.constants.has(weight)) return false;
  const dims = index.dimsOf(weight);
  const at = (i: number) => dims[i] ?? 1;
  switch (node.opType) {
    case 'Conv':
      return at(0) < minChannels;
    case 'ConvTranspose':
      return at(1) * nodeIntAttribute(node, 'group', 1) < minChannels;
    case 'Gemm': {
      const [k, n] = nodeIntAttribute(node, 'transB', 0) ? [at(1), at(0)] : [at(0), at(1)];
      return Math.min(k, n) < minChannels;
    }
    default:
      // A 1-D right input makes a matrix-vector product: N is 1.
      return (dims.length >= 2 ? Math.min(at(dims.length - 2), at(dims.length - 1)) : 1) < minChannels;
  }
}

/** 'tensorrt' rule 1: the data input (per tensor) and weight (per channel) of weighted layers large enough to gain. */
function planWeightedLayers(nodes: readonly OnnxNode[], index: GraphIndex, isExcluded: (node: OnnxNode) => boolean, builder: PlanBuilder, minChannels: number): void {
  for (const node of nodes) {
    if (node.domain !== '' || !weightedOps.has(node.opType)) continue;
    const roles = weightedLayerRoles(node, index);
    const activations = roles.filter((r) => r.kind === 'activation');
    if (activations.length === 0 || !activations.every((r) => isQuantizableActivation(node.inputs[r.slot], index))) continue;
    if (isSmallLayer(node, index, minChannels)) builder.smallNodes.push(node);
    else if (isExcluded(node)) builder.exclude(node);
    else builder.quantize(node, roles);
  }
}

/** Longest path (in nodes) from a graph input or constant to each tensor: how deep in a branch it lies. */
function tensorDepths(nodes: readonly OnnxNode[]): Map<string, number> {
  const depth = new Map<string, number>();
  for (const node of nodes) {
    const d = 1 + Math.max(0, ...node.inputs.map((i) => depth.get(i) ?? 0));
    for (const output of node.outputs) if (output) depth.set(output, d);
  }
  return depth;
}

/**
 * Whether every tensor from `layer`'s output down to `tensor` (through fused activations) has one reader and is not a
 * graph output: only then can TensorRT fold what follows, a residual Add included, into the layer's epilogue (a
 * layer whose output is read elsewhere too has to write it as it is).
 */
function readOnlyByChain(tensor: string, layer: OnnxNode, index: GraphIndex): boolean {
  let current: string | undefined = tensor;
  for (let steps = 0; current !== undefined && steps < 9; steps++) {
    if ((index.consumers.get(current)?.length ?? 0) !== 1 || index.graphOutputs.has(current)) return false;
    const producer = index.producer.get(current);
    if (!producer || producer === layer) return true;
    current = producer.inputs.find((i) => i && !index.constants.has(i));
  }
  return false;
}

/**
 * 'tensorrt' rule 2: a residual Add fuses into the quantized weighted layer behind one input; the other input, the
 * skip connection, gets the Q/DQ so the fused layer reads it in INT8. A layer qualifies when the Add is the only
 * reader of its (activated) output. When both inputs qualify (a shortcut with its own Conv), the Add fuses into the
 * deeper branch, the main path, as Model-Optimizer decides it.
 */
function planResidualAdds(nodes: readonly OnnxNode[], index: GraphIndex, isExcluded: (node: OnnxNode) => boolean, builder: PlanBuilder): void {
  const depth = tensorDepths(nodes);
  for (const node of nodes) {
    if (node.domain !== '' || node.opType !== 'Add') continue;
    const [a, b] = node.inputs;
    if (!a || !b || a === b || index.constants.has(a) || index.constants.has(b)) continue;
    const fusable = [a, b].map((t) => {
      const layer = weightedLayerBehind(t, index);
      return layer !== undefined && builder.isQuantized(layer) && readOnlyByChain(t, layer, index);
    });
    if (!fusable[0] && !fusable[1]) continue;
    const fusedSlot = fusable[0] && fusable[1] ? ((depth.get(b) ?? 0) > (depth.get(a) ?? 0) ? 1 : 0) : fusable[0] ? 0 : 1;
    const residualSlot = 1 - fusedSlot;
    if (!isQuantizableActivation(node.inputs[residualSlot], index)) continue;
    if (isExcluded(node)) builder.exclude(node);
    else {
      builder.quantizeInput(node, residualSlot);
      builder.fusedInputs.add(inputKey(node, fusedSlot));
    }
  }
}

/** Ops whose INT8 output keeps the input's scale; TensorRT runs them in INT8 without requantizing when all share one. */
const scaleKeepingOps = new Set(['MaxPool', 'Concat']);
const poolingOps = new Set(['MaxPool', 'AveragePool', 'GlobalAveragePool']);
/**
 * Ops that only move or reshape values (no arithmetic): a Q/DQ pair commutes with them, and TensorRT moves its
 * Q/DQ across them. A tensor read by one of these whose output goes through a pair is as good as quantized.
 */
const dataMovementOps = new Set(['Flatten', 'Reshape', 'Squeeze', 'Unsqueeze', 'Transpose', 'Identity']);
/**
 * What a layer's output passes through on its way to the next layer without TensorRT needing it in float: fused
 * activations and ops that only move values (DepthToSpace too: the deconvolution rewrite puts one after a Conv).
 */
const activationsAndMovers = new Set([...fusedActivationOps, ...dataMovementOps, 'DepthToSpace']);

/**
 * The planned tensor that `tensor` reaches unchanged: itself if it gets a pair, else the first one found through a
 * chain of data-movement ops (a GlobalAveragePool's output through Flatten into a quantized Gemm); undefined if none.
 */
function plannedDownstream(tensor: string, index: GraphIndex, builder: PlanBuilder, depth = 0): string | undefined {
  if (builder.isPlanned(tensor)) return tensor;
  if (depth >= 8 || index.graphOutputs.has(tensor)) return undefined;
  for (const consumer of index.consumers.get(tensor) ?? []) {
    if (consumer.domain !== '' || !dataMovementOps.has(consumer.opType) || consumer.inputs[0] !== tensor) continue;
    const found = consumer.outputs[0] ? plannedDownstream(consumer.outputs[0], index, builder, depth + 1) : undefined;
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * 'tensorrt' rule 3: a Concat or pooling whose output is read through Q/DQ, directly or through data-movement ops
 * (Flatten, Reshape, ...), gets Q/DQ on its inputs too, so it runs in INT8 between INT8 layers and its producers
 * write INT8; Concat and MaxPool share one scale between inputs and output (and the tensor reached through the
 * data-movement ops, which holds the same values). Where the output reaches the pair through data-movement ops only,
 * the output itself gets a pair too, with the scale of the tensor it reaches (the same values): TensorRT 10.6 did not
 * move the Quantize of a Flatten output up to the pooling, so ResNet-50's GlobalAveragePool ran in FP16 after a
 * standalone DequantizeLinear, and Flatten + Quantize + Gemm as three Myelin kernels, where implicit INT8 ran an INT8
 * pooling and an INT8 Gemm (H200, 2026-11-30). Walks the graph backwards so that chains (MaxPool -> Concat -> Conv)
 * are covered.
 */
function planScalePropagation(nodes: readonly OnnxNode[], index: GraphIndex, isExcluded: (node: OnnxNode) => boolean, builder: PlanBuilder): void {
  for (const node of [...nodes].reverse()) {
    if (node.domain !== '' || !(node.opType === 'Concat' || poolingOps.has(node.opType))) continue;
    const output = node.outputs[0];
    const planned = output ? plannedDownstream(output, index, builder) : undefined;
    if (!output || planned === undefined) continue;
    const slots = node.opType === 'Concat' ? node.inputs.map((_, slot) => slot) : [0];
    if (!slots.every((slot) => isQuantizableActivation(node.inputs[slot], index))) continue;
    if (isExcluded(node)) {
      builder.exclude(node);
      continue;
    }
    for (const slot of slots) {
      builder.quantizeInput(node, slot);
      if (scaleKeepingOps.has(node.opType)) {
        builder.shareScale(node.inputs[slot]!, output);
        builder.shareScale(node.inputs[slot]!, planned);
      }
    }
    if (planned !== output) quantizeMovedOutput(output, planned, index, isExcluded, builder);
  }
}

/**
 * Rule 3's pair on a Concat or pooling output that reaches the planned tensor `planned` through data-movement ops:
 * only when each tensor on the way has that one reader and is no graph output, and every reader of `planned` reads
 * it through its pair (so no float reader starts seeing quantized values), and the first op of the way is not
 * excluded.
 */
function quantizeMovedOutput(output: string, planned: string, index: GraphIndex, isExcluded: (node: OnnxNode) => boolean, builder: PlanBuilder): void {
  const first = index.consumers.get(output)?.[0];
  for (let tensor = output; tensor !== planned; ) {
    const readers = index.consumers.get(tensor) ?? [];
    const mover = readers[0];
    if (readers.length !== 1 || !mover || index.graphOutputs.has(tensor) || mover.inputs[0] !== tensor || !dataMovementOps.has(mover.opType)) return;
    const next = mover.outputs[0];
    if (next === undefined) return;
    tensor = next;
  }
  // A float reader of the planned tensor would start seeing quantized values through the chain.
  const plannedReaders = index.consumers.get(planned) ?? [];
  if (!plannedReaders.every((reader) => reader.inputs.every((input, slot) => input !== planned || builder.readsThroughPair(reader, slot)))) return;
  // Only the first op of the chain reads through the new pair.
  if (isExcluded(first!)) {
    builder.exclude(first!);
    return;
  }
  builder.quantizeInput(first!, 0);
  builder.shareScale(output, planned);
}

/** Elementwise ops TensorRT fuses into one pointwise layer (PWN), which runs INT8 to INT8 between pairs. */
const pointwiseOps = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Relu', 'LeakyRelu', 'PRelu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Elu',
  'Selu', 'Softplus', 'BatchNormalization',
]);
/** Ops TensorRT runs as one pointwise layer (or a pooling, a resize) that can read INT8 through a pair. */
const int8ReaderOps = new Set([...pointwiseOps, 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Resize']);
/** Activations every TensorRT convolution kernel takes into its epilogue (a depthwise one included). */
const simpleEpilogueOps = new Set(['Relu', 'LeakyRelu', 'Clip', 'BatchNormalization', 'Identity']);

/** Whether a tensor on the way down from `tensor` (through fused activations, any number of readers) gets a pair. */
function reachesPair(tensor: string, index: GraphIndex, builder: PlanBuilder, depth = 0): boolean {
  if (builder.isPlanned(tensor)) return true;
  if (depth >= 8) return false;
  return (index.consumers.get(tensor) ?? []).some((c) => c.domain === '' && fusedActivationOps.has(c.opType) && c.outputs[0] !== undefined && reachesPair(c.outputs[0], index, builder, depth + 1));
}

/**
 * 'tensorrt' rule 5: a layer smaller than `minChannels` stays in float only where that saves something. Its own
 * INT8 kernel gains little, but a float layer among INT8 ones costs more:
 * - its input is read through a pair anyway, or its output (through fused activations) reaches one: TensorRT has to
 *   write a second, float copy of a whole activation or quantize it in a separate pass. The squeeze convolution of a
 *   squeeze-and-excitation block (24 -> 6 channels on a pooled tensor in the PP-OCRv4 detector) is the case: left in
 *   float, it kept the pooling, and with it a reformat of the full feature map, out of INT8.
 * - its input is written by a quantized layer (through fused activations): that layer then writes FP32, four times
 *   the bytes, often with a slower kernel. The detector's last transposed convolution (1 output channel at full
 *   resolution) is the case: in float, the 24-channel transposed convolution before it wrote FP32 in 0.356 ms; with
 *   both INT8, 0.170 ms, and the engine 0.12 ms faster (docs/qdq.md).
 */
function planSmallLayersAmongInt8(index: GraphIndex, isExcluded: (node: OnnxNode) => boolean, builder: PlanBuilder): void {
  const writtenByQuantizedLayer = (tensor: string) => {
    const writer = weightedLayerBehind(tensor, index, activationsAndMovers);
    return writer !== undefined && builder.isQuantized(writer);
  };
  for (const node of [...builder.smallNodes]) {
    const input = node.inputs[0];
    const output = node.outputs[0];
    const amongInt8 = (input !== undefined && (builder.isPlanned(input) || writtenByQuantizedLayer(input))) || (output !== undefined && reachesPair(output, index, builder));
    if (!amongInt8) continue;
    builder.smallNodes.splice(builder.smallNodes.indexOf(node), 1);
    if (isExcluded(node)) builder.exclude(node);
    else builder.quantize(node, weightedLayerRoles(node, index));
  }
}

/**
 * The output of `node` past the activations a convolution epilogue takes (Relu, Clip, BatchNormalization, ...) while
 * each tensor on the way has this one reader: where a pair after the layer belongs, so that it never splits such an
 * activation off the convolution.
 */
function outputPastSimpleEpilogue(node: OnnxNode, index: GraphIndex): string | undefined {
  let tensor = node.outputs[0];
  for (let steps = 0; tensor !== undefined && steps < 8; steps++) {
    const readers = index.consumers.get(tensor) ?? [];
    const reader = readers[0];
    if (readers.length !== 1 || index.graphOutputs.has(tensor) || reader!.domain !== '' || !simpleEpilogueOps.has(reader!.opType)) break;
    tensor = reader!.outputs[0];
  }
  return tensor;
}

/**
 * 'tensorrt' rule 6: the output of a quantized convolution gets a pair when pointwise ops other than a plain
 * activation follow it (an affine Mul / Add, a decomposed hard-swish), so that they run as an INT8 layer of their own.
 * Measured on the PP-OCRv4 detector (H200, TensorRT 10.6, docs/qdq.md):
 * - depthwise (group > 1): TensorRT does not fuse such chains into a depthwise convolution at all. Each layer wrote
 *   FP32 in linear layout and the chain ran as a separate FP32 layer with two reformats around it. With the pair the
 *   convolution writes INT8 and the chain runs INT8 to INT8, as in TensorRT's own implicit INT8 engine.
 * - dense: TensorRT fuses the chain into the convolution, but under Q/DQ only with `_linkable` kernels (every one of
 *   the 14 such layers), 2.01 ms where implicit INT8 took 1.13; split, the convolution and the INT8 pointwise layer
 *   after it took less than implicit INT8's fused layer, and the engine 4.33 ms instead of 5.17. `fusedEpilogues`
 *   keeps selected dense convolutions fused.
 */
function planConvolutionOutputs(nodes: readonly OnnxNode[], index: GraphIndex, isExcluded: (node: OnnxNode) => boolean, keepsEpilogueFused: (node: OnnxNode) => boolean, builder: PlanBuilder): void {
  for (const node of nodes) {
    if (node.opType !== 'Conv' || node.domain !== '' || !builder.isQuantized(node)) continue;
    if (nodeIntAttribute(node, 'group', 1) <= 1 && keepsEpilogueFused(node)) continue;
    const output = outputPastSimpleEpilogue(node, index);
    if (!isQuantizableActivation(output, index) || builder.isPlanned(output)) continue;
    const readers = index.consumers.get(output) ?? [];
    // A reader already quantized (a residual Add fused into this layer) or a weighted one decides by its own rule.
    if (readers.some((r) => builder.isQuantized(r) || weightedOps.has(r.opType))) continue;
    // A dense convolution keeps an epilogue whose result is not read INT8 (a Sigmoid in front of a graph output):
    // splitting there would only add an INT8 step to a float result.
    if (nodeIntAttribute(node, 'group', 1) <= 1 && !pointwiseChainReachesPair(output, index, builder)) continue;
    for (const reader of readers) {
      if (reader.domain !== '' || !int8ReaderOps.has(reader.opType)) continue;
      if (isExcluded(reader)) builder.exclude(reader);
      else reader.inputs.forEach((input, slot) => input === output && builder.quantizeInput(reader, slot));
    }
  }
}

/** Whether a tensor the pointwise ops after `tensor` compute (through any number of them) gets a pair. */
function pointwiseChainReachesPair(tensor: string, index: GraphIndex, builder: PlanBuilder, depth = 0): boolean {
  if (depth >= 16) return false;
  return (index.consumers.get(tensor) ?? []).some(
    (reader) => reader.domain === '' && pointwiseOps.has(reader.opType) && reader.outputs.some((out) => out !== '' && (builder.isPlanned(out) || pointwiseChainReachesPair(out, index, builder, depth + 1))),
  );
}

/**
 * 'tensorrt' rule 7: one format per tensor. A tensor that gets a pair is read through it by every pointwise op,
 * pooling and resize too: a reader of the float tensor makes TensorRT keep a second, float copy of it (the producer
 * writes float and a separate pass quantizes it), which is what the squeeze-and-excitation blocks of the PP-OCRv4
 * detector cost (their Mul and Add read the block input, a pooling read it quantized).
 */
function planSharedReaders(index: GraphIndex, isExcluded: (node: OnnxNode) => boolean, builder: PlanBuilder): void {
  for (const tensor of [...builder.activations.keys()]) {
    const readers = index.consumers.get(tensor) ?? [];
    const canReadPair = (reader: OnnxNode) => reader.domain === '' && int8ReaderOps.has(reader.opType) && !isExcluded(reader);
    // Only where every reader ends up reading the pair: one float reader left (a ReduceMean, a Reshape, an excluded
    // node) keeps the float copy anyway, and moving the others to the pair would only add their quantization error.
    const slotsOf = (reader: OnnxNode) => reader.inputs.flatMap((input, slot) => (input === tensor ? [slot] : []));
    if (!readers.every((reader) => slotsOf(reader).every((slot) => builder.readsThroughPair(reader, slot) || canReadPair(reader)))) continue;
    for (const reader of readers) for (const slot of slotsOf(reader)) if (!builder.readsThroughPair(reader, slot)) builder.quantizeInput(reader, slot);
  }
}

interface PointwiseRegion {
  readonly nodes: readonly OnnxNode[];
  /** The region's reads of tensors it does not compute itself (constants left out). */
  readonly inputs: readonly { readonly node: OnnxNode; readonly slot: number }[];
  /** The tensors it computes that something outside it reads (or that are graph outputs). */
  readonly outputs: readonly string[];
}

/**
 * The graph's pointwise regions: pointwise nodes joined through the tensors that only pointwise nodes read and that
 * get no pair, as TensorRT joins them into one pointwise layer.
 */
function pointwiseRegions(nodes: readonly OnnxNode[], index: GraphIndex, builder: PlanBuilder): PointwiseRegion[] {
  const isPointwise = (n: OnnxNode) => n.domain === '' && pointwiseOps.has(n.opType);
  // Union-find over node positions (OnnxNode objects are views, not identities).
  const parent = new Map<number, number>();
  const root = (i: number): number => {
    let current = i;
    while (parent.get(current) !== current) current = parent.get(current)!;
    return current;
  };
  const pointwise = nodes.filter(isPointwise);
  for (const node of pointwise) parent.set(node.index, node.index);
  for (const node of pointwise) {
    for (const tensor of node.outputs) {
      const readers = index.consumers.get(tensor) ?? [];
      if (!tensor || builder.isPlanned(tensor) || index.graphOutputs.has(tensor) || !readers.every(isPointwise)) continue;
      for (const reader of readers) parent.set(root(reader.index), root(node.index));
    }
  }
  const members = new Map<number, OnnxNode[]>();
  for (const node of pointwise) members.set(root(node.index), [...(members.get(root(node.index)) ?? []), node]);
  return [...members.values()].map((region) => {
    const inside = new Set(region.map((n) => n.index));
    const computed = new Set(region.flatMap((n) => n.outputs));
    const inputs = region.flatMap((node) => node.inputs.flatMap((tensor, slot) => (tensor && !computed.has(tensor) && !index.constants.has(tensor) ? [{ node, slot }] : [])));
    const outputs = [...computed].filter((t) => t && (index.graphOutputs.has(t) || (index.consumers.get(t) ?? []).some((r) => !inside.has(r.index))));
    return { nodes: region, inputs, outputs };
  });
}

/**
 * How a region's output gets written INT8: [] when it gets a pair itself; the Resize readers whose outputs get one,
 * when it goes only into those (each then reads it through a pair of its output's scale and runs INT8 too);
 * undefined when it is not written INT8.
 */
function int8ResizeReaders(tensor: string, index: GraphIndex, builder: PlanBuilder, isExcluded: (node: OnnxNode) => boolean): readonly OnnxNode[] | undefined {
  if (builder.isPlanned(tensor)) return [];
  const readers = index.consumers.get(tensor) ?? [];
  const isInt8Resize = (r: OnnxNode) => r.domain === '' && r.opType === 'Resize' && !isExcluded(r) && r.inputs[0] === tensor && !r.inputs.slice(1).includes(tensor) && r.outputs[0] !== undefined && builder.isPlanned(r.outputs[0]);
  return readers.length > 0 && readers.every(isInt8Resize) && isQuantizableActivation(tensor, index) ? readers : undefined;
}

/**
 * 'tensorrt' rule 8: a pointwise region between INT8 tensors runs INT8 to INT8. When one of its inputs already comes
 * through a pair and everything it writes goes into one, its other inputs get pairs too. TensorRT fuses a pointwise
 * layer with DQ on every input and Q on its output into one INT8 kernel, as its implicit INT8 engines do; one float
 * input makes it dequantize the others in separate passes and run the layer in float. Measured on the PP-OCRv4
 * detector (H200, TensorRT 10.6): in each squeeze-and-excitation block of its neck, `x + x * hardsigmoid(gate)` (and
 * the top-down Add after it) read the gate and an upsampled map in float, which cost a dequantize of the full
 * feature map and a float pointwise layer, 0.66 ms of 5.6 in the largest block.
 */
function planPointwiseRegions(nodes: readonly OnnxNode[], index: GraphIndex, isExcluded: (node: OnnxNode) => boolean, builder: PlanBuilder): void {
  for (const region of pointwiseRegions(nodes, index, builder)) {
    // A residual Add's main path (with any activation between the layer and the Add) is the epilogue of the layer
    // that writes it (rule 2): that layer decides the region.
    if (region.nodes.some((node) => node.inputs.some((_, slot) => builder.fusedInputs.has(inputKey(node, slot))))) continue;
    const floatInputs = region.inputs.filter(({ node, slot }) => !builder.readsThroughPair(node, slot));
    // Every input already INT8 (rule 6 pairs a convolution's output before its pointwise ops) still leaves the
    // outputs to place: a region that writes only into an INT8 Resize gets its pair below.
    if (floatInputs.length === region.inputs.length || region.outputs.length === 0) continue;
    if (region.nodes.some(isExcluded) || !floatInputs.every(({ node, slot }) => isQuantizableActivation(node.inputs[slot], index))) continue;
    // As rule 7: only where the tensor then has one format, every reader outside the region reading the pair already.
    const members = new Set(region.nodes.map((n) => n.index));
    const oneFormat = ({ node, slot }: { node: OnnxNode; slot: number }) => {
      const tensor = node.inputs[slot]!;
      return (index.consumers.get(tensor) ?? []).every((r) => members.has(r.index) || r.inputs.every((t, s) => t !== tensor || builder.readsThroughPair(r, s)));
    };
    if (!floatInputs.every(oneFormat)) continue;
    const resizes = region.outputs.map((t) => int8ResizeReaders(t, index, builder, isExcluded));
    if (resizes.some((readers) => readers === undefined)) continue;
    region.outputs.forEach((tensor, i) => {
      for (const resize of resizes[i]!) {
        builder.quantizeInput(resize, 0);
        builder.shareScale(tensor, resize.outputs[0]!);
      }
    });
    for (const { node, slot } of floatInputs) builder.quantizeInput(node, slot);
  }
}

function planForTensorRt(nodes: readonly OnnxNode[], index: GraphIndex, isExcluded: (node: OnnxNode) => boolean, keepsEpilogueFused: (node: OnnxNode) => boolean, builder: PlanBuilder, minChannels: number): void {
  planWeightedLayers(nodes, index, isExcluded, builder, minChannels);
  planResidualAdds(nodes, index, isExcluded, builder);
  // Each rule below can give a tensor a pair that another one reads: repeat until nothing changes (each round adds
  // a pair or stops, so this ends; the bound is only a guard).
  for (let round = 0; round <= nodes.length; round++) {
    const before = builder.pairCount();
    planScalePropagation(nodes, index, isExcluded, builder);
    planSmallLayersAmongInt8(index, isExcluded, builder);
    planConvolutionOutputs(nodes, index, isExcluded, keepsEpilogueFused, builder);
    planSharedReaders(index, isExcluded, builder);
    planPointwiseRegions(nodes, index, isExcluded, builder);
    if (builder.pairCount() === before) break;
  }
}

function inputKey(node: OnnxNode, slot: number): string {
  return `${node.index}:${slot}`;
}

/** Collects the chosen roles per tensor: activations with their consumers, weights with their axes. */
class PlanBuilder {
  readonly activations = new Map<string, OnnxNode[]>();
  readonly weights = new Map<string, { axes: Set<number | undefined>; consumers: OnnxNode[] }>();
  readonly rewires = new Map<number, Map<number, string>>();
  readonly quantizedNodes: OnnxNode[] = [];
  readonly excludedNodes: OnnxNode[] = [];
  readonly smallNodes: OnnxNode[] = [];
  /** Node inputs (inputKey) that a layer writes from its epilogue: the main path of a residual Add (rule 2). */
  readonly fusedInputs = new Set<string>();
  /** Union-find parent of each tensor that shares its scale with others. */
  private readonly shareParent = new Map<string, string>();

  constructor(private readonly perChannel: boolean) {}

  /** Adds `tensor` to the quantized inputs of `node`, which may already be quantized on other inputs. */
  quantizeInput(node: OnnxNode, slot: number): void {
    const existing = this.rewires.get(node.index);
    if (!existing) {
      this.quantize(node, [{ kind: 'activation', slot }]);
      return;
    }
    const tensor = node.inputs[slot]!;
    existing.set(slot, tensor);
    const consumers = this.activations.get(tensor) ?? [];
    if (!consumers.includes(node)) consumers.push(node);
    this.activations.set(tensor, consumers);
  }

  isQuantized(node: OnnxNode): boolean {
    return this.rewires.has(node.index);
  }

  /** Whether `node` reads its input `slot` through a pair. */
  readsThroughPair(node: OnnxNode, slot: number): boolean {
    return this.rewires.get(node.index)?.has(slot) ?? false;
  }

  /** Records an excluded node once, however often the rules meet it. */
  exclude(node: OnnxNode): void {
    if (!this.excludedNodes.includes(node)) this.excludedNodes.push(node);
  }

  /** How many node inputs read through a pair: the rules that run to a fixed point stop when it stops growing. */
  pairCount(): number {
    let count = 0;
    for (const slots of this.rewires.values()) count += slots.size;
    return count;
  }

  isPlanned(tensor: string): boolean {
    return this.activations.has(tensor);
  }

  private root(tensor: string): string {
    let current = tensor;
    for (let parent = this.shareParent.get(current); parent !== undefined && parent !== current; parent = this.shareParent.get(current)) current = parent;
    return current;
  }

  /** Records that tensors `a` and `b` must share one scale. */
  shareScale(a: string, b: string): void {
    const ra = this.root(a);
    const rb = this.root(b);
    this.shareParent.set(ra, ra);
    if (ra !== rb) this.shareParent.set(rb, ra);
  }

  private scaleGroups(byGraphOrder: (a: string, b: string) => number): string[][] {
    const groups = new Map<string, string[]>();
    for (const tensor of this.shareParent.keys()) {
      if (!this.activations.has(tensor)) continue;
      const root = this.root(tensor);
      groups.set(root, [...(groups.get(root) ?? []), tensor]);
    }
    return [...groups.values()].filter((g) => g.length > 1).map((g) => g.sort(byGraphOrder)).sort((a, b) => byGraphOrder(a[0]!, b[0]!));
  }

  quantize(node: OnnxNode, roles: readonly Role[]): void {
    this.quantizedNodes.push(node);
    const slots = new Map<number, string>();
    for (const role of roles) {
      const tensor = node.inputs[role.slot]!;
      slots.set(role.slot, tensor);
      if (role.kind === 'activation') {
        const consumers = this.activations.get(tensor) ?? [];
        if (!consumers.includes(node)) consumers.push(node);
        this.activations.set(tensor, consumers);
      } else {
        const entry = this.weights.get(tensor) ?? { axes: new Set(), consumers: [] };
        entry.axes.add(this.perChannel ? role.axis : undefined);
        if (!entry.consumers.includes(node)) entry.consumers.push(node);
        this.weights.set(tensor, entry);
      }
    }
    this.rewires.set(node.index, slots);
  }

  finish(model: OnnxModel, index: GraphIndex): RewritePlan {
    const order = model.tensorOrder();
    const byGraphOrder = (a: string, b: string) => (order.get(a) ?? -1) - (order.get(b) ?? -1);
    const activations = [...this.activations.keys()].sort(byGraphOrder).map((tensor) => ({ tensor, consumers: this.activations.get(tensor)! }));
    const weights: PlannedWeight[] = [...this.weights.entries()].map(([tensor, { axes, consumers }]) => {
      // A weight shared by layers that disagree on the channel axis falls back to one scale.
      const axis = axes.size === 1 ? [...axes][0] : undefined;
      return { tensor, axis, dims: index.dimsOf(tensor), consumers };
    });
    return {
      activations,
      activationNames: activations.map((a) => a.tensor),
      weights,
      quantizedNodes: this.quantizedNodes,
      excludedNodes: this.excludedNodes,
      smallNodes: this.smallNodes,
      scaleGroups: this.scaleGroups(byGraphOrder),
      rewires: this.rewires,
    };
  }
}

function planLayerInputs(nodes: readonly OnnxNode[], index: GraphIndex, isExcluded: (node: OnnxNode) => boolean, builder: PlanBuilder): void {
  for (const node of nodes) {
    const roles = inputRoles(node, index);
    if (roles.length === 0) continue;
    if (isExcluded(node)) builder.exclude(node);
    else builder.quantize(node, roles);
  }
}

export function checkPlanOptions(options: PlanOptions): void {
  if (!isObject(options)) throw badOption('insertQdq', 'options', '{ placement?, minChannels?, exclude?, fusedEpilogues?, perChannelWeights? }', options);
  if (options.placement !== undefined && !isOneOf(options.placement, PLACEMENTS)) {
    throw badOption('insertQdq', 'placement', PLACEMENTS.join(' | '), options.placement, [`Use one of: ${PLACEMENTS.join(', ')}.`]);
  }
  if (options.minChannels !== undefined && !isIntegerIn(options.minChannels, 1)) {
    throw badOption('insertQdq', 'minChannels', 'an integer >= 1', options.minChannels, ['Pass 1 to quantize every weighted layer whatever its size.']);
  }
  if (options.perChannelWeights !== undefined && typeof options.perChannelWeights !== 'boolean') {
    throw badOption('insertQdq', 'perChannelWeights', 'true or false', options.perChannelWeights);
  }
  checkNodeSelection(options.exclude, 'exclude');
  checkNodeSelection(options.fusedEpilogues, 'fusedEpilogues');
}

/** A NodeExclusion's shape: a predicate, or { names?, opTypes? } holding arrays of strings and nothing else. */
function checkNodeSelection(selection: unknown, option: string): void {
  if (selection === undefined || typeof selection === 'function') return;
  const expected = '{ names?: string[]; opTypes?: string[] } | (node) => boolean';
  if (!isObject(selection) || Array.isArray(selection)) throw badOption('insertQdq', option, expected, selection, [`Pass { names: [...] } to select nodes by name.`]);
  const unknownKeys = Object.keys(selection).filter((key) => key !== 'names' && key !== 'opTypes');
  if (unknownKeys.length > 0) throw badOption('insertQdq', option, expected, unknownKeys, ['The keys are names and opTypes.'], `${option} has unknown key(s): ${unknownKeys.join(', ')}.`);
  for (const key of ['names', 'opTypes'] as const) {
    const list = selection[key];
    if (list !== undefined && !(Array.isArray(list) && list.every((item) => typeof item === 'string'))) {
      throw badOption('insertQdq', `${option}.${key}`, 'an array of strings', list);
    }
  }
}

/**
 * Names in `exclude` and `fusedEpilogues` checked against the model given (the 'tensorrt' plan is made on a folded
 * copy, which lacks the folded Mul / Add nodes): ERR_BAD_OPTION for a name the model does not have.
 */
export function checkSelectedNames(model: OnnxModel, options: PlanOptions): void {
  exclusionPredicate(model, model.nodes, options.exclude);
  exclusionPredicate(model, model.nodes, options.fusedEpilogues, 'fusedEpilogues');
}

/** What the 'tensorrt' placement changed in the graph before planning: the same function, in forms TensorRT runs faster. */
export interface TensorRtGraph {
  readonly model: OnnxModel;
  /** Constant Mul / Add nodes folded into the convolutions before them (fold.ts). */
  readonly folded: readonly string[];
  /** Transposed convolutions whose Conv form is smaller than `minChannels`, rewritten as Conv + DepthToSpace (deconv.ts). */
  readonly deconvolutions: readonly string[];
  /** Gemms after a global pooling and a Flatten rewritten as a 1x1 Conv (pooled-gemm.ts). */
  readonly pooledGemms: readonly string[];
}

/**
 * The graph the 'tensorrt' plan is made on: constant affines folded into the convolutions (fold.ts), upsampling
 * transposed convolutions whose Conv form (C_out x k x k outputs) is smaller than `minChannels` as a 1x1 Conv +
 * DepthToSpace (deconv.ts), and classifier heads (GlobalAveragePool -> Flatten -> Gemm) with the Gemm as a 1x1 Conv
 * (pooled-gemm.ts). Nodes `exclude` names are left
 * as they are. Tensor names are kept, so ranges calibrated on `model` apply.
 */
export function tensorRtGraph(model: OnnxModel, options: PlanOptions): TensorRtGraph {
  const folded = foldConvAffines(model, exclusionPredicate(model, model.nodes, options.exclude));
  const isExcluded = exclusionPredicate(folded.model, folded.model.nodes, options.exclude, 'exclude', false);
  const minChannels = options.minChannels ?? DEFAULT_MIN_CHANNELS;
  // A node is rewritten only where `exclude` selects neither it nor the Conv it becomes (an opType 'Conv' exclusion
  // would otherwise catch a Gemm or ConvTranspose it did not name once rewritten).
  const keptAsGiven = (node: OnnxNode) => isExcluded(node) || isExcluded({ ...node, opType: 'Conv' });
  // The Conv a deconvolution becomes has C_out x k x k outputs [C_out, C_in/group, k, k]: rewritten only where that
  // is still smaller than minChannels, so that rules 1 and 5 judge it as they would the deconvolution.
  const rewrittenOutputs = (node: OnnxNode) => folded.model.constantTensor(node.inputs[1] ?? '')?.dims.slice(1).reduce((a, b) => a * b, 1) ?? minChannels;
  const isSmallDeconvolution = (node: OnnxNode) => node.opType === 'ConvTranspose' && !keptAsGiven(node) && rewrittenOutputs(node) < minChannels;
  const deconvolutions = deconvolutionsAsConvolutions(folded.model, isSmallDeconvolution);
  const heads = pooledGemmsAsConvolutions(deconvolutions.model, (node) => !keptAsGiven(node));
  return { model: heads.model, folded: folded.folded, deconvolutions: deconvolutions.rewritten, pooledGemms: heads.rewritten };
}

/** The graph the plan is made on: for 'tensorrt', tensorRtGraph's (names checked against the model given). */
function plannedModel(model: OnnxModel, options: PlanOptions): OnnxModel {
  checkSelectedNames(model, options);
  return options.placement === 'tensorrt' ? tensorRtGraph(model, options).model : model;
}

export function buildPlan(model: OnnxModel, options: PlanOptions): RewritePlan {
  checkPlanOptions(options);
  const nodes = model.nodes;
  const index = indexGraph(model);
  const isExcluded = exclusionPredicate(model, nodes, options.exclude, 'exclude', false);
  const builder = new PlanBuilder(options.perChannelWeights ?? true);
  const placement = options.placement ?? DEFAULT_PLACEMENT;
  // Names checked on the model given (checkSelectedNames): a node folded or rewritten away may be named, and is gone
  // from this copy.
  const keepsEpilogueFused = exclusionPredicate(model, nodes, options.fusedEpilogues, 'fusedEpilogues', false);
  if (placement === 'tensorrt') planForTensorRt(nodes, index, isExcluded, keepsEpilogueFused, builder, options.minChannels ?? DEFAULT_MIN_CHANNELS);
  else planLayerInputs(nodes, index, isExcluded, builder);
  return builder.finish(model, index);
}

/**
 * Where Q/DQ pairs go. 'layer-inputs' (default): the activation and weight inputs of Conv/ConvTranspose/Gemm/MatMul,
 * both inputs of a residual Add fed by such a layer, and the input of MaxPool/AveragePool/GlobalAveragePool.
 * 'tensorrt': weighted layers not smaller than `minChannels` (output channels of a convolution, K and N of a
 * Gemm / MatMul) or among INT8 ones, the skip input of residual Adds, Concat and pooling inputs where their output is
 * quantized, directly or through Flatten / Reshape / ... (with shared scales for Concat and MaxPool), the output of a
 * convolution that more than a plain activation follows (except dense ones `fusedEpilogues` selects), every reader of a quantized tensor where all can
 * read it through the pair, the other inputs of a pointwise region between INT8 tensors; never a graph output
 * (docs/qdq.md, rules 1-8). For 'tensorrt' the plan is made on tensorRtGraph's copy (affines folded, small
 * deconvolutions and pooled Gemm heads rewritten), so its nodes are that copy's. Only the main graph is planned.
 */
export function planQuantization(model: OnnxModel, options: PlanOptions = {}): QuantizationPlan {
  checkPlanOptions(options);
  const { rewires: _rewires, ...plan } = buildPlan(plannedModel(model, options), options);
  return plan;
}
