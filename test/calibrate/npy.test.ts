import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseNpy, parseNpz, readNpy, readNpz } from '../../src/data/npy.js';
import { TrtInt8Error } from '../../src/core/errors.js';

// Fixtures are written by numpy (fixtures/make_npy_fixtures.py); expected values are recomputed here from the same formulas.
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const fixture = (name: string) => path.join(fixtures, name);
const base = Array.from({ length: 24 }, (_, i) => i);

async function expectCode(promise: Promise<unknown>, code: string, input?: string | RegExp): Promise<TrtInt8Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TrtInt8Error);
  const typed = error as TrtInt8Error;
  expect(typed.code).toBe(code);
  if (typeof input === 'string') expect(typed.input).toBe(input);
  else if (input) expect(typed.input).toMatch(input);
  return typed;
}

describe('readNpy', () => {
  it('reads every supported dtype with shape and values', async () => {
    const f4 = await readNpy(fixture('f4.npy'));
    expect(f4.dtype).toBe('float32');
    expect(f4.shape).toEqual([2, 3, 4]);
    expect(f4.data).toBeInstanceOf(Float32Array);
    expect(Array.from(f4.data as Float32Array)).toEqual(base.map((x) => x * 0.5 - 3));

    const f8 = await readNpy(fixture('f8.npy'));
    expect(f8.dtype).toBe('float64');
    expect(Array.from(f8.data as Float64Array)).toEqual(base.map((x) => x * 0.25 - 1));

    const i1 = await readNpy(fixture('i1.npy'));
    expect(i1.data).toBeInstanceOf(Int8Array);
    expect(Array.from(i1.data as Int8Array)).toEqual(base.map((x) => x - 12));

    const u1 = await readNpy(fixture('u1.npy'));
    expect(u1.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(u1.data as Uint8Array)).toEqual(base.map((x) => x * 10));

    const i4 = await readNpy(fixture('i4.npy'));
    expect(Array.from(i4.data as Int32Array)).toEqual(base.map((x) => x * 1000 - 7));

    const i8 = await readNpy(fixture('i8.npy'));
    expect(i8.data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(i8.data as BigInt64Array)).toEqual(base.map((x) => BigInt(x) * 2n ** 33n - 5n));
  });

  it('reads format versions 2 and 3 and 0-d arrays', async () => {
    for (const name of ['f4_v2.npy', 'f4_v3.npy']) {
      const array = await readNpy(fixture(name));
      expect(array.shape).toEqual([2, 3, 4]);
      expect(Array.from(array.data as Float32Array)).toEqual(base.map((x) => x * 0.5 - 3));
    }
    const scalar = await readNpy(fixture('scalar.npy'));
    expect(scalar.shape).toEqual([]);
    expect(Array.from(scalar.data as Float32Array)).toEqual([2.5]);
  });

  it('rejects Fortran order, big-endian and unsupported dtypes with errors naming the file', async () => {
    const fortran = await expectCode(readNpy(fixture('fortran.npy')), 'ERR_BAD_BATCH', fixture('fortran.npy'));
    expect(fortran.message).toMatch(/Fortran/);
    expect(fortran.fixes.join(' ')).toMatch(/ascontiguousarray/);
    const big = await expectCode(readNpy(fixture('big_endian.npy')), 'ERR_BAD_BATCH', fixture('big_endian.npy'));
    expect(big.actual).toBe('>f4');
    expect(big.fixes.join(' ')).toMatch(/little-endian/);
    const half = await expectCode(readNpy(fixture('f2.npy')), 'ERR_BAD_BATCH', fixture('f2.npy'));
    expect(half.actual).toBe('<f2');
  });

  it('rejects truncated files, trailing bytes, non-npy bytes and missing files', async () => {
    const bytes = fs.readFileSync(fixture('f4.npy'));
    expect(() => parseNpy(bytes.subarray(0, bytes.length - 4), 'cut.npy')).toThrowError(/truncated/);
    expect(() => parseNpy(Buffer.concat([bytes, Buffer.from([0, 0, 0, 0])]), 'long.npy')).toThrowError(/trailing bytes/);
    expect(() => parseNpy(bytes.subarray(0, 20), 'header.npy')).toThrowError(/truncated/);
    try {
      parseNpy(Buffer.from('hello world, not numpy'), 'text.npy');
      expect.unreachable();
    } catch (e) {
      expect((e as TrtInt8Error).code).toBe('ERR_BAD_BATCH');
      expect((e as TrtInt8Error).input).toBe('text.npy');
    }
    await expectCode(readNpy(fixture('does-not-exist.npy')), 'ERR_IO', fixture('does-not-exist.npy'));
  });
});

describe('readNpz', () => {
  it('reads stored and deflated archives written by numpy', async () => {
    for (const name of ['stored.npz', 'deflated.npz']) {
      const arrays = await readNpz(fixture(name));
      expect([...arrays.keys()].sort()).toEqual(['images', 'labels']);
      const images = arrays.get('images')!;
      expect(images.shape).toEqual([2, 3, 4]);
      expect(Array.from(images.data as Float32Array)).toEqual(base.map((x) => x * 0.5 - 3));
      expect(Array.from(arrays.get('labels')!.data as BigInt64Array)).toEqual([0n, 1n]);
    }
  });

  it('detects corruption and non-zip input, naming the file', async () => {
    const bytes = Buffer.from(fs.readFileSync(fixture('stored.npz')));
    // Flip one data byte inside the first entry's array payload: the CRC check must catch it.
    const payload = bytes.indexOf(Buffer.from("{'descr'")) + 200;
    bytes[payload] = bytes[payload]! ^ 0xff;
    expect(() => parseNpz(bytes, 'flipped.npz')).toThrowError(/CRC-32|flipped\.npz/);
    const deflated = Buffer.from(fs.readFileSync(fixture('deflated.npz')));
    expect(() => parseNpz(deflated.subarray(0, deflated.length - 30), 'cut.npz')).toThrowError(/cut\.npz/);
    await expectCode(readNpz(fixture('f4.npy')), 'ERR_BAD_BATCH', fixture('f4.npy'));
  });
});
