/**
 * Which precision each layer of a built engine runs in, read from TensorRT's IEngineInspector JSON
 * (getEngineInformation(kJSON) with ProfilingVerbosity::kDETAILED, which buildEngine sets).
 *
 * The inspector describes each layer as { "Name", "LayerType", "Inputs": [{ "Name", "Dimensions",
 * "Format/Datatype" }], "Outputs": [...], "TacticName" | "TacticValue", ... }. "Format/Datatype" is prose that
 * changed over releases: "Row major linear FP32 format", "Channel major FP16 format where channel % 8 == 0",
 * "Thirty-two wide channel vectorized row major Int8 format.", and from 10.9 on plain "Float" / "Half" / "Int8".
 * Without kDETAILED, "Layers" is a list of names only. A layer computes in the type of its first input (as
 * NVIDIA's trt-engine-explorer reads it); a layer without inputs (a constant) in the type of its first output.
 */
import type { LayerPrecision, LayerPrecisionSummary, LayerPrecisionRow } from './types.js';

const DATATYPE_PATTERNS: ReadonlyArray<readonly [LayerPrecision, RegExp]> = [
  ['int8', /\bint8\b/i],
  ['fp8', /\bfp8\b/i],
  ['int4', /\bint4\b/i],
  ['fp16', /\b(fp16|half)\b/i],
  ['bf16', /\bbf16\b/i],
  ['fp32', /\b(fp32|float)\b/i],
  ['int32', /\bint32\b/i],
  ['int64', /\bint64\b/i],
  ['bool', /\bbool\b/i],
];

/** The data type in an inspector "Format/Datatype" text, or 'unknown' (e.g. "N/A due to dynamic shapes"). */
export function precisionOfFormat(format: unknown): LayerPrecision {
  if (typeof format !== 'string') return 'unknown';
  for (const [precision, pattern] of DATATYPE_PATTERNS) if (pattern.test(format)) return precision;
  return 'unknown';
}

function formatsOf(tensors: unknown): string[] {
  if (!Array.isArray(tensors)) return [];
  return tensors.map((t) => (t && typeof t === 'object' && typeof (t as Record<string, unknown>)['Format/Datatype'] === 'string' ? ((t as Record<string, unknown>)['Format/Datatype'] as string) : ''));
}

function layerRow(layer: unknown): LayerPrecisionRow {
  if (typeof layer === 'string') return { name: layer, type: '', precision: 'unknown', inputFormats: [], outputFormats: [] };
  const record = layer && typeof layer === 'object' ? (layer as Record<string, unknown>) : {};
  const inputFormats = formatsOf(record.Inputs);
  const outputFormats = formatsOf(record.Outputs);
  const tactic = typeof record.TacticName === 'string' && record.TacticName !== '' ? record.TacticName : typeof record.TacticValue === 'string' ? record.TacticValue : undefined;
  return {
    name: typeof record.Name === 'string' ? record.Name : '',
    type: typeof record.LayerType === 'string' ? record.LayerType : '',
    precision: precisionOfFormat(inputFormats[0] ?? outputFormats[0]),
    inputFormats,
    outputFormats,
    ...(tactic !== undefined ? { tactic } : {}),
  };
}

/**
 * Counts the engine's layers by the precision they compute in. Reformat layers (copies between formats that
 * TensorRT inserts) are listed but counted apart: they convert data, they do not compute the model.
 */
export function summarizeLayerPrecisions(inspection: unknown): LayerPrecisionSummary {
  const rawLayers = inspection && typeof inspection === 'object' ? (inspection as Record<string, unknown>).Layers : undefined;
  const layers = Array.isArray(rawLayers) ? rawLayers.map(layerRow) : [];
  const summary = { total: 0, int8: 0, fp16: 0, fp32: 0, other: 0, unknown: 0, reformats: 0 };
  for (const layer of layers) {
    if (layer.type === 'Reformat') {
      summary.reformats++;
      continue;
    }
    summary.total++;
    if (layer.precision === 'int8' || layer.precision === 'fp16' || layer.precision === 'fp32' || layer.precision === 'unknown') summary[layer.precision]++;
    else summary.other++;
  }
  return { ...summary, layers };
}

/** The warning buildEngine gives when an INT8 build produced no INT8 layer, or undefined when it did. */
export function noInt8Warning(summary: LayerPrecisionSummary, precision: string): string | undefined {
  if (summary.int8 > 0 || summary.total === summary.unknown) return undefined;
  return (
    `buildEngine: precision '${precision}' built an engine in which no layer runs in INT8 ` +
    `(${summary.fp32} FP32, ${summary.fp16} FP16, ${summary.other} other of ${summary.total} layers). ` +
    'TensorRT picks INT8 kernels only where they time faster and every tensor has a scale: small layers often run ' +
    "faster in FP32, and 'Missing scale' warnings in the log name tensors without a range. " +
    'See engine.layerPrecisions() for each layer.'
  );
}
