/** `trt-int8 inspect model.onnx`: inputs, outputs and nodes of an ONNX model, as a table or JSON (no TensorRT needed). */
import type { OnnxModel } from '../onnx/index.js';

export interface OnnxSummary {
  readonly kind: 'onnx';
  readonly file: string;
  readonly opset: number | undefined;
  readonly inputs: readonly { name: string; dtype: string; shape: readonly number[] | null }[];
  readonly outputs: readonly { name: string; dtype: string; shape: readonly number[] | null }[];
  readonly nodes: readonly { index: number; name: string; opType: string; domain: string }[];
  /** Op type -> how many nodes have it, most frequent first. */
  readonly opTypes: Readonly<Record<string, number>>;
}

export function summarizeOnnx(model: OnnxModel, file: string): OnnxSummary {
  const nodes = model.nodes.map((n) => ({ index: n.index, name: n.name, opType: n.opType, domain: n.domain }));
  const counts = new Map<string, number>();
  for (const n of nodes) counts.set(n.opType, (counts.get(n.opType) ?? 0) + 1);
  return {
    kind: 'onnx',
    file,
    opset: model.opsetVersion(),
    inputs: model.inputs().map((i) => ({ name: i.name, dtype: i.dtype, shape: i.shape })),
    outputs: model.outputs().map((o) => ({ name: o.name, dtype: o.dtype, shape: o.shape ?? null })),
    nodes,
    opTypes: Object.fromEntries([...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
  };
}

function shapeText(shape: readonly number[] | null): string {
  return shape ? `[${shape.map((d) => (d < 0 ? '?' : String(d))).join(', ')}]` : '(unknown rank)';
}

/** A table a user can copy node names and op types from (for --exclude). */
export function formatOnnxSummary(s: OnnxSummary): string {
  const lines = [`${s.file}: ONNX model, opset ${s.opset ?? 'unknown'}, ${s.nodes.length} nodes`, '', 'Inputs'];
  for (const i of s.inputs) lines.push(`  ${i.name}  ${i.dtype}  ${shapeText(i.shape)}`);
  lines.push('', 'Outputs');
  for (const o of s.outputs) lines.push(`  ${o.name}  ${o.dtype}  ${shapeText(o.shape)}`);
  lines.push('', `Op types: ${Object.entries(s.opTypes).map(([op, n]) => `${op} ${n}`).join(', ')}`);
  lines.push('', 'Nodes (name, op type; for --exclude)');
  const width = Math.max(4, ...s.nodes.map((n) => n.name.length));
  for (const n of s.nodes) lines.push(`  ${String(n.index).padStart(4)}  ${(n.name || '(unnamed)').padEnd(width)}  ${n.domain ? `${n.domain}.` : ''}${n.opType}`);
  return lines.join('\n');
}
