/** OnnxModel: load, inspect and rewrite an ONNX model in TypeScript. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TrtInt8Error } from '../core/errors.js';
import { ioError, writeFileAtomic } from '../core/files.js';
import type { InputSpec } from '../core/tensor.js';
import { onnx } from './proto/onnx.js';
import {
  DataType,
  decodeModel,
  elemTypeName,
  encodeModel,
  findAttribute,
  intAttribute,
  isDType,
  makeFloat16Tensor,
  makeFloatTensor,
  makeInt8Tensor,
  readExternal,
  tensorDims,
  tensorToFloat32,
  toNumber,
  type ExternalDataContext,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type OnnxDType,
  type TensorProto,
  type ValueInfoProto,
} from './codec.js';
import { inferElemTypes } from './elem-types.js';

/** A graph input or output: dynamic or symbolic dimensions read -1; `shape` is undefined when the rank is unknown. */
export interface ValueSpec {
  readonly name: string;
  readonly dtype: OnnxDType;
  readonly shape: readonly number[] | undefined;
}

/** A read-only view of one node of the main graph. */
export interface OnnxNode {
  /** Position in graph.node (topological order). */
  readonly index: number;
  /** The node's name; '' when the model leaves it unnamed. */
  readonly name: string;
  readonly opType: string;
  /** '' for the default ONNX domain. */
  readonly domain: string;
  /** Input tensor names; '' marks an omitted optional input. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** The underlying NodeProto (attributes etc.); do not mutate. */
  readonly proto: NodeProto;
}

/** A constant tensor: an initializer or the output of a Constant node. */
export interface ConstantTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly dtype: OnnxDType;
  /** Where it is defined. */
  readonly source: 'initializer' | 'constant-node';
  readonly proto: TensorProto;
}

export type ModelSource = string | Uint8Array;

/** A node for a rewrite to add, described without protobuf. */
export interface NewNode {
  readonly name: string;
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Integer attributes (e.g. `axis`). */
  readonly intAttributes?: Readonly<Record<string, number>>;
}

/** An integer attribute of a node, or `fallback` when the node does not set it. */
export function nodeIntAttribute(node: OnnxNode, name: string, fallback: number): number {
  return intAttribute(node.proto, name, fallback);
}

/** An INTS attribute of a node as numbers, or undefined when the node does not set it. */
export function nodeIntsAttribute(node: OnnxNode, name: string): number[] | undefined {
  const attribute = findAttribute(node.proto, name);
  if (!attribute || attribute.type !== onnx.AttributeProto.AttributeType.INTS) return undefined;
  return (attribute.ints ?? []).map((v, i) => toNumber(v, `${node.name || node.opType}.${name}[${i}]`));
}

/** A FLOAT attribute of a node, or undefined when the node does not set it. */
export function nodeFloatAttribute(node: OnnxNode, name: string): number | undefined {
  const attribute = findAttribute(node.proto, name);
  return attribute && attribute.type === onnx.AttributeProto.AttributeType.FLOAT ? attribute.f ?? 0 : undefined;
}

/** True when the node carries a subgraph (If, Loop, Scan): its body may read outer tensors by name. */
export function nodeHasSubgraph(node: OnnxNode): boolean {
  return (node.proto.attribute ?? []).some((a) => a.g || (a.graphs?.length ?? 0) > 0);
}

function nodeProto(node: NewNode): NodeProto {
  const attribute = Object.entries(node.intAttributes ?? {}).map(([name, i]) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i }));
  return { name: node.name, opType: node.opType, input: [...node.inputs], output: [...node.outputs], attribute };
}

function valueSpec(info: ValueInfoProto): ValueSpec {
  const name = info.name ?? '';
  const tensorType = info.type?.tensorType;
  const shape = tensorType?.shape
    ? (tensorType.shape.dim ?? []).map((d, i) => {
        if (d.dimValue === null || d.dimValue === undefined || d.dimParam) return -1;
        const n = toNumber(d.dimValue, `${name}.shape[${i}]`);
        return n > 0 ? n : n === 0 ? 0 : -1;
      })
    : undefined;
  return { name, dtype: elemTypeName(tensorType?.elemType ?? 0), shape };
}

