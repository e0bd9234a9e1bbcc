import ndarray from 'ndarray';
import { describe, expect, it, vi } from 'vitest';
import { validateBatch, type CalibrationWarning } from '../../src/core/batch.js';
import { type InputSpec } from '../../src/core/tensor.js';
import { TrtInt8Error } from '../../src/core/errors.js';

const IMAGE: InputSpec = { name: 'images', shape: [-1, 3, 2, 2], dtype: 'float32' };
const MASK: InputSpec = { name: 'mask', shape: [2, 3], dtype: 'bool' };

function badBatch(batch: unknown, inputs: readonly InputSpec[], batchIndex = 7, nonFinite: 'error' | 'warn' | 'allow' = 'error'): TrtInt8Error {
  try {
    validateBatch(batch, inputs, { batchIndex, nonFinite });
  } catch (error) {
    expect(error).toBeInstanceOf(TrtInt8Error);
    const e = error as TrtInt8Error;
    expect(e.code).toBe('ERR_BAD_BATCH');
    expect(e.details.batchIndex).toBe(batchIndex);
    expect(e.message).toContain(`batch ${batchIndex}`);
    return e;
  }
  throw new Error('expected ERR_BAD_BATCH');
}

function iota(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => i);
}

describe('validateBatch: accepted forms', () => {
  it('takes a TypedArray and infers the one dynamic dimension', () => {
    const data = iota(2 * 12);
    const out = validateBatch({ images: data }, [IMAGE], { batchIndex: 0 });
    const t = out.get('images')!;
    expect(t.shape).toEqual([2, 3, 2, 2]);
    expect(t.dtype).toBe('float32');
    expect(t.data).toBe(data); // dense input is not copied
  });

  it('takes { data, shape } and checks it against the fixed dimensions', () => {
    const out = validateBatch({ images: { data: iota(36), shape: [3, 3, 2, 2] } }, [IMAGE], { batchIndex: 0 });
    expect(out.get('images')!.shape).toEqual([3, 3, 2, 2]);
  });

  it('takes a dense ndarray without copying and a strided one as a dense row-major copy', () => {
    const base = ndarray(iota(12), [1, 3, 2, 2]);
    const dense = validateBatch({ images: base }, [IMAGE], { batchIndex: 0 }).get('images')!;
    expect(dense.data.buffer).toBe(base.data.buffer);
    // A transposed view [1, 3, 2, 2] -> axes (0, 1, 3, 2): element [0, c, h, w] = base[0, c, w, h].
    const view = base.transpose(0, 1, 3, 2);
    const copy = validateBatch({ images: view }, [IMAGE], { batchIndex: 0 }).get('images')!;
    expect(copy.data.buffer).not.toBe(base.data.buffer);
    expect(Array.from(copy.data as Float32Array)).toEqual([0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11]);
    // A view with an offset and negative stride (reversed channels) is copied too.
    const reversed = base.step(1, -1);
    const r = validateBatch({ images: reversed }, [IMAGE], { batchIndex: 0 }).get('images')!;
    expect(Array.from(r.data as Float32Array)).toEqual([8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3]);
    // A contiguous view with an offset (the second item of a batch of two) is a subarray, not a copy.
    const buffer = iota(24);
    const second = ndarray(buffer, [2, 3, 2, 2]).lo(1, 0, 0, 0);
    const sliced = validateBatch({ images: second }, [IMAGE], { batchIndex: 0 }).get('images')!;
    expect(sliced.data.buffer).toBe(buffer.buffer);
    expect(sliced.data.byteOffset).toBe(12 * 4);
    expect(Array.from(sliced.data as Float32Array)).toEqual(Array.from(buffer.subarray(12)));
  });

  it('takes a Map of name -> tensor', () => {
    const out = validateBatch(new Map([['images', iota(12)]]), [IMAGE], { batchIndex: 0 });
    expect(out.get('images')!.shape).toEqual([1, 3, 2, 2]);
  });

  it('maps every dtype to its TypedArray', () => {
    const specs: InputSpec[] = [
      { name: 'f16', shape: [2], dtype: 'float16' },
      { name: 'i8', shape: [2], dtype: 'int8' },
      { name: 'u8', shape: [2], dtype: 'uint8' },
      { name: 'b', shape: [2], dtype: 'bool' },
      { name: 'i32', shape: [2], dtype: 'int32' },
      { name: 'i64', shape: [2], dtype: 'int64' },
    ];
    const out = validateBatch(
      {
        f16: new Uint16Array([0x3c00, 0x4000]),
        i8: new Int8Array(2),
        u8: Buffer.from([1, 2]), // Buffer is a Uint8Array
        b: new Uint8Array([0, 1]),
        i32: new Int32Array(2),
        i64: new BigInt64Array([1n, 2n]),
      },
      specs,
      { batchIndex: 0 },
    );
    expect([...out.keys()]).toEqual(specs.map((s) => s.name));
  });
});

