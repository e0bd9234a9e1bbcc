/**
 * Q/DQ placement and writing for TensorRT explicit quantization (see docs/qdq.md for the rules and
 * why): symmetric INT8, activations per tensor (scale = amax / 127), weights per output channel.
 */
import { product } from '../core/tensor.js';
import { TrtInt8Error } from '../core/errors.js';
import { onnx } from './proto/onnx.js';
import { DataType, elemTypeName, intAttribute, makeFloatTensor, makeInt8Tensor, type NodeProto, type TensorProto } from './codec.js';
import { OnnxModel, type OnnxNode } from './model.js';
import { inferElemTypes } from './elem-types.js';

/** QuantizeLinear with `axis` (per-channel) exists from opset 13; TensorRT needs 13+ for Q/DQ too. */
export const MIN_QDQ_OPSET = 13;

/**
 * Scale used for a weight channel that is all zeros (max |w| = 0): any positive scale dequantizes
 * zeros to zeros; 2^-14 is the smallest normal FP16 value, so the scale survives a cast to FP16.
 */
export const ZERO_CHANNEL_WEIGHT_SCALE = 2 ** -14;

const INT8_MAX = 127;

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

export interface InsertQdqOptions extends PlanOptions {
  /** amax (max |x| to represent) per activation tensor, e.g. from calibration. Extra entries are ignored. */
  readonly amax: ReadonlyMap<string, number> | Readonly<Record<string, number>>;
}

const weightedOps = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);
const poolingOps = new Set(['MaxPool', 'AveragePool', 'GlobalAveragePool']);
/** Ops TensorRT fuses into the preceding weighted layer; a residual Add is traced through them. */
const fusedActivationOps = new Set([
  'Relu', 'LeakyRelu', 'Clip', 'Sigmoid', 'Tanh', 'HardSigmoid', 'HardSwish', 'Elu', 'Selu', 'Softplus',
  'BatchNormalization', 'Identity', 'Mul',
]);

function optionError(input: string, message: string, expected: unknown, actual: unknown, fixes: string[] = []) {
  return new TrtInt8Error('ERR_BAD_OPTION', message, { input, expected, actual, fixes });
}

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
    throw optionError('exclude', 'exclude must be { names?, opTypes? } or a function.', '{ names?: string[]; opTypes?: string[] } | (node) => boolean', typeof exclude);
  }
  const names = new Set(exclude.names ?? []);
  const opTypes = new Set(exclude.opTypes ?? []);
  const present = new Set(nodes.map((n) => n.name));
  const unknown = [...names].filter((n) => !present.has(n));
  if (unknown.length > 0) {
    throw optionError('exclude.names', `exclude.names lists ${unknown.length} node name(s) that ${model.displayName} does not have.`, 'names of nodes of the main graph', unknown, [
      'Check the spelling; node names are listed by model.nodes.map((n) => n.name).',
    ]);
  }
  return (node) => names.has(node.name) || opTypes.has(node.opType);
}

interface GraphIndex {
  readonly constants: ReadonlySet<string>;
  readonly producer: ReadonlyMap<string, OnnxNode>;
}

