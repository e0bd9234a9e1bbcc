/**
 * What calibrate() returns: the range (amax) of every calibrated tensor with the statistics behind it,
 * and the two artefacts TensorRT consumes: a calibration cache (TensorRT 10 implicit INT8) and a Q/DQ
 * ONNX model (TensorRT 10/11 explicit INT8).
 */
import type { CalibrationAlgorithm } from '../core/algorithm.js';
import type { TensorHistogram } from '../stats/types.js';
import { amaxToScale, cacheAlgorithmName, formatCalibrationCache } from '../cache/index.js';
import { writeFileAtomic } from '../core/files.js';
import { TrtInt8Error } from '../core/errors.js';
import type { CacheAlgorithmKind } from '../cache/index.js';
import { insertQdq, type NodeExclusion, type OnnxModel, type Placement, type PlanOptions } from '../onnx/index.js';

export const DEFAULT_TENSORRT_VERSION = '10.16.0';

/** The cache scale of a tensor that was zero on every calibration batch (the one qdq.ts gives all-zero weight channels). */
export const ZERO_TENSOR_SCALE = 2 ** -14;

export interface TensorCalibration {
  readonly name: string;
  /** The symmetric range: values are quantized as round(x / (amax / 127)), clipped to ±127. */
  readonly amax: number;
  /** Raw minimum and maximum seen; absent when the range came from a calibration cache. */
  readonly min?: number;
  readonly max?: number;
  /**
   * The |x| histogram the algorithm chose amax from; absent when the range came from a cache, and from a min-max
   * calibration unless it was asked for (calibrate()'s histograms option; parameters.histograms is then false).
   */
  readonly histogram?: TensorHistogram;
  /**
   * Set when the range is not the calibrator's algorithm's: options.tensorAlgorithms chose another for this tensor,
   * or 'auto''s whole-model check gave it a uniform percentile set's range (the set kept, or its per-tensor step:
   * result.modelCheck).
   */
  readonly algorithm?: CalibrationAlgorithm;
}

export interface CalibrationParameters {
  readonly numBins: number;
  readonly exclude?: NodeExclusion;
  /** The Q/DQ placement whose tensors were calibrated and that toQdqModel() writes (calibrate()'s `placement`). */
  readonly placement?: Placement;
  readonly executionProviders: readonly string[];
  readonly maxOutputBytesPerRun?: number;
  /** TensorRT version written into the cache handed to calibrator.writeCache. */
  readonly tensorRTVersion: string;
  /**
   * false when the ranges were collected without histograms (calibrate()'s histograms option: by default for a
   * min-max calibration): the tensors then carry min, max and amax but no `histogram`.
   */
  readonly histograms?: boolean;
}

/** The plan options Q/DQ models are written with: an exclusion and a placement (a result's parameters, calibrate()'s options). */
export function qdqPlanOptions(parameters: Pick<CalibrationParameters, 'exclude' | 'placement'>): PlanOptions {
  return {
    ...(parameters.exclude === undefined ? {} : { exclude: parameters.exclude }),
    ...(parameters.placement === undefined ? {} : { placement: parameters.placement }),
  };
}

export interface CalibrationSummary {
  readonly batches: number;
  readonly samples: number;
  readonly seconds: number;
  readonly samplesPerSecond: number;
  /**
   * session.run calls made: more than batches in memory-bounded mode, and when runs in flight at once share each batch
   * (min-max summarized inside the graph, one slice of the batch per run).
   */
  readonly sessionRuns: number;
  /** Where the ranges come from: collected now, or reused from calibrator.readCache(). */
  readonly source: 'collected' | 'cache';
  /** Why an existing cache was not reused (header mismatch, missing tensors). */
  readonly cacheRejectedBecause?: string;
}

/** The range sets 'auto''s whole-model check weighs: the per-tensor choice, and every tensor at one percentile. */
export type ModelCheckSet = 'auto' | 'percentile-99.99' | 'percentile-99.999';

export interface ModelCheckCandidate {
  readonly set: ModelCheckSet;
  /** Mean over the float graph outputs of the output's squared error against FP32 divided by its energy. */
  readonly outputError: number;
  /** SQNR (dB) of all outputs together against FP32; null where they are identical. */
  readonly outputSqnrDb: number | null;
  /** Tensors whose range differs from the per-tensor set's (0 for 'auto'; a set with none is not run again). */
  readonly tensorsChanged: number;
}

