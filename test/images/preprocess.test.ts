import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpy } from '../../src/data/npy.js';
import { createImagePreprocessor, decodeImage, decodeImageWithSharp, requireSharp, type ImagePreprocessorOptions } from '../../src/images/index.js';
import { TrtInt8Error } from '../../src/core/errors.js';

// Fixtures from fixtures/make_image_fixtures.py: Pillow decodes, OpenCV resizes, numpy normalises.
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
interface Case {
  image: string;
  options: ImagePreprocessorOptions;
  expected: string;
  transform: { scaleX: number; scaleY: number; offsetX: number; offsetY: number };
  originalSize: [number, number];
}
const cases = JSON.parse(fs.readFileSync(path.join(fixtures, 'cases.json'), 'utf8')) as Case[];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('decodeImage', () => {
  it.each(['rgb.png', 'rgba.png', 'gray.png'])('decodes %s exactly as Pillow does', async (name) => {
    const decoded = decodeImage(fs.readFileSync(path.join(fixtures, name)), name);
    const reference = await readNpy(path.join(fixtures, `pixels-${name.replace('.', '-')}.npy`));
    expect([decoded.height, decoded.width, 4]).toEqual(reference.shape);
    expect(maxAbsDiff(decoded.rgba, reference.data as Uint8Array)).toBe(0);
  });

  it('decodes a JPEG within one or two levels of libjpeg (Pillow): IDCTs differ in rounding', async () => {
    const decoded = decodeImage(fs.readFileSync(path.join(fixtures, 'photo.jpg')), 'photo.jpg');
    const reference = (await readNpy(path.join(fixtures, 'pixels-photo-jpg.npy'))).data as Uint8Array;
    expect(decoded.format).toBe('jpeg');
    let sum = 0;
    for (let i = 0; i < reference.length; i++) sum += Math.abs(decoded.rgba[i]! - reference[i]!);
    expect(maxAbsDiff(decoded.rgba, reference)).toBeLessThanOrEqual(3);
    expect(sum / reference.length).toBeLessThan(0.6);
  });

  it('rejects bytes that are not an image, and corrupt images, with ERR_BAD_BATCH naming the source', () => {
    const notImage = (() => {
      try {
        decodeImage(Buffer.from('hello, not an image'), 'notes.png');
      } catch (e) {
        return e as TrtInt8Error;
      }
    })();
    expect(notImage).toBeInstanceOf(TrtInt8Error);
    expect(notImage!.code).toBe('ERR_BAD_BATCH');
    expect(notImage!.input).toBe('notes.png');
    const png = fs.readFileSync(path.join(fixtures, 'rgb.png'));
    expect(() => decodeImage(png.subarray(0, 60), 'cut.png')).toThrow(/cut\.png: the PNG data cannot be decoded/);
    // A PNG header claiming 100000 x 100000 pixels fails before anything is allocated.
    const bomb = Buffer.from(png.subarray(0, 33));
    bomb.writeUInt32BE(100000, 16);
    bomb.writeUInt32BE(100000, 20);
    expect(() => decodeImage(bomb, 'bomb.png')).toThrow(/megapixels/);
  });
});

