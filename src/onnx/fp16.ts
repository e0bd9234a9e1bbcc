/**
 * FP16 outside the INT8 regions of a Q/DQ model. A strongly typed TensorRT network (the only kind TensorRT 11 builds)
 * runs every layer in the type the ONNX gives it, so the float parts of a Q/DQ model run in FP32 unless the model
 * itself says FP16. This rewrite casts those parts to FP16 and leaves the rest as TensorRT needs it:
 * - the INT8 regions (QuantizeLinear, DequantizeLinear, the layers that read a DQ output, and everything on a path
 *   from a DQ to a Q, such as a Conv's fused Relu) stay float32, so the scales stay float32 and the fusions hold;
 * - the graph's inputs and outputs keep their types (Cast nodes at the boundary);
 * - shape and constant computations (nodes that do not depend on the graph inputs' values), Resize/Upsample scales,
 *   ops with a dtype attribute, custom-domain ops and nodes with subgraphs stay float32;
 * - float constants read only in FP16 are stored as FP16, values beyond ±65504 clamped.
 */
import { badOption } from '../core/is.js';
import { nodeHasSubgraph, type NewNode, type OnnxModel, type OnnxNode } from './model.js';
import { DataType } from './codec.js';
import type { NodeExclusion } from './placement.js';

export interface Fp16Options {
  /** Nodes to keep in float32 besides the ones the rules keep: by name, op type or predicate. */
  readonly keepFloat32?: NodeExclusion;
}

export interface Fp16Conversion {
  /** The converted model (the input model is not modified). */
  readonly model: OnnxModel;
  /** Nodes (of the input model) that now run in float16. */
  readonly fp16Nodes: readonly OnnxNode[];
  /** Float constant values beyond ±65504 that were clamped to the float16 range. */
  readonly clampedValues: number;
}

/** Ops whose output type is set by an attribute, or that TensorRT computes in float32 anyway: left as they are. */
const float32Ops = new Set([
  'QuantizeLinear', 'DequantizeLinear', 'Cast', 'CastLike', 'ConstantOfShape', 'Range', 'EyeLike', 'RandomNormal',
  'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli', 'NonMaxSuppression',
  'Shape', 'Size', 'Constant',
]);
/** Float inputs that must stay float32 whatever the node's type (ONNX declares them tensor(float)). */
const float32Slots: Readonly<Record<string, readonly number[]>> = { Resize: [2], Upsample: [1] };
/** Ops whose outputs do not depend on the values of their input (only on its shape). */
const shapeOps = new Set(['Shape', 'Size']);
/**
 * Ops that only move values: converted only inside an FP16 region (their data input written in FP16). Alone after an
 * INT8 layer (the Flatten after a classifier head the 'tensorrt' placement made a Conv) they would add two Casts and
 * round the values to FP16 for nothing.
 */
const valueMovingOps = new Set(['Flatten', 'Reshape', 'Squeeze', 'Unsqueeze', 'Transpose', 'Identity', 'DepthToSpace', 'SpaceToDepth']);

function keepPredicate(keep: NodeExclusion | undefined): (node: OnnxNode) => boolean {
  if (keep === undefined) return () => false;
  if (typeof keep === 'function') return (node) => Boolean(keep(node));
  if (typeof keep !== 'object' || keep === null) {
    throw badOption('convertToFp16', 'keepFloat32', '{ names?: string[]; opTypes?: string[] } | (node) => boolean', typeof keep);
  }
  const names = new Set(keep.names ?? []);
  const opTypes = new Set(keep.opTypes ?? []);
  return (node) => names.has(node.name) || opTypes.has(node.opType);
}

/** Tensors whose values depend on the graph inputs' values (not only on shapes or constants). */
function dataDependentTensors(model: OnnxModel, nodes: readonly OnnxNode[]): Set<string> {
  const constants = model.constantNames();
  const dependent = new Set([...model.inputNames()].filter((name) => !constants.has(name)));
  for (const node of nodes) {
    if (shapeOps.has(node.opType) || !node.inputs.some((i) => dependent.has(i))) continue;
    for (const output of node.outputs) if (output) dependent.add(output);
  }
  return dependent;
}