/** Protobuf's 2 GiB message limit, less room for the graph itself. */
const MAX_INLINE_BYTES = 2 ** 31 - 64 * 2 ** 20;

function badModel(modelName: string, message: string, options: ConstructorParameters<typeof TrtInt8Error>[2] = {}) {
  return new TrtInt8Error('ERR_BAD_MODEL', `${modelName}: ${message}`, { input: modelName, ...options });
}

/** Constant node value as a TensorProto (value, value_float, value_floats). */
function constantNodeTensor(node: NodeProto, output: string, modelName: string): TensorProto {
  const value = findAttribute(node, 'value');
  if (value?.t) return { ...value.t, name: output };
  const scalar = findAttribute(node, 'value_float');
  if (scalar) return { name: output, dims: [], dataType: DataType.FLOAT, floatData: [scalar.f ?? 0] };
  const list = findAttribute(node, 'value_floats');
  if (list) return { name: output, dims: [list.floats?.length ?? 0], dataType: DataType.FLOAT, floatData: [...(list.floats ?? [])] };
  const intScalar = findAttribute(node, 'value_int');
  if (intScalar) return { name: output, dims: [], dataType: DataType.INT64, int64Data: [intScalar.i ?? 0] };
  const ints = findAttribute(node, 'value_ints');
  if (ints) return { name: output, dims: [ints.ints?.length ?? 0], dataType: DataType.INT64, int64Data: [...(ints.ints ?? [])] };
  throw badModel(modelName, `Constant node "${node.name ?? ''}" (output "${output}") has no supported value attribute.`, {
    expected: 'value, value_float, value_floats, value_int or value_ints',
    actual: (node.attribute ?? []).map((a) => a.name),
  });
}

export class OnnxModel {
  /** The decoded ModelProto. Mutating it changes this model; use clone() first to keep the original. */
  readonly proto: ModelProto;
  /** The file the model was loaded from, if any (external data is resolved next to it). */
  readonly path: string | undefined;

  private constructor(proto: ModelProto, filePath: string | undefined) {
    this.proto = proto;
    this.path = filePath;
  }