describe('validateBatch: errors', () => {
  it('rejects non-objects', () => {
    for (const bad of [null, 3, 'x', [iota(12)]]) badBatch(bad, [IMAGE]);
    const bare = badBatch(iota(12), [IMAGE]);
    expect(bare.fixes.join(' ')).toMatch(/images/);
  });

  it('names missing and extra inputs', () => {
    const missing = badBatch({ images: iota(12) }, [IMAGE, MASK]);
    expect(missing.input).toBe('mask');
    expect(missing.message).toMatch(/"mask" is missing/);
    const extra = badBatch({ images: iota(12), Images: iota(12) }, [IMAGE]);
    expect(extra.input).toBe('Images');
    expect(extra.expected).toEqual(['images']);
  });

  it('rejects a wrong dtype and says which array is needed', () => {
    const f64 = badBatch({ images: new Float64Array(12) }, [IMAGE]);
    expect(f64.expected).toBe('Float32Array');
    expect(f64.actual).toBe('Float64Array');
    expect(badBatch({ mask: new Int8Array(6) }, [MASK]).expected).toBe('Uint8Array');
    expect(badBatch({ x: new Int32Array(2) }, [{ name: 'x', shape: [2], dtype: 'int64' }]).expected).toBe('BigInt64Array');
    const plain = badBatch({ images: Array.from(iota(12)) }, [IMAGE]);
    expect(plain.fixes.join(' ')).toMatch(/new Float32Array/);
    badBatch({ images: ndarray(Array.from(iota(12)), [1, 3, 2, 2]) }, [IMAGE]);
    expect(badBatch({ images: new DataView(new ArrayBuffer(48)) }, [IMAGE]).actual).toBe('DataView');
    expect(badBatch({ images: new ArrayBuffer(48) }, [IMAGE]).actual).toBe('an ArrayBuffer of 48 bytes');
  });

  it('rejects a wrong rank or fixed dimension', () => {
    expect(badBatch({ images: { data: iota(12), shape: [3, 2, 2] } }, [IMAGE]).expected).toBe('[-1, 3, 2, 2]');
    expect(badBatch({ images: { data: iota(16), shape: [1, 4, 2, 2] } }, [IMAGE]).actual).toBe('[1, 4, 2, 2]');
  });

  it('never truncates: the element count must match the shape', () => {
    const long = badBatch({ images: { data: iota(13), shape: [1, 3, 2, 2] } }, [IMAGE]);
    expect(long.actual).toBe('13 elements');
    badBatch({ images: iota(13) }, [IMAGE]); // not a multiple of 12
    badBatch({ mask: new Uint8Array(7) }, [MASK]); // fixed shape needs 6
    badBatch({ images: new Float32Array(0) }, [IMAGE]); // empty
    badBatch({ images: { data: new Float32Array(0), shape: [0, 3, 2, 2] } }, [IMAGE]);
  });

  it('needs an explicit shape when several dimensions are dynamic', () => {
    const spec: InputSpec = { name: 'tokens', shape: [-1, -1], dtype: 'int32' };
    const error = badBatch({ tokens: new Int32Array(8) }, [spec]);
    expect(error.fixes.join(' ')).toMatch(/shape/);
    expect(validateBatch({ tokens: { data: new Int32Array(8), shape: [2, 4] } }, [spec], { batchIndex: 0 }).get('tokens')!.shape).toEqual([2, 4]);
  });

  it('rejects an ndarray whose view reaches outside its data', () => {
    const error = badBatch({ images: ndarray(iota(12), [1, 3, 2, 2], [12, 4, 2, 1], 1) }, [IMAGE]);
    expect(error.message).toMatch(/outside/);
  });
});

describe('validateBatch: non-finite values', () => {
  const data = iota(12);
  data[5] = Number.NaN;
  data[9] = Number.NEGATIVE_INFINITY;

  it("fails by default, with the count and first index", () => {
    const error = badBatch({ images: data }, [IMAGE], 3);
    expect(error.message).toMatch(/2 NaN\/Infinity values, the first at flat index 5/);
  });

  it("warns through onWarning with 'warn'", () => {
    const warnings: CalibrationWarning[] = [];
    const out = validateBatch({ images: data }, [IMAGE], { batchIndex: 4, nonFinite: 'warn', onWarning: (w) => warnings.push(w) });
    expect(out.get('images')!.data).toBe(data);
    expect(warnings).toEqual([expect.objectContaining({ code: 'NON_FINITE_VALUES', input: 'images', batchIndex: 4, count: 2, firstIndex: 5 })]);
  });

  it("falls back to process.emitWarning without onWarning", () => {
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      validateBatch({ images: data }, [IMAGE], { batchIndex: 1, nonFinite: 'warn' });
      expect(spy).toHaveBeenCalledOnce();
      expect(String(spy.mock.calls[0]![0])).toMatch(/2 NaN\/Infinity/);
    } finally {
      spy.mockRestore();
    }
  });

  it("lets them through with 'allow'", () => {
    expect(validateBatch({ images: data }, [IMAGE], { batchIndex: 0, nonFinite: 'allow' }).get('images')!.data).toBe(data);
  });

  it('finds float16 NaN and Infinity bit patterns', () => {
    const spec: InputSpec = { name: 'h', shape: [4], dtype: 'float16' };
    // 1.0, +Inf, 65504 (largest finite), NaN
    const error = badBatch({ h: new Uint16Array([0x3c00, 0x7c00, 0x7bff, 0xfe00]) }, [spec]);
    expect(error.message).toMatch(/2 NaN\/Infinity values, the first at flat index 1/);
    expect(() => validateBatch({ h: new Uint16Array([0x3c00, 0x7bff, 0xfbff, 0]) }, [spec], { batchIndex: 0 })).not.toThrow();
  });
});