/** Nodes on a path from a DequantizeLinear to a QuantizeLinear, and the nodes reading a DQ output: the INT8 regions. */
function int8RegionNodes(model: OnnxModel, nodes: readonly OnnxNode[]): Set<number> {
  const consumers = model.consumers();
  const producers = model.producers();
  const isQ = (n: OnnxNode) => n.opType === 'QuantizeLinear' && n.domain === '';
  const isDQ = (n: OnnxNode) => n.opType === 'DequantizeLinear' && n.domain === '';
  const fromDQ = new Set<number>();
  const walkForward = (start: readonly OnnxNode[]) => {
    const stack = [...start];
    for (let node = stack.pop(); node; node = stack.pop()) {
      if (fromDQ.has(node.index) || isQ(node)) continue;
      fromDQ.add(node.index);
      for (const output of node.outputs) stack.push(...(consumers.get(output) ?? []));
    }
  };
  walkForward(nodes.filter(isDQ).flatMap((dq) => dq.outputs.flatMap((o) => consumers.get(o) ?? [])));
  const toQ = new Set<number>();
  const stack = nodes.filter(isQ).flatMap((q) => (producers.get(q.inputs[0] ?? '') ? [producers.get(q.inputs[0]!)!] : []));
  for (let node = stack.pop(); node; node = stack.pop()) {
    if (toQ.has(node.index) || isDQ(node)) continue;
    toQ.add(node.index);
    for (const input of node.inputs) if (producers.has(input)) stack.push(producers.get(input)!);
  }
  const readsDQ = new Set(nodes.filter((n) => n.inputs.some((i) => producers.get(i) && isDQ(producers.get(i)!))).map((n) => n.index));
  return new Set([...readsDQ, ...[...fromDQ].filter((i) => toQ.has(i))]);
}

/** The nodes that will run in float16: default-domain, data-dependent, outside the INT8 regions, not kept by rule or option. */
function fp16NodeSet(model: OnnxModel, nodes: readonly OnnxNode[], keep: (node: OnnxNode) => boolean): Set<number> {
  const int8 = int8RegionNodes(model, nodes);
  const dependent = dataDependentTensors(model, nodes);
  const elemTypes = model.elemTypes();
  const producers = model.producers();
  const converted = new Set<number>();
  // Graph order: a node's producers are decided before it.
  for (const node of nodes) {
    if (node.domain !== '' || float32Ops.has(node.opType) || nodeHasSubgraph(node) || int8.has(node.index)) continue;
    if (!node.inputs.some((i) => dependent.has(i))) continue;
    if (!node.outputs.some((o) => elemTypes.get(o) === 'float32')) continue;
    if (keep(node)) continue;
    const writer = producers.get(node.inputs[0] ?? '');
    if (valueMovingOps.has(node.opType) && !(writer && converted.has(writer.index))) continue;
    converted.add(node.index);
  }
  return converted;
}

/** What each tensor becomes, and the Cast nodes that connect tensors of different types. */
class TypeBoundary {
  private readonly casts = new Map<string, string>();
  readonly castsAfter = new Map<string, NewNode[]>();

  constructor(private readonly unique: (base: string) => string) {}

  /** The name of `tensor` cast to `to` (one Cast per tensor and type, placed right after the tensor's producer). */
  cast(tensor: string, to: 'float16' | 'float32'): string {
    const key = `${to}\u0000${tensor}`;
    let name = this.casts.get(key);
    if (!name) {
      name = this.unique(`${tensor}_${to === 'float16' ? 'fp16' : 'fp32'}`);
      const node: NewNode = { name: this.unique(`${name}_Cast`), opType: 'Cast', inputs: [tensor], outputs: [name], intAttributes: { to: to === 'float16' ? DataType.FLOAT16 : DataType.FLOAT } };
      this.castsAfter.set(tensor, [...(this.castsAfter.get(tensor) ?? []), node]);
      this.casts.set(key, name);
    }
    return name;
  }
}

