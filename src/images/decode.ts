/**
 * JPEG and PNG decoding. Default: pure-JavaScript decoders (jpeg-js, pngjs), no native code to build or
 * download. Opt-in: sharp (libvips, an optional peer dependency), several times faster and off the main
 * thread. Both are loaded lazily, so importing trt-int8 costs nothing until an image is decoded.
 */
import { requirePackage } from '../native/index.js';
import { TrtInt8Error } from '../core/errors.js';

/** Decoded pixels: 8-bit RGBA, row-major (`width * height * 4` bytes). */
export interface DecodedImage {
  readonly width: number;
  readonly height: number;
  readonly rgba: Uint8Array;
  readonly format: 'jpeg' | 'png';
}

/** Limits against decompression bombs: a 100-byte file claiming 60000x60000 pixels fails, it does not OOM. */
export const MAX_IMAGE_MEGAPIXELS = 100;
const MAX_DECODE_MEMORY_MB = 2048;

interface JpegJs {
  decode(data: Uint8Array, options: { useTArray: true; formatAsRGBA: true; maxResolutionInMP: number; maxMemoryUsageInMB: number }): { width: number; height: number; data: Uint8Array };
}
interface PngJs {
  PNG: { sync: { read(data: Buffer, options?: { skipRescale?: boolean }): { width: number; height: number; data: Buffer } } };
}

interface SharpInstance {
  toColourspace(space: string): SharpInstance;
  ensureAlpha(): SharpInstance;
  raw(options: { depth: 'uchar' }): SharpInstance;
  toBuffer(options: { resolveWithObject: true }): Promise<{ data: Buffer; info: { width: number; height: number; channels: number } }>;
}
type Sharp = (input: Uint8Array, options: { limitInputPixels: number }) => SharpInstance;

/** The decoder: 'js' (jpeg-js + pngjs, default) or 'sharp' (libvips; `npm install sharp`). */
export type ImageDecoder = 'js' | 'sharp';

const modules: { jpeg?: JpegJs; png?: PngJs; sharp?: Sharp } = {};

/** The package `id`, cached under `key`; `moduleId` replaces the id (tests: a package that is not installed). */
function load<K extends keyof typeof modules>(key: K, id: string, moduleId = id): NonNullable<(typeof modules)[K]> {
  if (modules[key] && moduleId === id) return modules[key]!;
  try {
    const loaded = requirePackage<NonNullable<(typeof modules)[K]>>(moduleId);
    if (moduleId === id) modules[key] = loaded;
    return loaded;
  } catch (cause) {
    // Not ERR_IO / ERR_BAD_BATCH on purpose: a missing decoder is not a bad file, and must not be skipped as one.
    throw new TrtInt8Error('ERR_BAD_OPTION', `Decoding images needs the package ${id}, which is not installed (or failed to load).`, {
      input: id,
      expected: `an installed ${id}`,
      actual: cause instanceof Error ? cause.message.split('\n')[0] : String(cause),
      fixes:
        id === 'sharp'
          ? ['npm install sharp', "Or use the built-in decoder: decoder: 'js' (the default)."]
          : [`npm install ${id}`, 'It is a dependency of trt-int8: reinstall with `npm install` if it was pruned.'],
      cause,
    });
  }
}

export function imageFormatOf(bytes: Uint8Array): 'jpeg' | 'png' | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((b, i) => bytes[i] === b)) return 'png';
  return undefined;
}

function badImage(source: string, message: string, expected: unknown, actual: unknown, cause?: unknown): TrtInt8Error {
  return new TrtInt8Error('ERR_BAD_BATCH', `${source}: ${message}`, { input: source, expected, actual, cause });
}

/** Decodes JPEG or PNG bytes (detected by their signature, not the file name). `source` names them in errors. */
export function decodeImage(bytes: Uint8Array, source = '<bytes>'): DecodedImage {
  const format = imageFormatOf(bytes);
  if (!format) {
    const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw badImage(source, 'not a JPEG or PNG image.', 'JPEG (ff d8 ff ...) or PNG (89 50 4e 47 ...) bytes', bytes.length === 0 ? 'an empty file' : head);
  }
  try {
    if (format === 'jpeg') {
      const { width, height, data } = load('jpeg', 'jpeg-js').decode(bytes, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: MAX_IMAGE_MEGAPIXELS,
        maxMemoryUsageInMB: MAX_DECODE_MEMORY_MB,
      });
      return { width, height, rgba: data, format };
    }
    // The IHDR chunk comes first: check the size before pngjs allocates width * height * 4 bytes.
    if (bytes.length >= 24) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const [w, h] = [view.getUint32(16), view.getUint32(20)];
      if (w * h > MAX_IMAGE_MEGAPIXELS * 1e6) throw new Error(`${w}x${h} exceeds ${MAX_IMAGE_MEGAPIXELS} megapixels`);
    }
    const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // pngjs converts every colour type and bit depth (palette, gray, 16-bit) to 8-bit RGBA.
    const png = load('png', 'pngjs').PNG.sync.read(buffer);
    return { width: png.width, height: png.height, rgba: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength), format };
  } catch (cause) {
    if (cause instanceof TrtInt8Error) throw cause;
    throw badImage(source, `the ${format.toUpperCase()} data cannot be decoded: ${cause instanceof Error ? cause.message : String(cause)}`, `a valid ${format.toUpperCase()} file`, 'corrupt or unsupported data', cause);
  }
}

/** Loads sharp now (ERR_BAD_OPTION with the install command when it is missing), e.g. when options are made. */
export function requireSharp(moduleId = 'sharp'): void {
  load('sharp', 'sharp', moduleId);
}

/**
 * Decodes JPEG or PNG bytes with sharp (libvips' libjpeg-turbo/mozjpeg and libpng, in libuv's thread pool).
 * Same contract and errors as decodeImage; pixel values can differ from jpeg-js by a few levels for JPEG.
 */
export async function decodeImageWithSharp(bytes: Uint8Array, source = '<bytes>'): Promise<DecodedImage> {
  const format = imageFormatOf(bytes);
  if (!format) decodeImage(bytes, source); // throws the same "not a JPEG or PNG" error
  const sharp = load('sharp', 'sharp');
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: MAX_IMAGE_MEGAPIXELS * 1e6 }).toColourspace('srgb').ensureAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 4) throw new Error(`sharp returned ${info.channels} channels, expected 4`);
    return { width: info.width, height: info.height, rgba: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), format: format! };
  } catch (cause) {
    throw badImage(source, `the ${format!.toUpperCase()} data cannot be decoded: ${cause instanceof Error ? cause.message : String(cause)}`, `a valid ${format!.toUpperCase()} file`, 'corrupt or unsupported data', cause);
  }
}
