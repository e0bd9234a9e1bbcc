/** Checks shared by the amax algorithms: a well-formed histogram, integer options, and data to work on. */
import { TrtInt8Error } from '../core/errors.js';
import type { TensorHistogram, TensorSummary } from './types.js';

function label(h: TensorSummary): string {
  return typeof h?.name === 'string' && h.name !== '' ? `histogram "${h.name}"` : 'histogram';
}

/** Throws ERR_BAD_OPTION unless `h` is a histogram of non-negative counts with a finite bin width. */
export function checkHistogram(h: TensorHistogram): void {
  if (h === null || typeof h !== 'object' || !(h.counts instanceof Float64Array)) {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'Expected a TensorHistogram (from HistogramCollector.histograms()).', {
      input: 'histogram',
      expected: '{ name, counts: Float64Array, binWidth, ... }',
      actual: h === null ? 'null' : typeof h === 'object' ? `counts: ${Object.prototype.toString.call((h as { counts?: unknown }).counts)}` : typeof h,
    });
  }
  if (h.counts.length === 0) {
    throw new TrtInt8Error('ERR_BAD_OPTION', `The ${label(h)} has no bins.`, { input: label(h), expected: 'at least 1 bin', actual: 0 });
  }
  if (!Number.isFinite(h.binWidth) || h.binWidth < 0) {
    throw new TrtInt8Error('ERR_BAD_OPTION', `The ${label(h)} has an invalid bin width.`, {
      input: `${label(h)}.binWidth`,
      expected: 'a finite number >= 0',
      actual: h.binWidth,
    });
  }
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i]!;
    if (!(c >= 0) || !Number.isFinite(c)) {
      throw new TrtInt8Error('ERR_BAD_OPTION', `The ${label(h)} has an invalid count in bin ${i}.`, {
        input: `${label(h)}.counts[${i}]`,
        expected: 'a finite count >= 0',
        actual: c,
      });
    }
  }
}

/** Sum of the counts; throws ERR_EMPTY_DATASET when nothing was counted (an amax would be meaningless). */
export function requireCounts(h: TensorHistogram): number {
  let total = 0;
  for (let i = 0; i < h.counts.length; i++) total += h.counts[i]!;
  if (total === 0) throw noFiniteValues(h);
  return total;
}

/** Throws ERR_EMPTY_DATASET when a summary saw no finite value, as requireCounts does for a histogram. */
export function requireFinite(s: TensorSummary): void {
  if (!(s.count > 0)) throw noFiniteValues(s);
}

function noFiniteValues(h: TensorSummary): TrtInt8Error {
  const skipped = typeof h.nonFinite === 'number' && h.nonFinite > 0 ? h.nonFinite : 0;
  return new TrtInt8Error('ERR_EMPTY_DATASET', `No finite values were collected for the ${label(h)}; its range cannot be computed.`, {
    input: label(h),
    expected: 'at least one finite value',
    actual: skipped > 0 ? `0 finite values (${skipped} NaN/Infinity skipped)` : '0 values',
    fixes: [
      'Check that the calibration batches reach this tensor and are not empty.',
      ...(skipped > 0 ? ['Check the model and inputs for NaN/Infinity: every value of this tensor was non-finite.'] : []),
    ],
  });
}

/** Throws ERR_BAD_OPTION unless `value` is an integer in [min, max]. */
export function checkInteger(input: string, value: number, min: number, max: number, fixes: string[] = []): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TrtInt8Error('ERR_BAD_OPTION', `Invalid option ${input}.`, {
      input,
      expected: `an integer from ${min} to ${max}`,
      actual: value,
      fixes,
    });
  }
}