/** Float constants every float reader of which runs in float16 (and not in a float32 slot): stored as float16. */
function constantsToConvert(model: OnnxModel, fp16: ReadonlySet<number>, elemTypes: ReadonlyMap<string, string>): string[] {
  const consumers = model.consumers();
  const graphInputs = model.inputNames();
  return [...model.constantNames()].filter((name) => {
    if (elemTypes.get(name) !== 'float32' || graphInputs.has(name)) return false;
    const readers = consumers.get(name) ?? [];
    return readers.length > 0 && readers.every((n) => fp16.has(n.index) && n.inputs.every((input, slot) => input !== name || !(float32Slots[n.opType] ?? []).includes(slot)));
  });
}

/** Rewires every node input whose type does not match what its node runs in through a Cast. */
function connectTypes(model: OnnxModel, nodes: readonly OnnxNode[], fp16: ReadonlySet<number>, isFp16: (tensor: string) => boolean, isFloat: (tensor: string) => boolean, boundary: TypeBoundary): void {
  for (const node of nodes) {
    const runsFp16 = fp16.has(node.index);
    node.inputs.forEach((input, slot) => {
      if (!input || !isFloat(input) || node.opType === 'Cast') return;
      const wants: 'float16' | 'float32' = runsFp16 && !(float32Slots[node.opType] ?? []).includes(slot) ? 'float16' : 'float32';
      if ((wants === 'float16') !== isFp16(input)) model.setNodeInput(node.index, slot, boundary.cast(input, wants));
    });
  }
}

/**
 * Graph outputs that became float16 are renamed (producer and readers) and cast back under their own name at the end
 * of the graph, so the graph keeps its output types. Returns the Casts to append.
 */
function renameFp16Outputs(model: OnnxModel, fp16Tensors: Set<string>, elemTypes: Map<string, string>, unique: (base: string) => string): NewNode[] {
  const added: NewNode[] = [];
  for (const output of model.outputNames()) {
    if (!fp16Tensors.has(output)) continue;
    const renamed = unique(`${output}_fp16`);
    for (const node of model.nodes) {
      node.outputs.forEach((o, slot) => o === output && model.setNodeOutput(node.index, slot, renamed));
      node.inputs.forEach((i, slot) => i === output && model.setNodeInput(node.index, slot, renamed));
    }
    fp16Tensors.delete(output);
    fp16Tensors.add(renamed);
    elemTypes.set(renamed, 'float32'); // its type before the conversion, as for every other tensor
    added.push({ name: unique(`${output}_Cast`), opType: 'Cast', inputs: [renamed], outputs: [output], intAttributes: { to: DataType.FLOAT } });
  }
  return added;
}

/**
 * A copy of a Q/DQ model whose float regions outside INT8 run in float16 (see the file comment for the rules),
 * keeping the graph's input and output types. Also works on a model without Q/DQ (then all of it goes to FP16).
 */
export function convertToFp16(model: OnnxModel, options: Fp16Options = {}): Fp16Conversion {
  if (typeof options !== 'object' || options === null) throw badOption('convertToFp16', 'options', '{ keepFloat32? }', options);
  const keep = keepPredicate(options.keepFloat32);
  const result = model.clone();
  const nodes = result.nodes;
  const elemTypes = result.elemTypes();
  const fp16 = fp16NodeSet(result, nodes, keep);
  const fp16Tensors = new Set(nodes.filter((n) => fp16.has(n.index)).flatMap((n) => n.outputs.filter((o) => o && elemTypes.get(o) === 'float32')));
  let clampedValues = 0;
  for (const name of constantsToConvert(result, fp16, elemTypes)) {
    clampedValues += result.convertConstantToFloat16(name);
    fp16Tensors.add(name);
  }
  const unique = result.nameAllocator();
  const outputCasts = renameFp16Outputs(result, fp16Tensors, elemTypes, unique);
  const boundary = new TypeBoundary(unique);
  const isFloat = (t: string) => elemTypes.get(t) === 'float32';
  connectTypes(result, result.nodes, fp16, (t) => fp16Tensors.has(t), isFloat, boundary);
  for (const tensor of fp16Tensors) result.setDeclaredElemType(tensor, 'float16');
  result.insertNodesAfter(boundary.castsAfter);
  result.appendNodes(outputCasts);
  return { model: result, fp16Nodes: model.nodes.filter((n) => fp16.has(n.index)), clampedValues };
}
