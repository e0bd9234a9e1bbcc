/**
 * fitCalibratorToProfile(): wraps a calibrator whose batches come in many shapes so that TensorRT 10.x
 * implicit calibration, which runs at one fixed shape (the calibration profile's OPT shape), can use it.
 * Each batch is validated as it comes (any shape of the right rank), fitted with fitToShape, and the
 * padding and cutting are totalled per input and reported when calibration ends.
 */
import { TrtInt8Error } from '../core/errors.js';
import { Calibrator, wrappedCalibratorOptions } from '../calibrators/calibrator.js';
import { validateBatch } from '../core/batch.js';
import type { Batch, BatchContext } from '../core/batch.js';
import type { InputSpec, TypedArray } from '../core/tensor.js';
import { fitToShape, resolveFitOptions, type FitOptions } from './fit-to-shape.js';

/** Per input: its OPT shape, or an optimization-profile range whose `opt` is used. */
export type OptShapes = Readonly<Record<string, readonly number[] | { readonly min?: readonly number[]; readonly opt: readonly number[]; readonly max?: readonly number[] }>>;

export interface InputFitTotals {
  readonly optShape: readonly number[];
  readonly batches: number;
  /** Elements the calibrator gave for this input. */
  readonly sampleElements: number;
  /** Elements handed to TensorRT (batches x OPT size). */
  readonly fittedElements: number;
  /** Of fittedElements, how many were padValue. */
  readonly padded: number;
  /** Of sampleElements, how many were cut off. */
  readonly cut: number;
  readonly batchesPadded: number;
  readonly batchesCut: number;
}

export interface FitReport {
  readonly inputs: Readonly<Record<string, InputFitTotals>>;
  /** Totals over all inputs. */
  readonly padded: number;
  readonly cut: number;
  /** cut / sampleElements and padded / fittedElements over all inputs (0 when nothing was seen). */
  readonly cutFraction: number;
  readonly paddedFraction: number;
  /** One line for people, e.g. `x: 12 batches, 3.1% of the elements padded, 0.4% cut`. */
  readonly summary: string;
}

export interface FitCalibratorOptions extends FitOptions {
  /**
   * Receives the totals when calibration ends (close()). Without it, a report in which anything was cut
   * goes to process.emitWarning, since cut data silently narrows the ranges.
   */
  readonly onReport?: (report: FitReport) => void;
}

interface MutableTotals {
  optShape: number[];
  batches: number;
  sampleElements: number;
  fittedElements: number;
  padded: number;
  cut: number;
  batchesPadded: number;
  batchesCut: number;
}

function resolveOptShapes(optShapes: OptShapes): Map<string, number[]> {
  if (optShapes === null || typeof optShapes !== 'object' || Array.isArray(optShapes)) {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'fitCalibratorToProfile: optShapes must map input names to OPT shapes.', {
      input: 'optShapes',
      expected: '{ inputName: number[] } or an optimization profile { inputName: { min, opt, max } }',
      actual: optShapes === null ? 'null' : Array.isArray(optShapes) ? 'an array' : typeof optShapes,
    });
  }
  const out = new Map<string, number[]>();
  for (const [name, value] of Object.entries(optShapes)) {
    const shape = Array.isArray(value) ? value : (value as { opt?: unknown } | null)?.opt;
    if (!Array.isArray(shape) || shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new TrtInt8Error('ERR_BAD_OPTION', `fitCalibratorToProfile: the OPT shape of "${name}" is not a fixed shape.`, {
        input: `optShapes.${name}`,
        expected: 'a non-empty list of positive integers',
        actual: shape ?? value,
      });
    }
    out.set(name, [...(shape as number[])]);
  }
  if (out.size === 0) {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'fitCalibratorToProfile: optShapes names no input.', { input: 'optShapes', expected: 'at least one input', actual: {} });
  }
  return out;
}

function percent(part: number, whole: number): string {
  if (whole === 0) return '0%';
  const p = (100 * part) / whole;
  return `${p < 0.1 && p > 0 ? p.toPrecision(2) : p.toFixed(1)}%`;
}