/** 'auto''s whole-model check (calibrate()'s modelCheck option): what was weighed, on what, and what was kept. */
export interface ModelCheck {
  /** The set kept ('auto': the per-tensor choice); the result's ranges are this set's, with tensorSteps' changes. */
  readonly chosen: ModelCheckSet;
  /** The batches of kept calibration samples the sets were run on (CheckSamples), and their samples. */
  readonly batches: number;
  readonly samples: number;
  /** Another set replaces 'auto' only when its output error is lower by more than this share. */
  readonly margin: number;
  /** Model runs over those batches: FP32 and one per candidate set run. */
  readonly evaluations: number;
  readonly outputs: readonly string[];
  /** In the order weighed: 'auto' first. Empty when the check was skipped. */
  readonly candidates: readonly ModelCheckCandidate[];
  /** Why the check did not run (the per-tensor set kept); absent when it ran. */
  readonly skipped?: string;
  /**
   * The per-tensor step after the set choice (tensor-confirmation.ts): absent when the check was skipped, when no
   * uniform set differed from the per-tensor one, or with modelCheck { confirmTensors: false }.
   */
  readonly tensorSteps?: TensorSteps;
  /** The whole check, the per-tensor step included. */
  readonly seconds: number;
}

/** One tensor whose range the per-tensor step changed: from the kept set's range to its other contender. */
export interface TensorStep {
  readonly tensor: string;
  readonly from: number;
  readonly to: number;
  /** The model's output error once this range was kept. */
  readonly outputError: number;
}

/**
 * 'auto''s per-tensor step: each tensor whose per-tensor range and best uniform set's range differ by more than
 * minDifference (a share of the larger) got the other tried in the model, in graph order, and kept it when the output
 * error fell by more than margin.
 */
export interface TensorSteps {
  /** Tensors whose two contenders differ by more than minDifference. */
  readonly contested: number;
  /** Model runs over the check's batches: one per contested tensor, fewer when a run failed (stopped). */
  readonly evaluations: number;
  /** Why the step ended early: a model run failed; the changes kept before it stay. Absent when every tensor was tried. */
  readonly stopped?: string;
  readonly minDifference: number;
  readonly margin: number;
  /** The changes kept, in the order made. */
  readonly kept: readonly TensorStep[];
  /** The output error of the ranges the result has. */
  readonly outputError: number;
  readonly seconds: number;
}

export interface CalibrationResultInit {
  readonly model: OnnxModel;
  readonly algorithm: CalibrationAlgorithm;
  readonly tensors: readonly TensorCalibration[];
  readonly parameters: CalibrationParameters;
  readonly summary: CalibrationSummary;
  readonly modelCheck?: ModelCheck;
}

export interface TensorRTCacheOptions {
  /**
   * The algorithm named in the header; TensorRT only reads a cache whose header names its
   * calibrator's algorithm. Default: the one calibrated with, or entropy2 for percentile, which
   * TensorRT lacks (TensorRT uses cached scales as they are, whatever the header algorithm).
   */
  readonly algorithm?: CacheAlgorithmKind;
}

/**
 * The error for `who` (a sensitivity report, keepInHigherPrecision, histogram plots) reading the histograms of a result
 * collected without them; undefined when the result has them (or its ranges came from a cache, which callers report
 * themselves).
 */
export function histogramsNotCollected(result: CalibrationResult, who: string): TrtInt8Error | undefined {
  if (result.parameters.histograms !== false) return undefined;
  return new TrtInt8Error('ERR_BAD_OPTION', `${who} reads the tensors' histograms, and this result was calibrated without them (a '${result.algorithm.kind}' calibration keeps only each tensor's min and max unless asked).`, {
    input: 'result',
    expected: 'a result calibrated with histograms',
    actual: `${result.tensors.size} tensors, parameters.histograms false`,
    fixes: [
      'Calibrate with them: calibrate(model, calibrator, { histograms: true }) (the same ranges).',
      "Or calibrate with an algorithm that uses them, such as the default 'auto'.",
    ],
  });
}

/**
 * The error for what works on the 'layer-inputs' placement only: mixed precision and the sensitivity report. Under
 * 'tensorrt' keeping a node in float moves pairs onto tensors that were not calibrated, and a scale group quantizes
 * its tensors with the group's largest amax, which per-tensor figures do not show.
 */
export function placementNotSupported(result: CalibrationResult, who: string): TrtInt8Error | undefined {
  if (result.parameters.placement === undefined || result.parameters.placement === 'layer-inputs') return undefined;
  return new TrtInt8Error('ERR_BAD_OPTION', `${who} works on the 'layer-inputs' placement, and this result was calibrated for '${result.parameters.placement}': keeping a node in float there moves Q/DQ pairs onto tensors that were not calibrated, and its scale groups quantize tensors with a shared range that per-tensor figures would not show.`, {
    input: 'result',
    expected: "a result of calibrate() without placement (or placement 'layer-inputs')",
    actual: `placement '${result.parameters.placement}'`,
    fixes: [
      "Calibrate without placement for the search or the report, then write the 'tensorrt' Q/DQ model from a calibration with placement: 'tensorrt' and exclude: { names } of the nodes it kept.",
    ],
  });
}

