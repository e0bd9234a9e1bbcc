/**
 * Element types of every tensor of a graph, without full shape inference: declared types
 * (inputs, initializers, value_info, outputs) win, the rest is propagated through the nodes with
 * per-op rules. Only element types are needed to declare a tensor as an extra graph output.
 */
import { DataType, findAttribute, intAttribute, type GraphProto, type NodeProto } from './codec.js';

const boolOps = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Not', 'IsNaN', 'IsInf']);
const int64Ops = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin', 'NonMaxSuppression']);
/** Ops whose second (and later) outputs are int64 indices. */
const indexOutputOps = new Set(['TopK', 'MaxPool', 'Unique']);
/** Ops whose output type follows input `n` rather than input 0. */
const typeFromInput: Readonly<Record<string, number>> = { Where: 1, OneHot: 2, CastLike: 1 };

function outputTypes(node: NodeProto, typeOf: (name: string) => number | undefined): (number | undefined)[] {
  const op = node.domain ? `${node.domain}::${node.opType}` : node.opType ?? '';
  const inputs = node.input ?? [];
  const outputs = node.output ?? [];
  const firstKnown = () => {
    for (const input of inputs) {
      const t = input ? typeOf(input) : undefined;
      if (t) return t;
    }
    return undefined;
  };
  const all = (t: number | undefined) => outputs.map(() => t);
  if (boolOps.has(op)) return all(DataType.BOOL);
  if (int64Ops.has(op)) return all(DataType.INT64);
  if (indexOutputOps.has(op)) return outputs.map((_, i) => (i === 0 ? typeOf(inputs[0] ?? '') : DataType.INT64));
  switch (op) {
    case 'Cast':
      return all(intAttribute(node, 'to', 0));
    case 'QuantizeLinear': {
      const zeroPoint = inputs[2] ? typeOf(inputs[2]) : undefined;
      return all(zeroPoint || intAttribute(node, 'output_dtype', 0) || DataType.UINT8);
    }
    case 'DequantizeLinear':
      return all(intAttribute(node, 'output_dtype', 0) || typeOf(inputs[1] ?? '') || DataType.FLOAT);
    case 'DynamicQuantizeLinear':
      return [DataType.UINT8, DataType.FLOAT, DataType.UINT8];
    case 'Constant':
    case 'ConstantOfShape': {
      const value = findAttribute(node, 'value');
      if (value?.t) return all(value.t.dataType ?? DataType.FLOAT);
      if (op === 'ConstantOfShape') return all(DataType.FLOAT);
      if (findAttribute(node, 'value_float') || findAttribute(node, 'value_floats')) return all(DataType.FLOAT);
      if (findAttribute(node, 'value_int') || findAttribute(node, 'value_ints')) return all(DataType.INT64);
      if (findAttribute(node, 'value_string') || findAttribute(node, 'value_strings')) return all(DataType.STRING);
      return all(undefined);
    }
    case 'RandomNormal':
    case 'RandomUniform':
      return all(intAttribute(node, 'dtype', DataType.FLOAT));
    case 'RandomNormalLike':
    case 'RandomUniformLike':
    case 'EyeLike':
    case 'Bernoulli':
      return all(intAttribute(node, 'dtype', 0) || firstKnown());
    case 'Multinomial':
      return all(intAttribute(node, 'dtype', DataType.INT32));
    default: {
      const from = typeFromInput[op];
      return all(from === undefined ? firstKnown() : typeOf(inputs[from] ?? ''));
    }
  }
}

/** Element type (ONNX TensorProto.DataType number) of each tensor whose type can be told. */
export function inferElemTypes(graph: GraphProto): Map<string, number> {
  const types = new Map<string, number>();
  const declare = (name: string | null | undefined, elemType: number | null | undefined) => {
    if (name && elemType) types.set(name, elemType);
  };
  for (const info of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) declare(info.name, info.type?.tensorType?.elemType);
  for (const tensor of graph.initializer ?? []) declare(tensor.name, tensor.dataType);
  const typeOf = (name: string) => types.get(name);
  for (const node of graph.node ?? []) {
    const inferred = outputTypes(node, typeOf);
    (node.output ?? []).forEach((name, i) => {
      if (name && !types.has(name)) declare(name, inferred[i]);
    });
  }
  return types;
}
