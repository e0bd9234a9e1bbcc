/**
 * fitToShape(): brings one tensor to a fixed shape by padding and/or cutting, for TensorRT 10.x implicit
 * calibration, which (TensorRT >= 8.5) runs only at the calibration profile's OPT shape. Everything padded
 * or cut is counted, because both bias the statistics: padding adds values the data never had (padValue),
 * cutting drops values the data had.
 */
import { TrtInt8Error } from '../core/errors.js';
import { float16Bits, product, strides, type DType, type TypedArray } from '../core/tensor.js';
import { optionErrors } from '../core/is.js';

/** 'pad': only grow (a larger sample is an error); 'truncate': only cut; 'pad-or-truncate': both. */
export type FitMode = 'pad' | 'truncate' | 'pad-or-truncate';

/** Where the sample sits inside the target: at index 0 of every dimension, or centred (extra on the far side). */
export type FitAlign = 'top-left' | 'center';

export interface FitOptions {
  /** Default 'pad': cutting data has to be asked for. */
  readonly mode?: FitMode;
  /** Value of the padded elements (default 0). For float16 inputs, a number (converted to half bits). */
  readonly padValue?: number;
  /** Default 'top-left'. */
  readonly align?: FitAlign;
}

/** A tensor to fit: dense row-major data with its shape (the dtype tells float16 bits from uint16). */
export interface FitSample {
  readonly data: TypedArray;
  readonly shape: readonly number[];
  readonly dtype?: DType;
}

export interface FittedTensor {
  readonly data: TypedArray;
  readonly shape: number[];
  /** Elements of the result that are padValue, not data. */
  readonly padded: number;
  /** Elements of the sample left out of the result. */
  readonly cut: number;
}

const MODES: readonly FitMode[] = ['pad', 'truncate', 'pad-or-truncate'];
const ALIGNS: readonly FitAlign[] = ['top-left', 'center'];

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

const badOption = optionErrors('fitToShape');

/** Validated options with defaults; shared with fitCalibratorToProfile so both fail the same way. */
export function resolveFitOptions(options: FitOptions | undefined): Required<FitOptions> {
  if (options !== undefined && (options === null || typeof options !== 'object')) throw badOption('options', 'an object', options);
  const mode = options?.mode ?? 'pad';
  const align = options?.align ?? 'top-left';
  const padValue = options?.padValue ?? 0;
  if (!MODES.includes(mode)) throw badOption('mode', MODES.join(' | '), mode);
  if (!ALIGNS.includes(align)) throw badOption('align', ALIGNS.join(' | '), align);
  if (typeof padValue !== 'number' || Number.isNaN(padValue)) throw badOption('padValue', 'a number (not NaN)', padValue);
  return { mode, align, padValue };
}

export { float16Bits };

/**
 * Fits `sample` to `targetShape`: dimensions smaller than the target are padded with padValue, larger ones
 * cut (when the mode allows it). Returns new dense data; the sample is never modified. A sample that needs
 * cutting under mode 'pad' (or padding under 'truncate') is ERR_BAD_BATCH naming `inputName`, the target
 * shape and the sample shape.
 */