/** The wrapper itself; a Calibrator, so buildEngine, calibrate() and the bridge accept it as any other. */
export class ShapeFittingCalibrator extends Calibrator {
  readonly inner: Calibrator;
  readonly #optShapes: Map<string, number[]>;
  readonly #fit: Required<FitOptions>;
  readonly #onReport: ((report: FitReport) => void) | undefined;
  readonly #totals = new Map<string, MutableTotals>();
  #reported = false;
  #checked = false;

  constructor(inner: Calibrator, optShapes: OptShapes, options: FitCalibratorOptions = {}) {
    const looksLikeCalibrator = inner !== null && typeof inner === 'object' && typeof inner.getBatch === 'function' && typeof inner.algorithm?.kind === 'string';
    if (!looksLikeCalibrator) {
      throw new TrtInt8Error('ERR_BAD_OPTION', 'fitCalibratorToProfile needs a Calibrator to wrap.', {
        input: 'calibrator',
        expected: 'an instance of a Calibrator subclass',
        actual: inner === null ? 'null' : typeof inner,
      });
    }
    // cachePath is shown for information; readCache/writeCache go to the inner calibrator (which may override them).
    const base = wrappedCalibratorOptions(inner);
    super(inner.algorithm, base);
    this.inner = inner;
    this.#optShapes = resolveOptShapes(optShapes);
    this.#fit = resolveFitOptions(options);
    if (options.onReport !== undefined && typeof options.onReport !== 'function') {
      throw new TrtInt8Error('ERR_BAD_OPTION', 'fitCalibratorToProfile: onReport must be a function.', { input: 'onReport', expected: 'a function', actual: typeof options.onReport });
    }
    this.#onReport = options.onReport;
    for (const [name, optShape] of this.#optShapes) {
      this.#totals.set(name, { optShape, batches: 0, sampleElements: 0, fittedElements: 0, padded: 0, cut: 0, batchesPadded: 0, batchesCut: 0 });
    }
  }

