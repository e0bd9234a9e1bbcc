/**
 * What the graph rewrites of the 'tensorrt' placement (fold.ts, deconv.ts, pooled-gemm.ts) check before changing a
 * node: that a constant cannot be fed at run time, and which main-graph tensors a subgraph reads (a rewrite that
 * removes or renames one of those would break the If / Loop / Scan body that reads it).
 */
import type { AttributeProto, NodeProto } from './codec.js';
import type { OnnxModel } from './model.js';
import { onnx } from './proto/onnx.js';

/** A float32 initializer or Constant output that no one can feed at run time. */
export function isFixedFloat(model: OnnxModel, tensor: string | undefined, graphInputs: ReadonlySet<string>): tensor is string {
  if (!tensor || graphInputs.has(tensor)) return false;
  return model.constantTensor(tensor)?.dtype === 'float32';
}

/** Names that nodes inside subgraph bodies (graph attributes, at any depth) read: outer-scope tensors among them. */
export function subgraphReads(model: OnnxModel): Set<string> {
  const names = new Set<string>();
  const visitGraph = (graph: { node?: NodeProto[] | null } | null | undefined): void => {
    for (const node of graph?.node ?? []) {
      for (const input of node.input ?? []) names.add(input);
      visitAttributes(node);
    }
  };
  const visitAttributes = (node: NodeProto): void => {
    for (const attribute of node.attribute ?? []) {
      visitGraph(attribute.g);
      for (const graph of attribute.graphs ?? []) visitGraph(graph);
    }
  };
  for (const node of model.graph.node ?? []) visitAttributes(node);
  return names;
}

const AttributeType = onnx.AttributeProto.AttributeType;
export const intAttribute = (name: string, i: number): AttributeProto => ({ name, type: AttributeType.INT, i });
export const intsAttribute = (name: string, ints: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints });
export const stringAttribute = (name: string, s: string): AttributeProto => ({ name, type: AttributeType.STRING, s: new TextEncoder().encode(s) });

/**
 * Puts each list of replacements where the node at its index was, and drops the nodes mapped to [] with the
 * value_info of tensors no node writes any more (as OnnxModel.removeNodes does). The replacements must read what
 * those nodes read (plus initializers) and end writing what they wrote, so the order stays topological. Written
 * against the graph proto because OnnxModel's NewNode carries integer attributes only.
 */
export function replaceNodes(model: OnnxModel, replacements: ReadonlyMap<number, readonly NodeProto[]>): void {
  model.graph.node = (model.graph.node ?? []).flatMap((proto, index) => replacements.get(index) ?? [proto]);
  const produced = model.tensorNames();
  model.graph.valueInfo = (model.graph.valueInfo ?? []).filter((info) => produced.has(info.name ?? ''));
}
