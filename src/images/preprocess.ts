/**
 * Image preprocessing as one function object, used for calibration AND at inference, so the two cannot
 * drift: decode (JPEG/PNG) -> resize (stretch / letterbox / center-crop, bilinear) -> channel order ->
 * (pixel * scale - mean) / std -> NCHW or NHWC float32.
 */
import fs from 'node:fs/promises';
import { TrtInt8Error, throwIfAborted } from '../core/errors.js';
import { decodeImage, decodeImageWithSharp, requireSharp, type ImageDecoder } from './decode.js';
import { optionErrors } from '../core/is.js';

export type ResizeMode = 'stretch' | 'letterbox' | 'center-crop';
export type ChannelOrder = 'rgb' | 'bgr' | 'gray';
export type ImageLayout = 'nchw' | 'nhwc';

export interface ImagePreprocessorOptions {
  /** The model's input width and height in pixels. */
  readonly width: number;
  readonly height: number;
  /** 'stretch' (default): ignore the aspect ratio; 'letterbox': fit and pad; 'center-crop': fill and crop. */
  readonly resize?: ResizeMode;
  /** Padding colour for letterbox, in 0-255 pixel values (a gray level or [r, g, b]); default 114 (as YOLO). */
  readonly letterboxColor?: number | readonly [number, number, number];
  /** Default 'rgb'. 'gray' is ITU-R 601 luma: 0.299 R + 0.587 G + 0.114 B. */
  readonly channels?: ChannelOrder;
  /** Multiplies the 0-255 pixel values first; default 1/255. */
  readonly scale?: number;
  /** Subtracted after scaling: one value, or one per channel in the output channel order. Default 0. */
  readonly mean?: number | readonly number[];
  /** Divides after the mean: one value, or one per channel. Default 1. */
  readonly std?: number | readonly number[];
  /** Default 'nchw' ([C, H, W] per sample). */
  readonly layout?: ImageLayout;
  /**
   * 'js' (default): jpeg-js + pngjs, no native code. 'sharp': libvips, several times faster, decodes off the
   * main thread; needs `npm install sharp`. Use the same decoder at inference: JPEG pixels can differ by a
   * few levels between the two.
   */
  readonly decoder?: ImageDecoder;
}

/** The options with every default filled in: log them, store them next to the engine. */
export interface ResolvedImagePreprocessorOptions {
  readonly width: number;
  readonly height: number;
  readonly resize: ResizeMode;
  readonly letterboxColor: readonly [number, number, number];
  readonly channels: ChannelOrder;
  readonly scale: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly layout: ImageLayout;
  readonly decoder: ImageDecoder;
}

/**
 * Where the original image sits in the model input: model = original * scale + offset, per axis, so
 * original = (model - offset) / scale (e.g. to map detected boxes back). Offsets are negative when cropping.
 */
export interface ImageTransform {
  readonly scaleX: number;
  readonly scaleY: number;
  readonly offsetX: number;
  readonly offsetY: number;
}

export interface PreprocessedImage {
  readonly data: Float32Array;
  /** [C, H, W] or [H, W, C]: one sample, no batch dimension. */
  readonly shape: readonly number[];
  readonly originalSize: { readonly width: number; readonly height: number };
  readonly transform: ImageTransform;
}

/** 8-bit RGBA pixels, e.g. decoded elsewhere (a video frame, a canvas). */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly rgba: Uint8Array | Uint8ClampedArray;
}

export interface ImagePreprocessor {
  /** Reads (a path) or takes (bytes) a JPEG/PNG and returns the model input for one sample. */
  (input: string | Uint8Array, options?: { readonly signal?: AbortSignal }): Promise<PreprocessedImage>;
  /** The same, from pixels already decoded. */
  fromPixels(image: RgbaImage): PreprocessedImage;
  readonly options: ResolvedImagePreprocessorOptions;
  /** The shape of one preprocessed sample ([C, H, W] or [H, W, C]). */
  readonly sampleShape: readonly number[];
  toJSON(): ResolvedImagePreprocessorOptions;
}

const RESIZE_MODES: readonly ResizeMode[] = ['stretch', 'letterbox', 'center-crop'];
const CHANNEL_ORDERS: readonly ChannelOrder[] = ['rgb', 'bgr', 'gray'];
const LAYOUTS: readonly ImageLayout[] = ['nchw', 'nhwc'];
/** Larger inputs are surely a mistake (e.g. width and height swapped with a file size). */
const MAX_SIDE = 16384;

const badOption = optionErrors('image preprocessor');