  /**
   * Loads a model from a file path or from the bytes of an .onnx file.
   * Missing/unreadable file: ERR_IO. Not an ONNX model: ERR_BAD_MODEL naming the file.
   */
  static async load(source: ModelSource): Promise<OnnxModel> {
    if (typeof source === 'string') {
      const file = path.resolve(source);
      let bytes: Uint8Array;
      try {
        bytes = await fs.readFile(file);
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new TrtInt8Error('ERR_IO', `ONNX model file not found: ${file}`, {
            input: file,
            expected: 'an existing .onnx file',
            actual: 'no such file',
            fixes: [`Check the path; relative paths resolve from the current directory (${process.cwd()}).`],
            cause,
          });
        }
        throw ioError('read', file, cause);
      }
      return OnnxModel.fromBytes(bytes, file);
    }
    return OnnxModel.fromBytes(source);
  }

  /** Synchronous form of load() for bytes already in memory. `filePath` locates external data. */
  static fromBytes(bytes: Uint8Array, filePath?: string): OnnxModel {
    const modelName = filePath ?? '<bytes>';
    if (!(bytes instanceof Uint8Array)) {
      throw new TrtInt8Error('ERR_BAD_OPTION', 'An ONNX model must be given as a file path or a Uint8Array.', {
        input: 'source',
        expected: 'string | Uint8Array',
        actual: typeof bytes,
      });
    }
    let proto: ModelProto;
    try {
      proto = decodeModel(bytes);
    } catch (cause) {
      throw badModel(modelName, 'not an ONNX model (protobuf parse failed).', {
        expected: 'a serialized onnx.ModelProto',
        actual: cause instanceof Error ? cause.message : String(cause),
        fixes: ['Check that the file is an .onnx model and was copied completely.'],
        cause,
      });
    }
    // Random bytes sometimes parse as protobuf; a model has an IR version and a graph.
    const irVersion = toNumber(proto.irVersion, 'ir_version');
    if (!proto.graph || irVersion <= 0) {
      throw badModel(modelName, 'not an ONNX model (no ir_version or graph).', {
        expected: 'a ModelProto with ir_version > 0 and a graph',
        actual: { irVersion, hasGraph: Boolean(proto.graph), bytes: bytes.byteLength },
        fixes: ['Check that the file is an .onnx model and was copied completely.'],
      });
    }
    return new OnnxModel(proto, filePath === undefined ? undefined : path.resolve(filePath));
  }

  get graph(): GraphProto {
    return this.proto.graph!;
  }

  /** How messages name this model. */
  get displayName(): string {
    return this.path ?? '<bytes>';
  }

  private get externalContext(): ExternalDataContext {
    return { baseDir: this.path === undefined ? undefined : path.dirname(this.path), modelName: this.displayName };
  }

  private initializerNames(): Set<string> {
    return new Set((this.graph.initializer ?? []).map((t) => t.name ?? ''));
  }

  /**
   * The inputs a caller feeds, in graph order (inputs that are also initializers are weights, not
   * inputs). Dynamic/symbolic dimensions read -1. An element type outside DType, or an input of
   * unknown rank, is ERR_BAD_MODEL.
   */
  inputs(): InputSpec[] {
    const initializers = this.initializerNames();
    return (this.graph.input ?? [])
      .filter((info) => !initializers.has(info.name ?? ''))
      .map((info) => {
        const spec = valueSpec(info);
        if (!isDType(spec.dtype)) {
          throw badModel(this.displayName, `input "${spec.name}" has element type ${spec.dtype}, which calibration does not support.`, {
            input: spec.name,
            expected: 'float32, float16, int8, uint8, int32, int64 or bool',
            actual: spec.dtype,
          });
        }
        if (!spec.shape) {
          throw badModel(this.displayName, `input "${spec.name}" has no shape (unknown rank).`, {
            input: spec.name,
            expected: 'a tensor shape in the graph input',
            actual: 'none',
            fixes: ['Re-export the model with input shapes (dynamic axes are fine).'],
          });
        }
        return { name: spec.name, dtype: spec.dtype, shape: spec.shape };
      });
  }

  /** The graph outputs, in order. */
  outputs(): ValueSpec[] {
    return (this.graph.output ?? []).map(valueSpec);
  }

  /** The opset imported for a domain ('' = the default ONNX domain, also spelled 'ai.onnx'); undefined if none. */
  opsetVersion(domain = ''): number | undefined {
    const wanted = domain === 'ai.onnx' ? '' : domain;
    const entry = (this.proto.opsetImport ?? []).find((o) => ((o.domain ?? '') === 'ai.onnx' ? '' : o.domain ?? '') === wanted);
    return entry ? toNumber(entry.version, `opset_import[${domain}]`) : undefined;
  }

  /** The nodes of the main graph in order (subgraphs of If/Loop/Scan are not listed). */
  get nodes(): OnnxNode[] {
    return (this.graph.node ?? []).map((proto, index) => ({
      index,
      name: proto.name ?? '',
      opType: proto.opType ?? '',
      domain: proto.domain ?? '',
      inputs: proto.input ?? [],
      outputs: proto.output ?? [],
      proto,
    }));
  }

  /** The constant tensor (initializer or Constant node output) with this name, if there is one. */
  constantTensor(name: string): ConstantTensor | undefined {
    const initializer = (this.graph.initializer ?? []).find((t) => t.name === name);
    if (initializer) {
      return { name, dims: tensorDims(initializer), dtype: elemTypeName(initializer.dataType ?? 0), source: 'initializer', proto: initializer };
    }
    for (const node of this.graph.node ?? []) {
      if (node.opType === 'Constant' && (node.domain ?? '') === '' && node.output?.[0] === name) {
        const tensor = constantNodeTensor(node, name, this.displayName);
        return { name, dims: tensorDims(tensor), dtype: elemTypeName(tensor.dataType ?? 0), source: 'constant-node', proto: tensor };
      }
    }
    return undefined;
  }

  /**
   * The values of a constant floating-point tensor (initializer or Constant node) as float32,
   * reading external data relative to the model file. Not a constant: ERR_BAD_OPTION.
   */
  tensorWeights(name: string): Float32Array {
    const constant = this.constantTensor(name);
    if (!constant) {
      throw new TrtInt8Error('ERR_BAD_OPTION', `"${name}" is not a constant tensor of ${this.displayName}.`, {
        input: name,
        expected: 'the name of an initializer or of a Constant node output',
        actual: 'no such constant',
      });
    }
    return tensorToFloat32(constant.proto, this.externalContext);
  }

  /** Names of every tensor of the main graph: inputs, initializers and node outputs. */
  tensorNames(): Set<string> {
    const names = new Set<string>();
    for (const info of this.graph.input ?? []) names.add(info.name ?? '');
    for (const t of this.graph.initializer ?? []) names.add(t.name ?? '');
    for (const node of this.graph.node ?? []) for (const o of node.output ?? []) if (o) names.add(o);
    names.delete('');
    return names;
  }

  /** Names of the constant tensors: initializers and outputs of Constant nodes. */
  constantNames(): Set<string> {
    const names = this.initializerNames();
    for (const node of this.graph.node ?? []) {
      if (node.opType === 'Constant' && (node.domain ?? '') === '' && node.output?.[0]) names.add(node.output[0]);
    }
    return names;
  }

  /**
   * The float tensors that carry data at run time: the float graph inputs and every float tensor a node computes,
   * less those computed from constants alone (an Identity on a weight, a folded shape), in graph order. What
   * TensorRT's implicit INT8 may need a range for.
   */
  floatActivationNames(): string[] {
    const types = this.elemTypes();
    const isFloat = (tensor: string) => types.get(tensor) === 'float32' || types.get(tensor) === 'float16';
    const constant = this.constantNames();
    const nodes = this.nodes;
    for (const node of nodes) {
      if (node.inputs.length > 0 && node.inputs.every((i) => !i || constant.has(i))) for (const o of node.outputs) if (o) constant.add(o);
    }
    const inputs = this.inputs().map((i) => i.name).filter(isFloat);
    const computed = nodes.flatMap((node) => node.outputs.filter((t) => t && !constant.has(t) && isFloat(t)));
    return [...new Set([...inputs, ...computed])];
  }

  /** The node that produces each tensor of the main graph. */
  producers(): Map<string, OnnxNode> {
    const producer = new Map<string, OnnxNode>();
    for (const node of this.nodes) for (const output of node.outputs) if (output) producer.set(output, node);
    return producer;
  }

  /** The nodes that read each tensor of the main graph, in graph order. */
  consumers(): Map<string, OnnxNode[]> {
    const consumers = new Map<string, OnnxNode[]>();
    for (const node of this.nodes) {
      for (const input of new Set(node.inputs)) if (input) consumers.set(input, [...(consumers.get(input) ?? []), node]);
    }
    return consumers;
  }

  /** Names of the graph inputs, initializers listed as inputs included (inputs() gives the ones a caller feeds). */
  inputNames(): Set<string> {
    return new Set((this.graph.input ?? []).map((i) => i.name ?? ''));
  }

  /** Names of the graph outputs. */
  outputNames(): Set<string> {
    return new Set((this.graph.output ?? []).map((o) => o.name ?? ''));
  }

  /** Position of each tensor in graph order: graph inputs first, then node outputs as their producers appear. */
  tensorOrder(): Map<string, number> {
    const order = new Map<string, number>();
    for (const info of this.graph.input ?? []) order.set(info.name ?? '', order.size);
    for (const node of this.graph.node ?? []) for (const o of node.output ?? []) if (!order.has(o)) order.set(o, order.size);
    return order;
  }

  /** The element type of each tensor whose type can be told (declared, or propagated through the nodes). */
  elemTypes(): Map<string, OnnxDType> {
    return new Map([...inferElemTypes(this.graph)].map(([name, elemType]) => [name, elemTypeName(elemType)]));
  }

  /**
   * A function that returns names unused by any tensor, node or value_info of this model (`base`, else `base_1`, ...),
   * remembering the names it has handed out.
   */
  nameAllocator(): (base: string) => string {
    const taken = new Set<string>([...this.tensorNames(), ...(this.graph.node ?? []).map((n) => n.name ?? '')]);
    for (const info of [...(this.graph.output ?? []), ...(this.graph.valueInfo ?? [])]) taken.add(info.name ?? '');
    return (base) => {
      let name = base;
      for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
      taken.add(name);
      return name;
    };
  }

  /** Adds an initializer (float32 or int8 values, stored as raw_data as exporters write them). */
  addInitializer(name: string, dims: readonly number[], values: Float32Array | Int8Array): void {
    const tensor = values instanceof Int8Array ? makeInt8Tensor(name, dims, values) : makeFloatTensor(name, dims, values);
    this.graph.initializer = [...(this.graph.initializer ?? []), tensor];
  }

  /**
   * Removes those of `names` that no node reads any more (main graph or subgraph bodies) and that are not graph inputs
   * or outputs: initializers, and Constant nodes that output them.
   */
  removeUnreadConstants(names: Iterable<string>): void {
    const read = new Set<string>([...this.inputNames(), ...this.outputNames()]);
    const visit = (nodes: readonly NodeProto[] | null | undefined): void => {
      for (const node of nodes ?? []) {
        for (const input of node.input ?? []) read.add(input);
        for (const attribute of node.attribute ?? []) {
          visit(attribute.g?.node);
          for (const graph of attribute.graphs ?? []) visit(graph.node);
        }
      }
    };
    visit(this.graph.node);
    const unread = new Set([...names].filter((name) => !read.has(name)));
    if (unread.size === 0) return;
    this.graph.initializer = (this.graph.initializer ?? []).filter((t) => !unread.has(t.name ?? ''));
    this.graph.node = (this.graph.node ?? []).filter((n) => !(n.opType === 'Constant' && (n.domain ?? '') === '' && unread.has(n.output?.[0] ?? '')));
  }

  /** Replaces the values of initializer `name` (float32, raw_data), or adds it when there is none. */
  setInitializer(name: string, dims: readonly number[], values: Float32Array): void {
    const others = (this.graph.initializer ?? []).filter((t) => t.name !== name);
    this.graph.initializer = [...others, makeFloatTensor(name, dims, values)];
  }

  /** Makes node `index` (its position in `nodes`) read `tensor` at input `slot`. */
  setNodeInput(index: number, slot: number, tensor: string): void {
    const node = this.graph.node?.[index];
    if (!node) throw new RangeError(`setNodeInput: no node at index ${index}`);
    const input = [...(node.input ?? [])];
    input[slot] = tensor;
    node.input = input;
  }

  /** Removes attribute `name` from node `index` (its position in `nodes`). */
  removeNodeAttribute(index: number, name: string): void {
    const node = this.graph.node?.[index];
    if (!node) throw new RangeError(`removeNodeAttribute: no node at index ${index}`);
    node.attribute = (node.attribute ?? []).filter((a) => a.name !== name);
  }

  /**
   * Removes the nodes at these indexes (positions in `nodes`), and the value_info of tensors that no node produces
   * any more. The caller rewires their readers first.
   */
  removeNodes(indexes: Iterable<number>): void {
    const removed = new Set(indexes);
    this.graph.node = (this.graph.node ?? []).filter((_, i) => !removed.has(i));
    const produced = this.tensorNames();
    this.graph.valueInfo = (this.graph.valueInfo ?? []).filter((info) => produced.has(info.name ?? ''));
  }

  /** Sets the version of the opset imported for a domain ('' = the default ONNX domain), adding the import if missing. */
  setOpsetVersion(domain: string, version: number): void {
    const imports = this.proto.opsetImport ?? [];
    const entry = imports.find((o) => ((o.domain ?? '') === 'ai.onnx' ? '' : o.domain ?? '') === domain);
    if (entry) entry.version = version;
    else this.proto.opsetImport = [...imports, { domain, version }];
  }

  /** Raises the IR version to `version` when it is lower (a newer opset needs a newer IR); returns the old one. */
  raiseIrVersion(version: number): number {
    const old = toNumber(this.proto.irVersion, 'ir_version');
    if (old < version) this.proto.irVersion = version;
    return old;
  }

  /** Adds an int64 initializer (e.g. the axes an op takes as an input from some opset on). */
  addInt64Initializer(name: string, dims: readonly number[], values: readonly number[]): void {
    this.graph.initializer = [...(this.graph.initializer ?? []), { name, dims: [...dims], dataType: DataType.INT64, int64Data: [...values] }];
  }

  /** The declared shape of a tensor (graph input, output or value_info; -1 for dynamic dims), if declared. */
  declaredShape(tensor: string): readonly number[] | undefined {
    const info = [...(this.graph.input ?? []), ...(this.graph.valueInfo ?? []), ...(this.graph.output ?? [])].find((i) => i.name === tensor);
    return info ? valueSpec(info).shape : undefined;
  }

  /** Makes node `index` (its position in `nodes`) write `tensor` at output `slot`. */
  setNodeOutput(index: number, slot: number, tensor: string): void {
    const node = this.graph.node?.[index];
    if (!node) throw new RangeError(`setNodeOutput: no node at index ${index}`);
    const output = [...(node.output ?? [])];
    output[slot] = tensor;
    node.output = output;
  }

  /**
   * Stores a floating-point constant (initializer or Constant node output) as float16, inside the model (external
   * data is read in); finite values beyond ±65504 are clamped. Returns how many values were clamped.
   */
  convertConstantToFloat16(name: string): number {
    const values = this.tensorWeights(name);
    const constant = this.constantTensor(name)!;
    const { tensor, clamped } = makeFloat16Tensor(name, constant.dims, values);
    if (constant.source === 'initializer') {
      this.graph.initializer = (this.graph.initializer ?? []).map((t) => (t.name === name ? tensor : t));
    } else {
      const node = (this.graph.node ?? []).find((n) => n.opType === 'Constant' && (n.domain ?? '') === '' && n.output?.[0] === name)!;
      node.attribute = [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: tensor }];
    }
    return clamped;
  }

  /** Changes the element type `tensor` is declared with (graph inputs, outputs, value_info), where it is declared. */
  setDeclaredElemType(tensor: string, dtype: 'float16' | 'float32'): void {
    const elemType = dtype === 'float16' ? DataType.FLOAT16 : DataType.FLOAT;
    for (const info of [...(this.graph.input ?? []), ...(this.graph.output ?? []), ...(this.graph.valueInfo ?? [])]) {
      if (info.name === tensor && info.type?.tensorType) info.type.tensorType.elemType = elemType;
    }
  }

  /** Adds nodes at the end of the graph (e.g. Casts to graph outputs). */
  appendNodes(nodes: readonly NewNode[]): void {
    this.graph.node = [...(this.graph.node ?? []), ...nodes.map(nodeProto)];
  }

  /**
   * Adds nodes keeping the graph topologically sorted: each list of `after` goes right after the node that produces
   * its key tensor, or at the start of the graph when a graph input or initializer is the key.
   */
  insertNodesAfter(after: ReadonlyMap<string, readonly NewNode[]>): void {
    const oldNodes = this.graph.node ?? [];
    const producedByNode = new Set(oldNodes.flatMap((n) => n.output ?? []));
    const nodes: NodeProto[] = [];
    for (const [tensor, added] of after) if (!producedByNode.has(tensor)) nodes.push(...added.map(nodeProto));
    for (const node of oldNodes) {
      nodes.push(node);
      for (const output of node.output ?? []) {
        const added = output ? after.get(output) : undefined;
        if (added) nodes.push(...added.map(nodeProto));
      }
    }
    this.graph.node = nodes;
  }

  /**
   * The model bytes with `names` added as graph outputs (after the existing ones, in the order
   * given, duplicates and existing outputs skipped), so a runtime returns those intermediates.
   * Each new output gets a ValueInfo with its element type (from value_info or inferred); the
   * shape is left unknown. Unknown names: ERR_BAD_OPTION.
   */
  withExtraOutputs(names: Iterable<string>): Uint8Array {
    const wanted = [...new Set(names)];
    const known = this.tensorNames();
    const missing = wanted.filter((n) => !known.has(n));
    if (missing.length > 0) {
      throw new TrtInt8Error('ERR_BAD_OPTION', `withExtraOutputs: ${missing.length} tensor name(s) are not in ${this.displayName}.`, {
        input: 'names',
        expected: 'names of graph inputs, initializers or node outputs',
        actual: missing.slice(0, 10),
        details: { missing },
      });
    }
    const existing = new Set((this.graph.output ?? []).map((o) => o.name ?? ''));
    const toAdd = wanted.filter((n) => !existing.has(n));
    if (toAdd.length === 0) return this.toBytes();
    const elemTypes = inferElemTypes(this.graph);
    const declared = new Map([...(this.graph.valueInfo ?? []), ...(this.graph.input ?? [])].map((v) => [v.name ?? '', v]));
    const extra: ValueInfoProto[] = toAdd.map((name) => {
      const elemType = elemTypes.get(name);
      if (elemType === undefined || elemType === 0) {
        throw badModel(this.displayName, `cannot tell the element type of tensor "${name}" to declare it as an output.`, {
          input: name,
          expected: 'a value_info entry or an op whose output type is known',
          actual: 'unknown',
          fixes: ['Run ONNX shape inference on the model first (onnx.shape_inference.infer_shapes) so value_info is filled.'],
        });
      }
      const shape = declared.get(name)?.type?.tensorType?.shape;
      return { name, type: { tensorType: shape ? { elemType, shape } : { elemType } } };
    });
    // Only the output list changes: swap it in for the encode instead of copying the model (a copy
    // would also drop the non-enumerable $unknowns that keep fields of newer ONNX versions).
    const graph = this.graph;
    const outputs = graph.output;
    graph.output = [...(outputs ?? []), ...extra];
    try {
      return encodeModel(this.proto);
    } finally {
      graph.output = outputs;
    }
  }

  /**
   * The model bytes with each float32 tensor of `names` summarized in the graph by `op` (a node `op.domain`.`op.opType`
   * reading it, whose float64 output `<name><op.suffix>` is a graph output), and every other tensor of `names` (graph
   * inputs, tensors of other types) added as an output itself, as withExtraOutputs does. `fetches` names the output to
   * fetch for each of `names`, in that order; `summarized[i]` says whether fetches[i] is a summary. For the statistics
   * engine's onnxruntime session, which registers the operator (cpp/core/stats_onnxruntime.h): the summarized tensors
   * are then freed as soon as the graph no longer needs them, instead of being held as outputs until the run ends.
   */
  withTensorSummaries(names: readonly string[], op: { readonly domain: string; readonly opType: string; readonly suffix: string }): { bytes: Uint8Array; fetches: string[]; summarized: boolean[] } {
    const wanted = [...new Set(names)];
    const elemTypes = inferElemTypes(this.graph);
    const inputs = new Set((this.graph.input ?? []).map((i) => i.name ?? ''));
    const known = this.tensorNames();
    const summarized = wanted.map((n) => known.has(n) && !inputs.has(n) && elemTypes.get(n) === onnx.TensorProto.DataType.FLOAT && !known.has(n + op.suffix));
    const fetches = wanted.map((n, i) => (summarized[i] ? n + op.suffix : n));
    const summaryNodes: NodeProto[] = wanted.filter((_, i) => summarized[i]).map((n) => ({ name: n + op.suffix, opType: op.opType, domain: op.domain, input: [n], output: [n + op.suffix] }));
    const summaryOutputs: ValueInfoProto[] = summaryNodes.map((node) => ({
      name: node.output![0]!,
      type: { tensorType: { elemType: onnx.TensorProto.DataType.DOUBLE, shape: { dim: [{ dimValue: 4 }] } } },
    }));
    const graph = this.graph;
    const [nodes, outputs, imports] = [graph.node, graph.output, this.proto.opsetImport];
    // Swapped in for the encode, as in withExtraOutputs: this model is left as it was. The summaries go last, the
    // first tensor's last: onnxruntime orders a graph by depth-first search from its leaves, the last node first, so
    // each summary then runs right after its tensor is written (the tensor can be freed once its readers are done),
    // where summaries placed after their producers all ran after the rest of the graph (onnxruntime's profile of the
    // PP-OCRv4 detector, docs/calibration-speed.md).
    graph.node = [...(nodes ?? []), ...[...summaryNodes].reverse()];
    graph.output = [...(outputs ?? []), ...summaryOutputs];
    this.proto.opsetImport = [...(imports ?? []), { domain: op.domain, version: 1 }];
    try {
      const plain = wanted.filter((_, i) => !summarized[i]);
      return { bytes: plain.length > 0 ? this.withExtraOutputs(plain) : this.toBytes(), fetches, summarized };
    } finally {
      graph.node = nodes;
      graph.output = outputs;
      this.proto.opsetImport = imports;
    }
  }

  /** The serialized model. */
  toBytes(): Uint8Array {
    return encodeModel(this.proto);
  }

  /**
   * This model with every externally stored tensor (initializers and Constant values, subgraphs included) read into
   * the model itself, or this model when it has none. For runtimes handed bytes rather than a path:
   * onnxruntime's InferenceSession.create(bytes) cannot resolve external files. Protobuf caps a message at 2 GiB, so a
   * larger model is ERR_BAD_MODEL.
   */
  withInlinedExternalData(): OnnxModel {
    const isExternal = (t: TensorProto) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
    const tensorsOf = (graph: GraphProto): TensorProto[] => [
      ...(graph.initializer ?? []),
      ...(graph.node ?? []).flatMap((n) =>
        (n.attribute ?? []).flatMap((a) => [
          ...(a.t ? [a.t as TensorProto] : []),
          ...((a.tensors ?? []) as TensorProto[]),
          ...(a.g ? tensorsOf(a.g as GraphProto) : []),
          ...((a.graphs ?? []) as GraphProto[]).flatMap(tensorsOf),
        ]),
      ),
    ];
    if (!tensorsOf(this.graph).some(isExternal)) return this;
    const copy = this.clone();
    let total = 0;
    for (const tensor of tensorsOf(copy.graph).filter(isExternal)) {
      const bytes = readExternal(tensor, this.externalContext);
      total += bytes.length;
      if (total > MAX_INLINE_BYTES) {
        throw badModel(this.displayName, 'its external data is too large to hold inside one ONNX message for onnxruntime.', {
          input: this.displayName,
          expected: `at most ${MAX_INLINE_BYTES} bytes of weights`,
          actual: `more than ${total} bytes`,
          fixes: ['Calibrate a smaller model, or run collection where the model can be loaded from its path.'],
        });
      }
      tensor.rawData = bytes;
      tensor.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
      tensor.externalData = [];
    }
    return copy;
  }

  /** A deep copy (same file path, so external data still resolves). */
  clone(): OnnxModel {
    return new OnnxModel(decodeModel(this.toBytes()), this.path);
  }

  /**
   * Writes the model atomically (temp file + rename). External data references stay relative:
   * save next to the original model or the .data files will not be found.
   */
  async save(file: string): Promise<void> {
    await writeFileAtomic(file, this.toBytes());
  }
}

export { onnx };