function indexGraph(model: OnnxModel, nodes: readonly OnnxNode[]): GraphIndex {
  const constants = new Set((model.graph.initializer ?? []).map((t) => t.name ?? ''));
  const producer = new Map<string, OnnxNode>();
  for (const node of nodes) {
    for (const output of node.outputs) if (output) producer.set(output, node);
    if (node.opType === 'Constant' && node.domain === '' && node.outputs[0]) constants.add(node.outputs[0]);
  }
  return { constants, producer };
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

/** Which inputs of a node get Q/DQ, or [] if the node is not quantized. */
function inputRoles(node: OnnxNode, index: GraphIndex, dimsOf: (name: string) => readonly number[]): Role[] {
  if (node.domain !== '') return [];
  const isConst = (slot: number) => index.constants.has(node.inputs[slot] ?? '');
  const activationOrWeight = (slot: number, axis: number | undefined): Role =>
    isConst(slot) ? { kind: 'weight', slot, axis } : { kind: 'activation', slot };
  const present = (roles: Role[]) => roles.filter((r) => (node.inputs[r.slot] ?? '') !== '');
  switch (node.opType) {
    case 'Conv':
      return present([activationOrWeight(0, undefined), activationOrWeight(1, 0)]);
    case 'ConvTranspose':
      return present([activationOrWeight(0, undefined), activationOrWeight(1, 1)]);
    case 'Gemm': {
      const transB = intAttribute(node.proto, 'transB', 0);
      return present([activationOrWeight(0, undefined), activationOrWeight(1, transB ? 0 : 1)]);
    }
    case 'MatMul': {
      const rankB = isConst(1) ? dimsOf(node.inputs[1]!).length : 0;
      return present([activationOrWeight(0, undefined), activationOrWeight(1, rankB >= 2 ? rankB - 1 : undefined)]);
    }
    case 'MaxPool':
    case 'AveragePool':
    case 'GlobalAveragePool':
      return isConst(0) ? [] : present([{ kind: 'activation', slot: 0 }]);
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

interface FullPlan extends QuantizationPlan {
  /** Per quantized node index: input slot -> tensor to read through a Q/DQ pair. */
  readonly rewires: ReadonlyMap<number, ReadonlyMap<number, string>>;
}

function buildPlan(model: OnnxModel, options: PlanOptions): FullPlan {
  const nodes = model.nodes;
  const index = indexGraph(model, nodes);
  const isExcluded = exclusionPredicate(model, nodes, options.exclude);
  const perChannel = options.perChannelWeights ?? true;
  const dimsCache = new Map<string, readonly number[]>();
  const dimsOf = (name: string) => {
    let dims = dimsCache.get(name);
    if (!dims) dimsCache.set(name, (dims = model.constantTensor(name)?.dims ?? []));
    return dims;
  };

  const activations = new Map<string, OnnxNode[]>();
  const weights = new Map<string, { axes: Set<number | undefined>; consumers: OnnxNode[] }>();
  const rewires = new Map<number, Map<number, string>>();
  const quantizedNodes: OnnxNode[] = [];
  const excludedNodes: OnnxNode[] = [];
  for (const node of nodes) {
    const roles = inputRoles(node, index, dimsOf);
    if (roles.length === 0) continue;
    if (isExcluded(node)) {
      excludedNodes.push(node);
      continue;
    }
    quantizedNodes.push(node);
    const slots = new Map<number, string>();
    for (const role of roles) {
      const tensor = node.inputs[role.slot]!;
      slots.set(role.slot, tensor);
      if (role.kind === 'activation') {
        const consumers = activations.get(tensor) ?? [];
        if (!consumers.includes(node)) consumers.push(node);
        activations.set(tensor, consumers);
      } else {
        const entry = weights.get(tensor) ?? { axes: new Set(), consumers: [] };
        entry.axes.add(perChannel ? role.axis : undefined);
        if (!entry.consumers.includes(node)) entry.consumers.push(node);
        weights.set(tensor, entry);
      }
    }
    rewires.set(node.index, slots);
  }

  // Graph order: graph inputs first, then tensors in the order their producers appear.
  const order = new Map<string, number>();
  for (const info of model.graph.input ?? []) order.set(info.name ?? '', order.size);
  for (const node of nodes) for (const o of node.outputs) if (!order.has(o)) order.set(o, order.size);
  const byGraphOrder = (a: string, b: string) => (order.get(a) ?? -1) - (order.get(b) ?? -1);

  const activationList = [...activations.keys()].sort(byGraphOrder).map((tensor) => ({ tensor, consumers: activations.get(tensor)! }));
  const weightList: PlannedWeight[] = [...weights.entries()].map(([tensor, { axes, consumers }]) => {
    // A weight shared by layers that disagree on the channel axis falls back to one scale.
    const axis = axes.size === 1 ? [...axes][0] : undefined;
    return { tensor, axis, dims: dimsOf(tensor), consumers };
  });
  return {
    activations: activationList,
    activationNames: activationList.map((a) => a.tensor),
    weights: weightList,
    quantizedNodes,
    excludedNodes,
    rewires,
  };
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

function amaxLookup(amax: InsertQdqOptions['amax']): (name: string) => number | undefined {
  if (amax instanceof Map) return (name) => amax.get(name);
  if (typeof amax === 'object' && amax !== null) {
    const record = amax as Readonly<Record<string, number>>;
    return (name) => (Object.prototype.hasOwnProperty.call(record, name) ? record[name] : undefined);
  }
  throw optionError('amax', 'insertQdq needs options.amax: a Map (or object) from tensor name to amax.', 'Map<string, number>', typeof amax);
}

/** Symmetric int8 scale per channel along `axis` (or one scale when axis is undefined). */
function weightScales(tensor: string, values: Float32Array, dims: readonly number[], axis: number | undefined): Float32Array {
  const channels = axis === undefined ? 1 : dims[axis]!;
  const inner = axis === undefined ? values.length : product(dims.slice(axis + 1));
  const absMax = new Float64Array(channels);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) {
      throw new TrtInt8Error('ERR_BAD_MODEL', `Weight "${tensor}" holds a non-finite value (${v}) at flat index ${i}.`, {
        input: tensor,
        expected: 'finite weights',
        actual: v,
        fixes: ['Fix the exported weights, or exclude the layers that use this weight.'],
      });
    }
    const c = axis === undefined ? 0 : Math.floor(i / inner) % channels;
    const a = Math.abs(v);
    if (a > absMax[c]!) absMax[c] = a;
  }
  // A scale that rounds to 0 in float32 would divide by zero in QuantizeLinear.
  return Float32Array.from(absMax, (m) => {
    const scale = Math.fround(m / INT8_MAX);
    return scale > 0 ? scale : ZERO_CHANNEL_WEIGHT_SCALE;
  });
}

/**
 * A new model with QuantizeLinear/DequantizeLinear pairs inserted per planQuantization(): one pair
 * per activation tensor (shared by all quantized consumers; other consumers keep the FP32 tensor),
 * weights as FP32 constant -> Q -> DQ (TensorRT folds the Q into INT8 weights). Errors: opset < 13
 * or a model that already has Q/DQ nodes (ERR_BAD_MODEL); an activation without a finite, positive
 * amax (ERR_BAD_OPTION naming the tensor).
 */
export function insertQdq(model: OnnxModel, options: InsertQdqOptions): OnnxModel {
  if (typeof options !== 'object' || options === null) {
    throw optionError('options', 'insertQdq needs options with an amax map.', '{ amax, exclude?, perChannelWeights? }', options);
  }
  const opset = model.opsetVersion('');
  if (opset === undefined || opset < MIN_QDQ_OPSET) {
    throw new TrtInt8Error('ERR_BAD_MODEL', `${model.displayName}: Q/DQ needs the default ONNX opset ${MIN_QDQ_OPSET} or newer (per-channel QuantizeLinear; TensorRT explicit quantization).`, {
      input: model.displayName,
      expected: `opset >= ${MIN_QDQ_OPSET}`,
      actual: opset ?? 'no default-domain opset import',
      fixes: [
        `Re-export the model with opset >= ${MIN_QDQ_OPSET} (torch.onnx.export(..., opset_version=17)).`,
        'Or convert it: onnx.version_converter.convert_version(model, 17).',
      ],
    });
  }
  const existing = model.nodes.filter((n) => n.domain === '' && (n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear'));
  if (existing.length > 0) {
    throw new TrtInt8Error('ERR_BAD_MODEL', `${model.displayName} already has ${existing.length} QuantizeLinear/DequantizeLinear node(s); quantizing it again would stack Q/DQ pairs.`, {
      input: model.displayName,
      expected: 'an FP32 model without Q/DQ nodes',
      actual: existing.slice(0, 5).map((n) => n.name || n.opType),
      fixes: ['Pass the original FP32 model.'],
    });
  }
  const getAmax = amaxLookup(options.amax);
  const plan = buildPlan(model, options);

  // QuantizeLinear before opset 19 takes float32 (or int32) input with a float32 scale: FP16 models are refused.
  const elemTypes = inferElemTypes(model.graph);
  const notFloat32 = [...plan.activationNames, ...plan.weights.map((w) => w.tensor)].filter((t) => {
    const elemType = elemTypes.get(t);
    return elemType !== undefined && elemType !== DataType.FLOAT;
  });
  if (notFloat32.length > 0) {
    const first = notFloat32[0]!;
    throw new TrtInt8Error('ERR_BAD_MODEL', `${model.displayName}: tensor "${first}" to quantize is ${elemTypeName(elemTypes.get(first)!)}, not float32.`, {
      input: first,
      expected: 'float32 activations and weights',
      actual: notFloat32.slice(0, 10).map((t) => `${t}: ${elemTypeName(elemTypes.get(t)!)}`),
      fixes: ['Export the model in FP32 (TensorRT picks FP16/INT8 kernels itself), or exclude the nodes that read these tensors.'],
    });
  }

  // Validate every amax before touching anything.
  const activationScales = new Map<string, number>();
  const problems: { tensor: string; amax: unknown }[] = [];
  for (const { tensor } of plan.activations) {
    const amax = getAmax(tensor);
    const scale = typeof amax === 'number' ? Math.fround(amax / INT8_MAX) : NaN;
    if (typeof amax !== 'number' || !Number.isFinite(amax) || amax <= 0 || !(scale > 0)) problems.push({ tensor, amax });
    else activationScales.set(tensor, scale);
  }
  if (problems.length > 0) {
    const first = problems[0]!;
    throw new TrtInt8Error('ERR_BAD_OPTION', `insertQdq: ${problems.length} activation(s) have no usable amax, e.g. "${first.tensor}" (amax ${String(first.amax)}).`, {
      input: `amax[${JSON.stringify(first.tensor)}]`,
      expected: 'a finite amax > 0 for every tensor in planQuantization(model).activationNames',
      actual: problems.slice(0, 10).map((p) => `${p.tensor}: ${String(p.amax)}`),
      fixes: [
        'Calibrate with data that exercises these tensors (an all-zero tensor has amax 0).',
        'Exclude the nodes that read them: exclude: { names: [...] } (they then stay FP32).',
      ],
      details: { tensors: problems.map((p) => p.tensor) },
    });
  }

  const result = model.clone();
  const graph = result.graph;
  const taken = new Set<string>([...result.tensorNames(), ...(graph.node ?? []).map((n) => n.name ?? '')]);
  for (const info of [...(graph.output ?? []), ...(graph.valueInfo ?? [])]) taken.add(info.name ?? '');
  const unique = (base: string) => {
    let name = base;
    for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    return name;
  };

  const newInitializers: TensorProto[] = [];
  /** Q/DQ nodes to emit right after the tensor they read becomes available. */
  const pairsAfter = new Map<string, NodeProto[]>();
  /** tensor -> the DQ output quantized consumers read instead. */
  const dequantized = new Map<string, string>();
  const addPair = (tensor: string, scale: Float32Array, axis: number | undefined) => {
    const perChannel = axis !== undefined;
    const scaleName = unique(`${tensor}_scale`);
    const zeroPointName = unique(`${tensor}_zero_point`);
    newInitializers.push(
      makeFloatTensor(scaleName, perChannel ? [scale.length] : [], scale),
      makeInt8Tensor(zeroPointName, perChannel ? [scale.length] : [], new Int8Array(scale.length)),
    );
    const quantized = unique(`${tensor}_quantized`);
    const output = unique(`${tensor}_dequantized`);
    const axisAttribute = perChannel ? [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: axis }] : [];
    const nodes: NodeProto[] = [
      { name: unique(`${tensor}_QuantizeLinear`), opType: 'QuantizeLinear', input: [tensor, scaleName, zeroPointName], output: [quantized], attribute: [...axisAttribute] },
      { name: unique(`${tensor}_DequantizeLinear`), opType: 'DequantizeLinear', input: [quantized, scaleName, zeroPointName], output: [output], attribute: [...axisAttribute] },
    ];
    pairsAfter.set(tensor, nodes);
    dequantized.set(tensor, output);
  };

  for (const { tensor } of plan.activations) addPair(tensor, Float32Array.of(activationScales.get(tensor)!), undefined);
  for (const weight of plan.weights) {
    const values = result.tensorWeights(weight.tensor);
    const axis = weight.axis !== undefined && weight.axis < weight.dims.length ? weight.axis : undefined;
    addPair(weight.tensor, weightScales(weight.tensor, values, weight.dims, axis), axis);
  }

  const oldNodes = graph.node ?? [];
  const nodes: NodeProto[] = [];
  // Pairs on graph inputs and initializers come first; the others follow their producer.
  const producedByNode = new Set(oldNodes.flatMap((n) => n.output ?? []));
  for (const [tensor, pair] of pairsAfter) if (!producedByNode.has(tensor)) nodes.push(...pair);
  oldNodes.forEach((node, i) => {
    const slots = plan.rewires.get(i);
    if (slots) {
      const input = [...(node.input ?? [])];
      for (const [slot, tensor] of slots) input[slot] = dequantized.get(tensor)!;
      node.input = input;
    }
    nodes.push(node);
    for (const output of node.output ?? []) {
      const pair = output ? pairsAfter.get(output) : undefined;
      if (pair) nodes.push(...pair);
    }
  });
  graph.node = nodes;
  graph.initializer = [...(graph.initializer ?? []), ...newInitializers];
  return result;
}