function perChannel(name: 'mean' | 'std', value: number | readonly number[] | undefined, fallback: number, channels: number): number[] {
  const values = value === undefined ? [fallback] : typeof value === 'number' ? [value] : Array.isArray(value) ? [...value] : null;
  const expected = `a finite number${name === 'std' ? ' other than 0' : ''}, or ${channels} of them (one per channel)`;
  if (values === null || (values.length !== 1 && values.length !== channels)) throw badOption(name, expected, value);
  if (values.some((v) => typeof v !== 'number' || !Number.isFinite(v) || (name === 'std' && v === 0))) throw badOption(name, expected, value);
  return values.length === 1 ? Array.from({ length: channels }, () => values[0]!) : values;
}

export function resolveImagePreprocessorOptions(options: ImagePreprocessorOptions): ResolvedImagePreprocessorOptions {
  if (options === null || typeof options !== 'object') throw badOption('options', 'an object', options);
  const { width, height, resize = 'stretch', channels = 'rgb', scale = 1 / 255, layout = 'nchw', letterboxColor = 114, decoder = 'js' } = options;
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > MAX_SIDE) throw badOption(name, `an integer from 1 to ${MAX_SIDE}`, v);
  }
  if (!RESIZE_MODES.includes(resize)) throw badOption('resize', RESIZE_MODES.join(' | '), resize);
  if (!CHANNEL_ORDERS.includes(channels)) throw badOption('channels', CHANNEL_ORDERS.join(' | '), channels);
  if (!LAYOUTS.includes(layout)) throw badOption('layout', LAYOUTS.join(' | '), layout);
  if (decoder !== 'js' && decoder !== 'sharp') throw badOption('decoder', "'js' | 'sharp'", decoder);
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale === 0) throw badOption('scale', 'a finite number other than 0, e.g. 1/255', scale);
  const color = typeof letterboxColor === 'number' ? [letterboxColor, letterboxColor, letterboxColor] : Array.isArray(letterboxColor) ? [...letterboxColor] : [];
  if (color.length !== 3 || color.some((c) => typeof c !== 'number' || !(c >= 0 && c <= 255))) {
    throw badOption('letterboxColor', 'a 0-255 gray level or [r, g, b] of 0-255 values', letterboxColor);
  }
  const count = channels === 'gray' ? 1 : 3;
  return Object.freeze({
    width,
    height,
    resize,
    letterboxColor: Object.freeze(color) as unknown as readonly [number, number, number],
    channels,
    scale,
    mean: Object.freeze(perChannel('mean', options.mean, 0, count)),
    std: Object.freeze(perChannel('std', options.std, 1, count)),
    layout,
    decoder,
  });
}

/** Where the resized content goes in the output: its size and top-left corner (negative when cropped). */
function placement(o: ResolvedImagePreprocessorOptions, w: number, h: number): { rw: number; rh: number; dx: number; dy: number } {
  if (o.resize === 'stretch') return { rw: o.width, rh: o.height, dx: 0, dy: 0 };
  const s = o.resize === 'letterbox' ? Math.min(o.width / w, o.height / h) : Math.max(o.width / w, o.height / h);
  const rw = Math.max(1, Math.round(w * s));
  const rh = Math.max(1, Math.round(h * s));
  // letterbox: rw <= width, centred with the odd pixel of padding on the right/bottom; crop: the mirror image.
  return { rw, rh, dx: Math.floor((o.width - rw) / 2), dy: Math.floor((o.height - rh) / 2) };
}

/**
 * Source coordinates for a bilinear resize from `from` to `to` pixels with half-pixel centres
 * (sx = (x + 0.5) * from / to - 0.5, clamped to the image: OpenCV's INTER_LINEAR, PyTorch's
 * interpolate(align_corners=False, antialias=False)).
 */
function axisTaps(from: number, to: number): { i0: Int32Array; i1: Int32Array; f: Float64Array } {
  const i0 = new Int32Array(to);
  const i1 = new Int32Array(to);
  const f = new Float64Array(to);
  const ratio = from / to;
  for (let x = 0; x < to; x++) {
    const s = Math.min(Math.max((x + 0.5) * ratio - 0.5, 0), from - 1);
    const lo = Math.floor(s);
    i0[x] = lo;
    i1[x] = Math.min(lo + 1, from - 1);
    f[x] = s - lo;
  }
  return { i0, i1, f };
}