  /** optShapes must name inputs of the session, at its rank and, where the session's shape is fixed, at that shape. */
  #checkAgainstSession(inputs: readonly InputSpec[]): void {
    const byName = new Map(inputs.map((spec) => [spec.name, spec]));
    for (const [name, opt] of this.#optShapes) {
      const spec = byName.get(name);
      const conflicts = spec && (spec.shape.length !== opt.length || spec.shape.some((d, i) => d >= 0 && d !== opt[i]));
      if (!spec || conflicts) {
        throw new TrtInt8Error('ERR_BAD_OPTION', spec
          ? `fitCalibratorToProfile: the OPT shape of "${name}" does not fit the shape the calibration runs at.`
          : `fitCalibratorToProfile: optShapes names "${name}", which is not an input of the model.`, {
          input: `optShapes.${name}`,
          expected: spec ? `[${spec.shape.join(', ')}] (-1 = any)` : inputs.map((i) => i.name),
          actual: spec ? `[${opt.join(', ')}]` : name,
          fixes: spec
            ? ['Pass the OPT shapes TensorRT calibrates at: buildEngine\'s calibrationProfile, else profiles[0].']
            : ['Use the model input names exactly (names are case-sensitive).'],
        });
      }
    }
  }

  async getBatch(ctx: BatchContext): Promise<Batch | null> {
    if (ctx.batchIndex === 0 || !this.#checked) {
      this.#checkAgainstSession(ctx.inputs);
      this.#checked = true;
    }
    // The inner calibrator may return any shape of the right rank: it sees the inputs with every
    // dimension it may vary marked dynamic (-1), whatever OPT shape the session runs at.
    const relaxed: InputSpec[] = ctx.inputs.map((spec) => {
      const opt = this.#optShapes.get(spec.name);
      return opt ? { name: spec.name, dtype: spec.dtype, shape: opt.map(() => -1) } : spec;
    });
    // Buffers the TensorRT bridge lends are OPT-sized: they are for the fitted batch, not for the inner calibrator's.
    const lent = (ctx as { buffers?: ReadonlyMap<string, TypedArray> | null }).buffers ?? null;
    const batch: unknown = await this.inner.getBatch({ ...ctx, inputs: relaxed, ...(lent ? { buffers: null } : {}) } as BatchContext);
    if (batch === null) return null;
    const valid = validateBatch(batch, relaxed, { batchIndex: ctx.batchIndex, nonFinite: this.inner.nonFinite, ...(this.inner.onWarning ? { onWarning: this.inner.onWarning } : {}) });
    const out: Record<string, { data: TypedArray; shape: number[] }> = {};
    for (const [name, tensor] of valid) {
      const opt = this.#optShapes.get(name);
      const totals = this.#totals.get(name);
      if (!opt || !totals) {
        out[name] = { data: tensor.data, shape: [...tensor.shape] };
        continue;
      }
      let fitted;
      try {
        const into = lent?.get(name);
        fitted = fitToShape(tensor, opt, { ...this.#fit, inputName: name, ...(into ? { into } : {}) });
      } catch (error) {
        if (error instanceof TrtInt8Error && error.code === 'ERR_BAD_BATCH') {
          throw new TrtInt8Error('ERR_BAD_BATCH', `Calibration batch ${ctx.batchIndex}: ${error.message}`.split('\n')[0]!, {
            input: error.input,
            expected: error.expected,
            actual: error.actual,
            fixes: error.fixes,
            details: { batchIndex: ctx.batchIndex, ...error.details },
          });
        }
        throw error;
      }
      totals.batches++;
      totals.sampleElements += tensor.data.length;
      totals.fittedElements += fitted.data.length;
      totals.padded += fitted.padded;
      totals.cut += fitted.cut;
      if (fitted.padded > 0) totals.batchesPadded++;
      if (fitted.cut > 0) totals.batchesCut++;
      out[name] = { data: fitted.data, shape: fitted.shape };
    }
    return out;
  }

  /** The totals so far. */
  get report(): FitReport {
    const inputs: Record<string, InputFitTotals> = {};
    let padded = 0;
    let cut = 0;
    let sampleElements = 0;
    let fittedElements = 0;
    const lines: string[] = [];
    for (const [name, t] of this.#totals) {
      inputs[name] = { ...t, optShape: [...t.optShape] };
      padded += t.padded;
      cut += t.cut;
      sampleElements += t.sampleElements;
      fittedElements += t.fittedElements;
      lines.push(
        `${name}: ${t.batches} batch${t.batches === 1 ? '' : 'es'} fitted to [${t.optShape.join(', ')}], ${percent(t.padded, t.fittedElements)} of the calibrated elements padded (${t.batchesPadded} batches), ${percent(t.cut, t.sampleElements)} of the data cut (${t.batchesCut} batches)`,
      );
    }
    return {
      inputs,
      padded,
      cut,
      cutFraction: sampleElements === 0 ? 0 : cut / sampleElements,
      paddedFraction: fittedElements === 0 ? 0 : padded / fittedElements,
      summary: lines.join('; '),
    };
  }

  override readCache(): Promise<Uint8Array | null> {
    return this.inner.readCache();
  }

  override writeCache(bytes: Uint8Array): Promise<void> {
    return this.inner.writeCache(bytes);
  }

  override async close(): Promise<void> {
    try {
      await this.inner.close();
    } finally {
      if (!this.#reported) {
        this.#reported = true;
        const report = this.report;
        if (this.#onReport) this.#onReport(report);
        else if (report.cut > 0) process.emitWarning(`Shape fitting cut calibration data: ${report.summary}`, { code: 'TRT_INT8_FIT_CUT' });
      }
    }
  }
}

/**
 * Wraps `calibrator` so that every batch is fitted to the OPT shapes (fitToShape: pad, cut, or both) before
 * TensorRT 10.x implicit calibration sees it. Use the OPT shapes TensorRT calibrates at: the
 * calibrationProfile given to buildEngine, else profiles[0]'s `opt` (pass profiles[0] itself).
 * Totals are in `.report` and go to onReport when calibration ends.
 */
export function fitCalibratorToProfile(calibrator: Calibrator, optShapes: OptShapes, options: FitCalibratorOptions = {}): ShapeFittingCalibrator {
  return new ShapeFittingCalibrator(calibrator, optShapes, options);
}
