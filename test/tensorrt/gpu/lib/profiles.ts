/**
 * Per-layer choices made from TensorRT's layer profiles of two engines of the same run (bench/gpu/qdq-speed.ts):
 * which layers to keep in float, which convolutions to split from their pointwise epilogue. Engine layers are matched
 * to ONNX nodes by the node names in their names.
 */
import type { OnnxModel } from '../../../../src/index.js';

/** One engine's per-layer profile: each layer's mean time. */
export interface ProfiledLayers {
  readonly layers: readonly { readonly name: string; readonly ms: number }[];
}

const weightedOps = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

/**
 * A weighted layer stays in float when FP16 runs it in under this share of its INT8 time. Below 1 because keeping a
 * layer in float costs reformats that neither profile shows.
 */
export const FASTER_IN_FP16 = 0.8;

/**
 * The ONNX node names in an engine layer's name (fused layers join them with ' + ', pointwise ones nest in PWN(...)).
 * Only names of `nodes`: a layer name also holds weight and constant names and TensorRT's own (ONNXTRT_Broadcast_N,
 * numbered per build), which would match unrelated layers of another engine.
 */
export function layerNodeNames(layer: string, nodes: ReadonlySet<string>): string[] {
  // Unnamed nodes ('') would match every layer.
  return layer.split(/ \+ |PWN\(|[(), ]+/).map((name) => name.trim()).filter((name) => name.length > 0 && nodes.has(name));
}

/** Per ONNX node, the profiled time of the one engine layer that contains it. */
export function timeByNode(profile: ProfiledLayers, nodes: ReadonlySet<string>): Map<string, number> {
  const byNode = new Map<string, number>();
  for (const layer of computingLayers(profile)) for (const name of layerNodeNames(layer.name, nodes)) if (!byNode.has(name)) byNode.set(name, layer.ms);
  return byNode;
}

/** Weighted nodes whose engine layer in FP16 took under FASTER_IN_FP16 of the same node's layer in the Q/DQ engine. */
export function fasterInFp16(model: OnnxModel, fp16: ProfiledLayers, qdq: ProfiledLayers): Set<string> {
  const nodeNames = new Set(model.nodes.map((n) => n.name));
  const fp16Ms = timeByNode(fp16, nodeNames);
  const int8Ms = timeByNode(qdq, nodeNames);
  const names = model.nodes
    .filter((node) => weightedOps.has(node.opType))
    .filter((node) => {
      const [half, int8] = [fp16Ms.get(node.name), int8Ms.get(node.name)];
      return half !== undefined && int8 !== undefined && half < FASTER_IN_FP16 * int8;
    })
    .map((node) => node.name);
  return new Set(names);
}

/** Profiled layers by name, without reformats and copies (they name the layer they feed). */
export function computingLayers(profile: ProfiledLayers): readonly { readonly name: string; readonly ms: number }[] {
  return profile.layers.filter((layer) => !layer.name.startsWith('Reformatting ') && !layer.name.endsWith(' copy'));
}
