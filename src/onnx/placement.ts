/**
 * Where Q/DQ pairs go: which activation tensors need a scale (the calibration targets), which weights get
 * quantized and along which axis, and which node inputs read through a pair. See docs/qdq.md for the rules and why.
 */
import { TrtInt8Error } from '../core/errors.js';
import { badOption } from '../core/is.js';
import { nodeIntAttribute, type OnnxModel, type OnnxNode } from './model.js';

/** Nodes to keep in FP32: by name, by op type, or by a predicate. */
export type NodeExclusion =
  | { readonly names?: readonly string[]; readonly opTypes?: readonly string[] }
  | ((node: OnnxNode) => boolean);

export interface PlanOptions {
  /** Nodes that keep FP32 inputs (no Q/DQ in front of them). Unknown node names: ERR_BAD_OPTION. */
  readonly exclude?: NodeExclusion;
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

function exclusionPredicate(model: OnnxModel, nodes: readonly OnnxNode[], exclude: NodeExclusion | undefined): (node: OnnxNode) => boolean {
  if (exclude === undefined) return () => false;
  if (typeof exclude === 'function') {
    return (node) => {
      try {
        return Boolean(exclude(node));
      } catch (cause) {
        throw new TrtInt8Error('ERR_BAD_OPTION', `The exclude predicate threw for node "${node.name}" (${node.opType}).`, { input: 'exclude', cause, actual: cause instanceof Error ? cause.message : String(cause) });
      }
    };
  }
  if (typeof exclude !== 'object' || exclude === null) {
    throw badOption('insertQdq', 'exclude', '{ names?: string[]; opTypes?: string[] } | (node) => boolean', typeof exclude, [], 'exclude must be { names?, opTypes? } or a function.');
  }
  const names = new Set(exclude.names ?? []);
  const opTypes = new Set(exclude.opTypes ?? []);
  const present = new Set(nodes.map((n) => n.name));
  const unknown = [...names].filter((n) => !present.has(n));
  if (unknown.length > 0) {
    throw badOption('insertQdq', 'exclude.names', 'names of nodes of the main graph', unknown, [
      'Check the spelling; node names are listed by model.nodes.map((n) => n.name).',
    ], `exclude.names lists ${unknown.length} node name(s) that ${model.displayName} does not have.`);
  }
  return (node) => names.has(node.name) || opTypes.has(node.opType);
}

/** What the placement rules read about the graph, computed once. */
interface GraphIndex {
  readonly constants: ReadonlySet<string>;
  readonly producer: ReadonlyMap<string, OnnxNode>;
  /** Dims of a constant tensor ([] when not a constant). */
  readonly dimsOf: (name: string) => readonly number[];
}

function indexGraph(model: OnnxModel): GraphIndex {
  const dimsCache = new Map<string, readonly number[]>();
  const dimsOf = (name: string) => {
    let dims = dimsCache.get(name);
    if (!dims) dimsCache.set(name, (dims = model.constantTensor(name)?.dims ?? []));
    return dims;
  };
  return { constants: model.constantNames(), producer: model.producers(), dimsOf };
}

/** True when `tensor` is the output of a weighted layer, possibly through fused activations. */
function comesFromWeightedLayer(tensor: string, index: GraphIndex): boolean {
  let current = index.producer.get(tensor);
  for (let steps = 0; current && steps < 8; steps++) {
    if (current.domain !== '') return false;
    if (weightedOps.has(current.opType)) return true;
    if (!fusedActivationOps.has(current.opType)) return false;
    // Follow the data input (for Mul: the non-constant one).
    const next = current.inputs.find((i) => i && !index.constants.has(i));
    current = next ? index.producer.get(next) : undefined;
  }
  return false;
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

/** Collects the chosen roles per tensor: activations with their consumers, weights with their axes. */
class PlanBuilder {
  readonly activations = new Map<string, OnnxNode[]>();
  readonly weights = new Map<string, { axes: Set<number | undefined>; consumers: OnnxNode[] }>();
  readonly rewires = new Map<number, Map<number, string>>();
  readonly quantizedNodes: OnnxNode[] = [];
  readonly excludedNodes: OnnxNode[] = [];

  constructor(private readonly perChannel: boolean) {}

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
      rewires: this.rewires,
    };
  }
}

export function buildPlan(model: OnnxModel, options: PlanOptions): RewritePlan {
  const nodes = model.nodes;
  const index = indexGraph(model);
  const isExcluded = exclusionPredicate(model, nodes, options.exclude);
  const builder = new PlanBuilder(options.perChannelWeights ?? true);
  for (const node of nodes) {
    const roles = inputRoles(node, index);
    if (roles.length === 0) continue;
    if (isExcluded(node)) builder.excludedNodes.push(node);
    else builder.quantize(node, roles);
  }
  return builder.finish(model, index);
}

/**
 * Where Q/DQ pairs go, following TensorRT's explicit-quantization placement: the activation and
 * weight inputs of Conv/ConvTranspose/Gemm/MatMul, both inputs of a residual Add fed by such a
 * layer, and the input of MaxPool/AveragePool/GlobalAveragePool. Only the main graph is planned.
 */
export function planQuantization(model: OnnxModel, options: PlanOptions = {}): QuantizationPlan {
  const { rewires: _rewires, ...plan } = buildPlan(model, options);
  return plan;
}
