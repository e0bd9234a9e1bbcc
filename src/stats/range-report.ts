/**
 * A per-tensor report of 'auto''s range selection, as plain JSON data: for each tensor the chosen range and every
 * candidate with its estimated MSE, SQNR and share of values clipped. Computed from histograms alone (those of a
 * CalibrationResult's tensors, or a HistogramCollector's), so the CLI can write it next to the cache.
 */
import { TrtInt8Error } from '../core/errors.js';
import { chooseRange, type RangeCandidate, type RangeMethod } from './auto.js';
import type { TensorHistogram } from './types.js';

export const RANGE_REPORT_VERSION = 1;

/** One candidate range in the report; sqnrDb is null where the error is 0 (JSON has no Infinity). */
export interface RangeReportCandidate {
  readonly method: RangeMethod;
  readonly amax: number;
  readonly mse: number;
  readonly sqnrDb: number | null;
  readonly clippedShare: number;
}

export interface RangeReportTensor {
  readonly tensor: string;
  /** What was seen: the signed range and how many values (finite, and NaN/Infinity skipped). */
  readonly min: number | null;
  readonly max: number | null;
  readonly absMax: number;
  readonly count: number;
  readonly nonFinite: number;
  readonly chosen: RangeReportCandidate;
  /** Every candidate weighed, in the order of chooseRange(). */
  readonly candidates: readonly RangeReportCandidate[];
}

export interface RangeReport {
  readonly version: typeof RANGE_REPORT_VERSION;
  /** How the choice is made, for a reader of the file. */
  readonly criterion: string;
  /** Tensors in the order given, the least SQNR (the tensors INT8 hurts most) first in `bySqnr`. */
  readonly tensors: readonly RangeReportTensor[];
  readonly bySqnr: readonly string[];
}

const CRITERION =
  "per tensor, the candidate amax (mse search, entropy, minmax, percentiles) with the least mean squared error of symmetric INT8 fake quantization, estimated on the tensor's |x| histogram";

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function candidateData(c: RangeCandidate): RangeReportCandidate {
  return { method: c.method, amax: c.amax, mse: c.mse, sqnrDb: finiteOrNull(c.sqnrDb), clippedShare: c.clippedShare };
}

/** The report for these histograms (ERR_BAD_OPTION for a duplicate name; ERR_EMPTY_DATASET for an empty histogram). */
export function rangeReport(histograms: Iterable<TensorHistogram>): RangeReport {
  const tensors: RangeReportTensor[] = [];
  const seen = new Set<string>();
  for (const h of histograms) {
    if (seen.has(h?.name)) {
      throw new TrtInt8Error('ERR_BAD_OPTION', `The histogram "${h.name}" appears twice.`, {
        input: 'histograms',
        expected: 'one histogram per tensor name',
        actual: `"${h.name}" twice`,
      });
    }
    seen.add(h?.name);
    const choice = chooseRange(h);
    const chosen = choice.candidates.find((c) => c.method === choice.method)!;
    tensors.push({
      tensor: h.name,
      min: finiteOrNull(h.min),
      max: finiteOrNull(h.max),
      absMax: h.absMax,
      count: h.count,
      nonFinite: h.nonFinite,
      chosen: candidateData(chosen),
      candidates: choice.candidates.map(candidateData),
    });
  }
  const bySqnr = [...tensors]
    .sort((a, b) => (a.chosen.sqnrDb ?? Infinity) - (b.chosen.sqnrDb ?? Infinity))
    .map((t) => t.tensor);
  return { version: RANGE_REPORT_VERSION, criterion: CRITERION, tensors, bySqnr };
}
