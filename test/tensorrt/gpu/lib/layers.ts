/**
 * How many layers of an engine actually run in INT8, FP16 or FP32, read from TensorRT's IEngineInspector JSON
 * (engine.inspect()). buildEngine sets ProfilingVerbosity::kDETAILED (cpp/tensorrt/trt_build_job.cc), so each
 * layer is an object with "Inputs"/"Outputs" whose "Format/Datatype" names the type (e.g. "Thirty-two wide
 * channel vectorized row major Int8 format", "Channel major FP16 format where channel % 8 == 0", "Row major
 * linear FP32") and, for layers with weights, "Weights": { "Type": "Int8" | "Half" | "Float" }. A layer counts
 * as INT8 when its weights or any of its inputs are INT8 (the last convolution before a dequantize reads INT8
 * and writes FP32/FP16); else FP16 when any input or output is FP16; else FP32.
 */
import type { Engine } from '../../../../src/index.js';

export interface LayerPrecisionCounts {
  readonly int8: number;
  readonly fp16: number;
  readonly fp32: number;
  /** Layers whose types could not be read (other types such as INT32/BOOL shape layers, or no I/O listed). */
  readonly other: number;
  /** TensorRT-inserted reformats (conversions between precisions/layouts): in `total`, in none of the precisions. */
  readonly reformats: number;
  readonly total: number;
  /** Names of the layers in INT8 (at most 200), so a reader can tell which convolutions made it. */
  readonly int8Layers: readonly string[];
  /** 'inspector' when counted here; 'engine.layerPrecisions()' when the library's own summary was used as well. */
  readonly source: string;
  /** The library's own summary (engine.layerPrecisions(), being added in parallel), when it exists. */
  readonly libraryReport?: unknown;
}

interface InspectorTensor {
  readonly Name?: string;
  readonly 'Format/Datatype'?: string;
}
interface InspectorLayer {
  readonly Name?: string;
  readonly LayerType?: string;
  readonly Inputs?: readonly InspectorTensor[];
  readonly Outputs?: readonly InspectorTensor[];
  readonly Weights?: { readonly Type?: string };
}

const INT8 = /int8/i;
const FP16 = /fp16|half/i;
const FP32 = /fp32|float/i;

export type LayerPrecision = 'int8' | 'fp16' | 'fp32' | 'other';

export function layerPrecision(layer: InspectorLayer): LayerPrecision {
  const inputs = (layer.Inputs ?? []).map((t) => t['Format/Datatype'] ?? '');
  const outputs = (layer.Outputs ?? []).map((t) => t['Format/Datatype'] ?? '');
  const weights = layer.Weights?.Type ?? '';
  if (INT8.test(weights) || inputs.some((f) => INT8.test(f))) return 'int8';
  if (FP16.test(weights) || [...inputs, ...outputs].some((f) => FP16.test(f))) return 'fp16';
  if (FP32.test(weights) || [...inputs, ...outputs].some((f) => FP32.test(f))) return 'fp32';
  return 'other';
}

/** Counts from an inspector JSON object (exported for the CPU test of this counting on a recorded inspector output). */
export function countLayerPrecisions(inspected: { Layers: readonly unknown[] }): Omit<LayerPrecisionCounts, 'source' | 'libraryReport'> {
  const counts = { int8: 0, fp16: 0, fp32: 0, other: 0 };
  let reformats = 0;
  const int8Layers: string[] = [];
  for (const raw of inspected.Layers) {
    // Without kDETAILED the inspector lists names only: nothing to count, and saying 0 INT8 would be a lie.
    if (typeof raw !== 'object' || raw === null) {
      counts.other++;
      continue;
    }
    const layer = raw as InspectorLayer;
    // A reformat only converts between types or layouts: counting it as INT8 would inflate the INT8 count.
    if (/reformat/i.test(layer.LayerType ?? '')) {
      reformats++;
      continue;
    }
    const precision = layerPrecision(layer);
    counts[precision]++;
    if (precision === 'int8' && int8Layers.length < 200) int8Layers.push(layer.Name ?? '?');
  }
  return { ...counts, reformats, total: inspected.Layers.length, int8Layers };
}

/**
 * SWITCH: engine.layerPrecisions() is being added to the library in parallel. When it exists its report is kept
 * next to ours (the two should agree; a difference is worth a look), otherwise only the inspector count is used.
 */
export function engineLayerPrecisions(engine: Engine): LayerPrecisionCounts {
  const own = countLayerPrecisions(engine.inspect());
  const library = (engine as unknown as { layerPrecisions?: () => unknown }).layerPrecisions;
  if (typeof library !== 'function') return { ...own, source: 'inspector' };
  try {
    return { ...own, source: 'inspector + engine.layerPrecisions()', libraryReport: library.call(engine) };
  } catch (error) {
    return { ...own, source: 'inspector (engine.layerPrecisions() threw)', libraryReport: String(error) };
  }
}

/** "int8 12 / fp16 3 / fp32 5 of 20" for tables. */
export function layerSummary(c: Pick<LayerPrecisionCounts, 'int8' | 'fp16' | 'fp32' | 'total'>): string {
  return `int8 ${c.int8}/fp16 ${c.fp16}/fp32 ${c.fp32} of ${c.total}`;
}