export function fitToShape(
  sample: FitSample,
  targetShape: readonly number[],
  options: FitOptions & {
    /** Names the input in errors. */
    readonly inputName?: string;
    /** Writes the result here (e.g. a buffer the TensorRT bridge lends) when it is the sample's array type and the target's size. */
    readonly into?: TypedArray;
  } = {},
): FittedTensor {
  const { mode, align, padValue } = resolveFitOptions(options);
  const name = options.inputName ?? 'sample';
  if (sample === null || typeof sample !== 'object' || !ArrayBuffer.isView(sample.data) || !Array.isArray(sample.shape)) {
    throw badOption('sample', '{ data: TypedArray, shape: number[] }', sample === null ? 'null' : typeof sample);
  }
  const shape = sample.shape;
  if (!Array.isArray(targetShape) || targetShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw badOption('targetShape', 'a shape of positive integers (the OPT shape)', targetShape);
  }
  if (shape.some((d) => !Number.isInteger(d) || d < 0) || product(shape) !== sample.data.length) {
    throw new TrtInt8Error('ERR_BAD_BATCH', `Input "${name}": its data does not match its shape ${shapeText(shape)}.`, {
      input: name,
      expected: `${product(shape)} elements`,
      actual: `${sample.data.length} elements`,
    });
  }
  if (shape.length !== targetShape.length) {
    throw new TrtInt8Error('ERR_BAD_BATCH', `Input "${name}" has rank ${shape.length}, the OPT shape ${shapeText(targetShape)} rank ${targetShape.length}.`, {
      input: name,
      expected: `a shape of rank ${targetShape.length} (OPT shape ${shapeText(targetShape)})`,
      actual: shapeText(shape),
    });
  }
  const larger = shape.map((d, i) => d > (targetShape[i] as number));
  const smaller = shape.map((d, i) => d < (targetShape[i] as number));
  if (mode === 'pad' && larger.some(Boolean)) {
    const dims = larger.flatMap((l, i) => (l ? [i] : []));
    throw new TrtInt8Error(
      'ERR_BAD_BATCH',
      `Input "${name}" has shape ${shapeText(shape)}, larger than the OPT shape ${shapeText(targetShape)} in dimension${dims.length > 1 ? 's' : ''} ${dims.join(', ')}; fitting it would cut data, which mode 'pad' does not allow.`,
      {
        input: name,
        expected: `at most ${shapeText(targetShape)} (the calibration profile's OPT shape)`,
        actual: shapeText(shape),
        fixes: [
          "Allow cutting: mode 'pad-or-truncate' (the statistics then miss the cut values; the report says how many).",
          `Raise the OPT shape of "${name}" (profiles[0] or calibrationProfile) to at least ${shapeText(shape.map((d, i) => Math.max(d, targetShape[i] as number)))}, or resize the data smaller.`,
          'Or calibrate with calibrate() (our statistics engine needs no fitting: it takes every shape as it comes) and build from its cache or Q/DQ model.',
        ],
        details: { optShape: [...targetShape], sampleShape: [...shape] },
      },
    );
  }
  if (mode === 'truncate' && smaller.some(Boolean)) {
    throw new TrtInt8Error('ERR_BAD_BATCH', `Input "${name}" has shape ${shapeText(shape)}, smaller than the OPT shape ${shapeText(targetShape)}; mode 'truncate' does not pad.`, {
      input: name,
      expected: `at least ${shapeText(targetShape)}`,
      actual: shapeText(shape),
      fixes: ["Allow padding: mode 'pad-or-truncate'.", 'Or lower the OPT shape.'],
      details: { optShape: [...targetShape], sampleShape: [...shape] },
    });
  }

  const rank = shape.length;
  const total = product(targetShape);
  const Ctor = sample.data.constructor as new (length: number) => TypedArray;
  const into = options.into;
  const reuse = into !== undefined && into.constructor === Ctor && into.length === total && into.buffer !== sample.data.buffer;
  const out = reuse ? into : new Ctor(total);
  const fill = sample.data instanceof BigInt64Array || sample.data instanceof BigUint64Array
    ? BigInt(Math.trunc(padValue))
    : sample.dtype === 'float16' ? float16Bits(padValue) : padValue;
  // A fresh array is already zero; a reused one holds the previous batch.
  if (reuse || (fill !== 0 && fill !== 0n)) (out as { fill(v: number | bigint): unknown }).fill(fill);

  // The overlap of sample and target, and where it starts in each.
  const overlap = shape.map((d, i) => Math.min(d, targetShape[i] as number));
  const srcStart = shape.map((d, i) => (align === 'center' && d > (targetShape[i] as number) ? Math.floor((d - (targetShape[i] as number)) / 2) : 0));
  const dstStart = shape.map((d, i) => (align === 'center' && d < (targetShape[i] as number) ? Math.floor(((targetShape[i] as number) - d) / 2) : 0));
  const copied = product(overlap);
  if (rank === 0) {
    out.set(sample.data as never);
    return { data: out, shape: [], padded: 0, cut: 0 };
  }
  if (copied > 0) {
    const srcStrides = strides(shape);
    const dstStrides = strides(targetShape);
    const rowLength = overlap[rank - 1] as number;
    const rows = copied / rowLength;
    const index = new Array<number>(rank - 1).fill(0);
    for (let r = 0; r < rows; r++) {
      let src = srcStart[rank - 1] as number;
      let dst = dstStart[rank - 1] as number;
      for (let d = 0; d < rank - 1; d++) {
        src += ((index[d] as number) + (srcStart[d] as number)) * (srcStrides[d] as number);
        dst += ((index[d] as number) + (dstStart[d] as number)) * (dstStrides[d] as number);
      }
      out.set(sample.data.subarray(src, src + rowLength) as never, dst);
      for (let d = rank - 2; d >= 0; d--) {
        index[d] = (index[d] as number) + 1;
        if ((index[d] as number) < (overlap[d] as number)) break;
        index[d] = 0;
      }
    }
  }
  return { data: out, shape: [...targetShape], padded: total - copied, cut: sample.data.length - copied };
}
