/**
 * TensorRT's IEngineInspector JSON (ProfilingVerbosity kDETAILED) as rows: layer name, type, precision,
 * tactic and the ONNX nodes it came from. The format is TensorRT's, not ours, and varies by version
 * (a layer may be a bare string at lower verbosity; Metadata lists nodes as "[ONNX Layer: X]" separated by
 * \x1e), so every field is read defensively and a missing one reads as undefined, never a crash.
 */

export interface EngineLayer {
  readonly name: string;
  readonly type: string | undefined;
  /** The output's data type (INT8, FP16, FP32, ...), or the input's for layers without outputs. */
  readonly precision: string | undefined;
  readonly inputPrecisions: readonly string[];
  readonly tactic: string | undefined;
  /** ONNX node names the layer came from (fused layers have several). */
  readonly onnxNodes: readonly string[];
}

export interface EngineSummary {
  readonly kind: 'engine';
  readonly file: string;
  readonly layers: readonly EngineLayer[];
  /** Precision -> number of layers (by output precision). */
  readonly precisions: Readonly<Record<string, number>>;
}

const PRECISION_PATTERNS: readonly [RegExp, string][] = [
  [/\bint8\b|\bi8\b/i, 'INT8'],
  [/\bfp8\b/i, 'FP8'],
  [/\bint4\b/i, 'INT4'],
  [/\bbf16\b/i, 'BF16'],
  [/\bfp16\b|\bhalf\b/i, 'FP16'],
  [/\bfp32\b|\bfloat\b/i, 'FP32'],
  [/\bint32\b/i, 'INT32'],
  [/\bint64\b/i, 'INT64'],
  [/\bbool\b/i, 'BOOL'],
  [/\buint8\b/i, 'UINT8'],
];

/** "Row major linear FP32", "Thirty-two wide channel vectorized row major Int8 format." -> FP32, INT8. */
export function precisionOf(format: unknown): string | undefined {
  if (typeof format !== 'string') return undefined;
  for (const [pattern, name] of PRECISION_PATTERNS) if (pattern.test(format)) return name;
  return undefined;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function tensorPrecisions(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((t) => precisionOf(asRecord(t)?.['Format/Datatype'])).filter((p): p is string => p !== undefined);
}

/** "[ONNX Layer: /conv/Conv]\x1e[ONNX Layer: /Relu]" -> ["/conv/Conv", "/Relu"]; other metadata is kept as is. */
export function onnxNodesOf(metadata: unknown): string[] {
  if (typeof metadata !== 'string' || metadata.length === 0) return [];
  const tagged = [...metadata.matchAll(/\[ONNX Layer: ([^\]]*)\]/g)].map((m) => m[1]!.trim());
  if (tagged.length > 0) return tagged;
  return metadata.split(/\x1e|\n/).map((s) => s.trim()).filter(Boolean);
}

function layerOf(raw: unknown, index: number): EngineLayer {
  if (typeof raw === 'string') return { name: raw, type: undefined, precision: undefined, inputPrecisions: [], tactic: undefined, onnxNodes: [] };
  const layer = asRecord(raw) ?? {};
  const outputs = tensorPrecisions(layer.Outputs);
  const inputs = tensorPrecisions(layer.Inputs);
  const tactic = typeof layer.TacticName === 'string' && layer.TacticName ? layer.TacticName : typeof layer.TacticValue === 'string' ? layer.TacticValue : undefined;
  return {
    name: typeof layer.Name === 'string' ? layer.Name : `#${index}`,
    type: typeof layer.LayerType === 'string' ? layer.LayerType : undefined,
    precision: outputs[0] ?? inputs[0],
    inputPrecisions: inputs,
    tactic,
    onnxNodes: onnxNodesOf(layer.Metadata),
  };
}

/** The inspector's JSON (already parsed, or as text) as an EngineSummary. */
export function summarizeEngine(info: unknown, file: string): EngineSummary {
  const parsed = typeof info === 'string' ? (JSON.parse(info) as unknown) : info;
  const rawLayers = asRecord(parsed)?.Layers;
  const layers = Array.isArray(rawLayers) ? rawLayers.map(layerOf) : [];
  const precisions: Record<string, number> = {};
  for (const l of layers) precisions[l.precision ?? 'unknown'] = (precisions[l.precision ?? 'unknown'] ?? 0) + 1;
  return { kind: 'engine', file, layers, precisions };
}

function clip(text: string, width: number): string {
  return text.length <= width ? text.padEnd(width) : `${text.slice(0, width - 1)}…`;
}

export function formatEngineSummary(s: EngineSummary): string {
  const counts = Object.entries(s.precisions).map(([p, n]) => `${p} ${n}`).join(', ');
  const lines = [`${s.file}: TensorRT engine, ${s.layers.length} layers (${counts || 'none'})`, ''];
  const nameWidth = Math.min(48, Math.max(5, ...s.layers.map((l) => l.name.length)));
  const typeWidth = Math.min(24, Math.max(4, ...s.layers.map((l) => (l.type ?? '').length)));
  lines.push(`  ${'layer'.padEnd(nameWidth)}  ${'type'.padEnd(typeWidth)}  ${'prec'.padEnd(5)}  ${'tactic'.padEnd(40)}  onnx nodes`);
  for (const l of s.layers) {
    lines.push(`  ${clip(l.name, nameWidth)}  ${clip(l.type ?? '-', typeWidth)}  ${(l.precision ?? '-').padEnd(5)}  ${clip(l.tactic ?? '-', 40)}  ${l.onnxNodes.join(', ') || '-'}`);
  }
  return lines.join('\n');
}