function runPixels(o: ResolvedImagePreprocessorOptions, image: RgbaImage): PreprocessedImage {
  const { width: w, height: h, rgba } = image;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1 || rgba.length !== w * h * 4) {
    throw new TrtInt8Error('ERR_BAD_BATCH', 'The pixels do not match the image size.', { input: 'image', expected: `${w} * ${h} * 4 RGBA bytes`, actual: rgba?.length });
  }
  const { rw, rh, dx, dy } = placement(o, w, h);
  const xs = axisTaps(w, rw);
  const ys = axisTaps(h, rh);
  const W = o.width;
  const H = o.height;
  const C = o.channels === 'gray' ? 1 : 3;
  const out = new Float32Array(C * W * H);
  const nchw = o.layout === 'nchw';
  // Per output channel: the source RGBA offset and the affine normalisation a * pixel + b.
  const order = o.channels === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  const a = o.mean.map((_, c) => o.scale / o.std[c]!);
  const b = o.mean.map((m, c) => -m / o.std[c]!);
  const fill = o.channels === 'gray' ? [0.299 * o.letterboxColor[0] + 0.587 * o.letterboxColor[1] + 0.114 * o.letterboxColor[2]] : order.map((k) => o.letterboxColor[k]!);
  const rgb = [0, 0, 0];
  for (let Y = 0; Y < H; Y++) {
    const v = Y - dy;
    for (let X = 0; X < W; X++) {
      const u = X - dx;
      const at = Y * W + X;
      if (u < 0 || u >= rw || v < 0 || v >= rh) {
        for (let c = 0; c < C; c++) out[nchw ? c * W * H + at : at * C + c] = a[c]! * fill[c]! + b[c]!;
        continue;
      }
      const fx = xs.f[u]!;
      const fy = ys.f[v]!;
      const r0 = ys.i0[v]! * w;
      const r1 = ys.i1[v]! * w;
      const p00 = (r0 + xs.i0[u]!) * 4;
      const p01 = (r0 + xs.i1[u]!) * 4;
      const p10 = (r1 + xs.i0[u]!) * 4;
      const p11 = (r1 + xs.i1[u]!) * 4;
      for (let k = 0; k < 3; k++) {
        const top = rgba[p00 + k]! + (rgba[p01 + k]! - rgba[p00 + k]!) * fx;
        const bottom = rgba[p10 + k]! + (rgba[p11 + k]! - rgba[p10 + k]!) * fx;
        rgb[k] = top + (bottom - top) * fy;
      }
      if (C === 1) {
        out[at] = a[0]! * (0.299 * rgb[0]! + 0.587 * rgb[1]! + 0.114 * rgb[2]!) + b[0]!;
      } else {
        for (let c = 0; c < 3; c++) out[nchw ? c * W * H + at : at * 3 + c] = a[c]! * rgb[order[c]!]! + b[c]!;
      }
    }
  }
  return {
    data: out,
    shape: nchw ? [C, H, W] : [H, W, C],
    originalSize: { width: w, height: h },
    transform: { scaleX: rw / w, scaleY: rh / h, offsetX: dx, offsetY: dy },
  };
}

/**
 * Creates the preprocessor. Call it on every calibration image (ImageCalibrator does) and on every image
 * at inference; log or store `preprocess.options` with the engine.
 */
export function createImagePreprocessor(options: ImagePreprocessorOptions): ImagePreprocessor {
  const resolved = resolveImagePreprocessorOptions(options);
  // A missing sharp fails now, not on the first image.
  if (resolved.decoder === 'sharp') requireSharp();
  const preprocess = async (input: string | Uint8Array, callOptions: { readonly signal?: AbortSignal } = {}): Promise<PreprocessedImage> => {
    const signal = callOptions?.signal;
    throwIfAborted(signal);
    let bytes: Uint8Array;
    let source: string;
    if (typeof input === 'string') {
      source = input;
      try {
        bytes = await fs.readFile(input, signal ? { signal } : {});
      } catch (cause) {
        throwIfAborted(signal);
        throw new TrtInt8Error('ERR_IO', `Cannot read the image ${input}: ${(cause as Error).message}`, {
          input,
          expected: 'a readable JPEG or PNG file',
          actual: (cause as NodeJS.ErrnoException).code ?? 'unreadable',
          cause,
        });
      }
    } else if (input instanceof Uint8Array) {
      source = '<bytes>';
      bytes = input;
    } else {
      throw badOption('input', 'a file path or the bytes of a JPEG/PNG', input === null ? 'null' : typeof input);
    }
    const image = resolved.decoder === 'sharp' ? await decodeImageWithSharp(bytes, source) : decodeImage(bytes, source);
    throwIfAborted(signal);
    return runPixels(resolved, image);
  };
  const C = resolved.channels === 'gray' ? 1 : 3;
  return Object.assign(preprocess, {
    fromPixels: (image: RgbaImage) => runPixels(resolved, image),
    options: resolved,
    sampleShape: Object.freeze(resolved.layout === 'nchw' ? [C, resolved.height, resolved.width] : [resolved.height, resolved.width, C]),
    toJSON: () => resolved,
  });
}
