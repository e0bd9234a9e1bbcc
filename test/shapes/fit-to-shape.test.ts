import { describe, expect, it } from 'vitest';
import { fitToShape, float16Bits, isTrtInt8Error } from '../../src/index.js';
import { caught } from '../caught.js';

/** 0, 1, 2, ... as float32, so every element says where it came from. */
function iota(shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, (_, i) => i);
}

/** Element at a multi-index of a row-major array. */
function at(data: ArrayLike<number>, shape: number[], index: number[]): number {
  let flat = 0;
  for (let d = 0; d < shape.length; d++) flat = flat * shape[d]! + index[d]!;
  return data[flat]!;
}

describe('fitToShape', () => {
  it('pads top-left: data at index 0 of every dimension, padValue elsewhere, counts exact', () => {
    const shape = [1, 2, 3, 4];
    const fitted = fitToShape({ data: iota(shape), shape }, [2, 2, 5, 6], { padValue: -7 });
    expect(fitted.shape).toEqual([2, 2, 5, 6]);
    expect(fitted.data.length).toBe(120);
    expect(fitted.padded).toBe(120 - 24);
    expect(fitted.cut).toBe(0);
    for (let n = 0; n < 2; n++)
      for (let c = 0; c < 2; c++)
        for (let h = 0; h < 5; h++)
          for (let w = 0; w < 6; w++) {
            const inside = n < 1 && h < 3 && w < 4;
            const expected = inside ? at(iota(shape), shape, [n, c, h, w]) : -7;
            expect(at(fitted.data as Float32Array, [2, 2, 5, 6], [n, c, h, w])).toBe(expected);
          }
    // The padded elements are exactly the ones equal to padValue (the data has no -7).
    expect([...fitted.data].filter((v) => v === -7).length).toBe(fitted.padded);
  });

  it('pads centred: the extra goes half before, half (rounded up) after', () => {
    const fitted = fitToShape({ data: Float32Array.from([1, 2, 3, 4]), shape: [1, 2, 2] }, [1, 5, 4], { align: 'center' });
    // Rows: (5-2)/2 -> 1 before, 2 after; columns: (4-2)/2 -> 1 before, 1 after.
    expect([...fitted.data]).toEqual([0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(fitted.padded).toBe(16);
    expect(fitted.cut).toBe(0);
  });

  it('truncates top-left and centred, counting the elements cut', () => {
    const shape = [1, 1, 4, 5];
    const data = iota(shape);
    const topLeft = fitToShape({ data, shape }, [1, 1, 2, 3], { mode: 'truncate' });
    expect([...topLeft.data]).toEqual([0, 1, 2, 5, 6, 7]);
    expect(topLeft.cut).toBe(20 - 6);
    expect(topLeft.padded).toBe(0);
    const centred = fitToShape({ data, shape }, [1, 1, 2, 3], { mode: 'truncate', align: 'center' });
    // Rows 1..2, columns 1..3.
    expect([...centred.data]).toEqual([6, 7, 8, 11, 12, 13]);
    expect(centred.cut).toBe(14);
  });

  it("'pad-or-truncate' pads one dimension and cuts another in the same call", () => {
    const shape = [1, 3, 6];
    const fitted = fitToShape({ data: iota(shape), shape }, [1, 5, 4], { mode: 'pad-or-truncate', padValue: 100 });
    expect(fitted.shape).toEqual([1, 5, 4]);
    expect([...fitted.data]).toEqual([0, 1, 2, 3, 6, 7, 8, 9, 12, 13, 14, 15, 100, 100, 100, 100, 100, 100, 100, 100]);
    expect(fitted.padded).toBe(8);
    expect(fitted.cut).toBe(18 - 12);
  });

  it('returns a copy of the same array type and leaves the sample alone', () => {
    const data = Int32Array.from([1, 2, 3]);
    const fitted = fitToShape({ data, shape: [3] }, [3]);
    expect(fitted.data).toBeInstanceOf(Int32Array);
    expect(fitted.data).not.toBe(data);
    expect([...fitted.data]).toEqual([1, 2, 3]);
    expect(fitted.padded + fitted.cut).toBe(0);
    const big = fitToShape({ data: BigInt64Array.from([5n]), shape: [1] }, [3], { padValue: 9 });
    expect([...big.data]).toEqual([5n, 9n, 9n]);
  });

  it('writes into a given array of the right type and size, overwriting what it held', () => {
    const into = new Float32Array(6).fill(42);
    const fitted = fitToShape({ data: Float32Array.from([1, 2]), shape: [1, 2] }, [2, 3], { into });
    expect(fitted.data).toBe(into);
    expect([...into]).toEqual([1, 2, 0, 0, 0, 0]);
    // Wrong size or type: a fresh array, the given one untouched.
    const small = new Float32Array(5).fill(7);
    expect(fitToShape({ data: Float32Array.from([1, 2]), shape: [1, 2] }, [2, 3], { into: small }).data).not.toBe(small);
    expect([...small]).toEqual([7, 7, 7, 7, 7]);
    const ints = new Int32Array(6);
    expect(fitToShape({ data: Float32Array.from([1, 2]), shape: [1, 2] }, [2, 3], { into: ints }).data).toBeInstanceOf(Float32Array);
  });

  it('pads float16 inputs with the half bits of padValue', () => {
    expect(float16Bits(1)).toBe(0x3c00);
    expect(float16Bits(-2)).toBe(0xc000);
    expect(float16Bits(0.1)).toBe(0x2e66);
    expect(float16Bits(65520)).toBe(0x7c00); // rounds to Infinity
    expect(float16Bits(5.960464477539063e-8)).toBe(0x0001); // smallest subnormal
    const fitted = fitToShape({ data: Uint16Array.from([0x3c00]), shape: [1], dtype: 'float16' }, [2], { padValue: -2 });
    expect([...fitted.data]).toEqual([0x3c00, 0xc000]);
  });

  it('a sample larger than the OPT shape under mode pad is ERR_BAD_BATCH naming input, OPT shape, sample shape and the fixes', () => {
    const error = caught(() => fitToShape({ data: new Float32Array(1 * 3 * 40 * 30), shape: [1, 3, 40, 30] }, [1, 3, 32, 32], { inputName: 'x' }));
    expect(error.code).toBe('ERR_BAD_BATCH');
    expect(error.input).toBe('x');
    expect(String(error.expected)).toContain('[1, 3, 32, 32]');
    expect(error.actual).toBe('[1, 3, 40, 30]');
    expect(error.message).toContain('dimension 2');
    expect(error.details).toMatchObject({ optShape: [1, 3, 32, 32], sampleShape: [1, 3, 40, 30] });
    expect(error.fixes.join('\n')).toMatch(/pad-or-truncate/);
    expect(error.fixes.join('\n')).toMatch(/\[1, 3, 40, 32\]/); // the OPT shape that would fit
    expect(error.fixes.join('\n')).toMatch(/calibrate\(\)/);
  });

  it('rejects a smaller sample under mode truncate, a rank mismatch, a short buffer and bad options', () => {
    expect(caught(() => fitToShape({ data: new Float32Array(4), shape: [2, 2] }, [3, 3], { mode: 'truncate' })).code).toBe('ERR_BAD_BATCH');
    const rank = caught(() => fitToShape({ data: new Float32Array(4), shape: [4] }, [2, 2], { inputName: 'y' }));
    expect(rank.code).toBe('ERR_BAD_BATCH');
    expect(rank.input).toBe('y');
    expect(caught(() => fitToShape({ data: new Float32Array(3), shape: [2, 2] }, [2, 2])).code).toBe('ERR_BAD_BATCH');
    expect(isTrtInt8Error(caught(() => fitToShape({ data: new Float32Array(4), shape: [4] }, [4], { mode: 'crop' as never })), 'ERR_BAD_OPTION')).toBe(true);
    expect(caught(() => fitToShape({ data: new Float32Array(4), shape: [4] }, [0])).code).toBe('ERR_BAD_OPTION');
    expect(caught(() => fitToShape({ data: new Float32Array(4), shape: [4] }, [4], { padValue: Number.NaN })).code).toBe('ERR_BAD_OPTION');
  });
});