describe('createImagePreprocessor', () => {
  it.each(cases.map((c, i) => [i, c] as const))('case %i matches the Pillow + OpenCV + numpy reference', async (_i, c) => {
    const preprocess = createImagePreprocessor(c.options);
    const result = await preprocess(path.join(fixtures, c.image));
    const expected = await readNpy(path.join(fixtures, c.expected));
    expect(result.shape).toEqual(expected.shape);
    expect(result.shape).toEqual(preprocess.sampleShape);
    expect(result.originalSize).toEqual({ width: c.originalSize[0], height: c.originalSize[1] });
    expect(result.transform.offsetX).toBe(c.transform.offsetX);
    expect(result.transform.offsetY).toBe(c.transform.offsetY);
    expect(result.transform.scaleX).toBeCloseTo(c.transform.scaleX, 12);
    expect(result.transform.scaleY).toBeCloseTo(c.transform.scaleY, 12);
    // PNG: same pixels, so only float rounding differs (OpenCV resizes float32); JPEG: decoder differences,
    // up to ~3 levels (/ 255 / std 0.224 = 0.05), but small on average.
    const tolerance = c.image.endsWith('.jpg') ? 0.06 : 1e-3;
    expect(maxAbsDiff(result.data, expected.data as Float32Array)).toBeLessThan(tolerance);
  });

  it('gives the same result from a path, from bytes and from decoded pixels', async () => {
    const preprocess = createImagePreprocessor({ width: 9, height: 7, resize: 'letterbox' });
    const file = path.join(fixtures, 'rgba.png');
    const fromPath = await preprocess(file);
    const fromBytes = await preprocess(new Uint8Array(fs.readFileSync(file)));
    const fromPixels = preprocess.fromPixels(decodeImage(fs.readFileSync(file)));
    expect(Array.from(fromBytes.data)).toEqual(Array.from(fromPath.data));
    expect(Array.from(fromPixels.data)).toEqual(Array.from(fromPath.data));
  });

  it('computes a hand-checkable 2x2 -> 4x4 bilinear upscale and the normalisation', () => {
    // Gray pixels 0, 100 / 200, 40. Output x=1 samples source x = (1 + 0.5) / 2 - 0.5 = 0.25.
    const rgba = new Uint8Array([0, 0, 0, 255, 100, 100, 100, 255, 200, 200, 200, 255, 40, 40, 40, 255]);
    const p = createImagePreprocessor({ width: 4, height: 4, channels: 'gray', scale: 1, mean: 10, std: 2 });
    const out = p.fromPixels({ width: 2, height: 2, rgba });
    const row0 = [0, 25, 75, 100]; // clamped at the borders, 0.75 * 0 + 0.25 * 100 inside
    const row1 = row0.map((v, x) => v + ([200, 160, 80, 40][x]! - v) * 0.25);
    expect(Array.from(out.data.subarray(0, 4))).toEqual(row0.map((v) => (v - 10) / 2));
    expect(Array.from(out.data.subarray(4, 8)).map((v) => Number(v.toFixed(4)))).toEqual(row1.map((v) => Number(((v - 10) / 2).toFixed(4))));
  });

  it('exposes its resolved options as data and validates them', () => {
    const p = createImagePreprocessor({ width: 224, height: 224, mean: [0.485, 0.456, 0.406], std: 0.5 });
    expect(JSON.parse(JSON.stringify(p))).toEqual({
      width: 224, height: 224, resize: 'stretch', letterboxColor: [114, 114, 114], channels: 'rgb',
      scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.5, 0.5, 0.5], layout: 'nchw', decoder: 'js',
    });
    expect(p.sampleShape).toEqual([3, 224, 224]);
    const bad: [Partial<ImagePreprocessorOptions>, string][] = [
      [{ width: 0 }, 'width'],
      [{ height: 2.5 }, 'height'],
      [{ resize: 'fit' as never }, 'resize'],
      [{ channels: 'rgba' as never }, 'channels'],
      [{ mean: [1, 2] }, 'mean'],
      [{ std: 0 }, 'std'],
      [{ scale: Number.NaN }, 'scale'],
      [{ layout: 'chw' as never }, 'layout'],
      [{ letterboxColor: [0, 0, 300] }, 'letterboxColor'],
      [{ decoder: 'vips' as never }, 'decoder'],
    ];
    for (const [options, input] of bad) {
      try {
        createImagePreprocessor({ width: 8, height: 8, ...options });
        expect.unreachable(`${input} should be rejected`);
      } catch (e) {
        expect((e as TrtInt8Error).code).toBe('ERR_BAD_OPTION');
        expect((e as TrtInt8Error).input).toBe(input);
      }
    }
  });

  it('reports a missing file as ERR_IO and respects an aborted signal', async () => {
    const p = createImagePreprocessor({ width: 4, height: 4 });
    await expect(p(path.join(fixtures, 'missing.png'))).rejects.toMatchObject({ code: 'ERR_IO', input: path.join(fixtures, 'missing.png') });
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(p(path.join(fixtures, 'rgb.png'), { signal: controller.signal })).rejects.toThrow('stop');
  });
});

describe("decoder: 'sharp' (optional peer dependency, a devDependency here)", () => {
  it.each(['rgb.png', 'rgba.png', 'gray.png'])('decodes %s exactly as Pillow does', async (name) => {
    const decoded = await decodeImageWithSharp(fs.readFileSync(path.join(fixtures, name)), name);
    const reference = await readNpy(path.join(fixtures, `pixels-${name.replace('.', '-')}.npy`));
    expect([decoded.height, decoded.width, 4]).toEqual(reference.shape);
    expect(maxAbsDiff(decoded.rgba, reference.data as Uint8Array)).toBe(0);
  });

  it('decodes the JPEG like libjpeg (Pillow) within a level, and runs every case through the same resize', async () => {
    const decoded = await decodeImageWithSharp(fs.readFileSync(path.join(fixtures, 'photo.jpg')));
    const reference = (await readNpy(path.join(fixtures, 'pixels-photo-jpg.npy'))).data as Uint8Array;
    expect(maxAbsDiff(decoded.rgba, reference)).toBeLessThanOrEqual(1);
    for (const c of cases) {
      const result = await createImagePreprocessor({ ...c.options, decoder: 'sharp' })(path.join(fixtures, c.image));
      const expected = await readNpy(path.join(fixtures, c.expected));
      expect(maxAbsDiff(result.data, expected.data as Float32Array), c.expected).toBeLessThan(c.image.endsWith('.jpg') ? 0.02 : 1e-3);
    }
  });

  it('gives the same errors for bad bytes, and says what to install when sharp is missing', async () => {
    await expect(decodeImageWithSharp(Buffer.from('plain text'), 'a.png')).rejects.toMatchObject({ code: 'ERR_BAD_BATCH', input: 'a.png' });
    const png = fs.readFileSync(path.join(fixtures, 'rgb.png'));
    await expect(decodeImageWithSharp(png.subarray(0, 60), 'cut.png')).rejects.toMatchObject({ code: 'ERR_BAD_BATCH', input: 'cut.png' });
    let missing: TrtInt8Error | undefined;
    try {
      requireSharp('sharp-that-is-not-installed');
    } catch (e) {
      missing = e as TrtInt8Error;
    }
    expect(missing?.code).toBe('ERR_BAD_OPTION');
    expect(missing?.fixes[0]).toBe('npm install sharp');
  });
});