/** The header algorithm a result's cache is written under by default. */
export function defaultCacheAlgorithm(algorithm: CalibrationAlgorithm): CacheAlgorithmKind {
  return algorithm.kind === 'percentile' || algorithm.kind === 'auto' ? 'entropy2' : algorithm.kind;
}

export class CalibrationResult {
  readonly algorithm: CalibrationAlgorithm;
  readonly parameters: CalibrationParameters;
  readonly summary: CalibrationSummary;
  /** 'auto''s whole-model check, when it was on (calibrated from data with 'auto' and modelCheck not false). */
  readonly modelCheck?: ModelCheck;
  /** Per tensor, in graph order. */
  readonly tensors: ReadonlyMap<string, TensorCalibration>;
  readonly #model: OnnxModel;

  constructor(init: CalibrationResultInit) {
    this.#model = init.model;
    this.algorithm = init.algorithm;
    this.parameters = init.parameters;
    this.summary = init.summary;
    if (init.modelCheck) this.modelCheck = init.modelCheck;
    this.tensors = new Map(init.tensors.map((t) => [t.name, t]));
  }

  /** tensor name -> amax. */
  amax(): Map<string, number> {
    return new Map([...this.tensors].map(([name, t]) => [name, t.amax]));
  }

  /**
   * TensorRT's calibration cache text (scale = amax / 127 per tensor). A tensor that was zero on every batch (amax 0)
   * gets ZERO_TENSOR_SCALE: a zero scale is no calibration (TensorRT's parser and ours refuse it), and any positive
   * scale represents zeros exactly.
   */
  toTensorRTCache(version: string = DEFAULT_TENSORRT_VERSION, options: TensorRTCacheOptions = {}): string {
    const algorithm = options.algorithm ?? defaultCacheAlgorithm(this.algorithm);
    cacheAlgorithmName(algorithm); // ERR_BAD_OPTION for a kind TensorRT has no header for
    const scales = new Map([...this.tensors].map(([name, t]) => [name, t.amax > 0 ? amaxToScale(t.amax) : ZERO_TENSOR_SCALE]));
    return formatCalibrationCache({ version, algorithm, scales });
  }

  /** Writes the cache atomically; an unwritable path is ERR_IO and leaves no partial file. */
  async writeCache(file: string, version: string = DEFAULT_TENSORRT_VERSION, options: TensorRTCacheOptions = {}): Promise<void> {
    await writeFileAtomic(file, this.toTensorRTCache(version, options));
  }

  /** The model with QuantizeLinear/DequantizeLinear pairs at the calibrated tensors (for TensorRT explicit INT8). */
  toQdqModel(): Uint8Array {
    return insertQdq(this.#model, { amax: this.amax(), ...qdqPlanOptions(this.parameters) }).toBytes();
  }

  /** Writes the Q/DQ model atomically; an unwritable path is ERR_IO and leaves no partial file. */
  async writeQdqModel(file: string): Promise<void> {
    await writeFileAtomic(file, this.toQdqModel());
  }

  /** Plain data for JSON.stringify: ranges, raw min/max and histograms (trailing empty bins dropped). */
  toJSON(): Record<string, unknown> {
    return {
      algorithm: this.algorithm,
      parameters: { ...this.parameters, exclude: typeof this.parameters.exclude === 'function' ? '(predicate)' : this.parameters.exclude },
      summary: this.summary,
      ...(this.modelCheck ? { modelCheck: this.modelCheck } : {}),
      tensors: [...this.tensors.values()].map((t) => {
        let histogram: Record<string, unknown> | undefined;
        if (t.histogram) {
          let used = t.histogram.counts.length;
          while (used > 0 && t.histogram.counts[used - 1] === 0) used--;
          histogram = {
            binWidth: t.histogram.binWidth,
            absMax: t.histogram.absMax,
            count: t.histogram.count,
            nonFinite: t.histogram.nonFinite,
            counts: Array.from(t.histogram.counts.subarray(0, used)),
          };
        }
        return { name: t.name, amax: t.amax, scale: amaxToScale(t.amax), min: t.min, max: t.max, ...(t.algorithm ? { algorithm: t.algorithm } : {}), histogram };
      }),
    };
  }
}
