/**
 * The image flags shared by `calibrate`, `evaluate` and `build`, and the checks that tie them to the
 * data and the model: image flags on NumPy data, image data without --image-size, and a channel count
 * that does not match the model are each a clear command-line mistake (exit 2), found before any work.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { InputSpec } from '../core/tensor.js';
import { IMAGE_EXTENSIONS, type DatasetReport, type Remainder } from '../data/dataset.js';
import { resolveImagePreprocessorOptions, type ImagePreprocessorOptions } from '../images/preprocess.js';
import { UsageError, numberFlag } from './args.js';
import type { CliIO } from './io.js';

export const IMAGE_USAGE = `Images (--data is a folder of .png/.jpg/.jpeg, recursive, or a list file of them):
  --image-size <WxH>      turns image mode on: decode, resize to W x H, normalise
  --resize <mode>         stretch (default), letterbox, center-crop
  --channels <order>      rgb (default), bgr, gray
  --layout <layout>       nchw (default), nhwc
  --scale <s>             pixel multiplier (default 1/255; accepts a fraction like 1/127.5)
  --mean <m[,m,m]>        subtracted after scaling (default 0), one value or one per channel
  --std <s[,s,s]>         divides after the mean (default 1)
  --decoder <name>        js (default: jpeg-js + pngjs) or sharp (faster; npm install sharp)
  --seed <n>              shuffle the images with this seed (default: file order)
  --strict                fail on the first unreadable or non-image file instead of skipping it
`;

export const IMAGE_FLAGS = {
  'image-size': { type: 'string' },
  resize: { type: 'string' },
  channels: { type: 'string' },
  layout: { type: 'string' },
  scale: { type: 'string' },
  mean: { type: 'string' },
  std: { type: 'string' },
  seed: { type: 'string' },
  decoder: { type: 'string' },
  strict: { type: 'boolean', default: false },
} as const;

export interface ImageFlagValues {
  readonly 'image-size'?: string;
  readonly resize?: string;
  readonly channels?: string;
  readonly layout?: string;
  readonly scale?: string;
  readonly mean?: string;
  readonly std?: string;
  readonly seed?: string;
  readonly decoder?: string;
  readonly strict?: boolean;
}

export interface ImageOptions {
  readonly preprocess: ImagePreprocessorOptions;
  readonly seed?: number;
  readonly strict: boolean;
}

const IMAGE_ONLY_FLAGS = ['resize', 'channels', 'layout', 'scale', 'mean', 'std', 'seed', 'decoder'] as const;

/** The image flags the user passed, as "--name" strings. */
function imageFlagsGiven(values: ImageFlagValues): string[] {
  const given = (['image-size', ...IMAGE_ONLY_FLAGS] as const).filter((k) => values[k] !== undefined).map((k) => `--${k}`);
  return values.strict ? [...given, '--strict'] : given;
}

/** What --data holds, judged from names only (cheap): NumPy arrays, images, or unknown. */
export type DataKind = 'numpy' | 'images' | 'unknown';

function kindOfName(name: string): DataKind {
  const ext = path.extname(name).toLowerCase();
  if (ext === '.npy' || ext === '.npz') return 'numpy';
  return IMAGE_EXTENSIONS.includes(ext) ? 'images' : 'unknown';
}

/** A .npy/.npz file, an image file, a list file (its first entry decides) or a folder (the first data file found decides). */
export async function dataKind(data: string): Promise<DataKind> {
  const direct = kindOfName(data);
  if (direct !== 'unknown') return direct;
  const stat = await fs.stat(data).catch(() => undefined);
  if (!stat) return 'unknown';
  if (stat.isFile()) {
    const text = await fs.readFile(data, 'utf8').catch(() => '');
    const first = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l.length > 0 && !l.startsWith('#'));
    return first ? kindOfName(first) : 'unknown';
  }
  return stat.isDirectory() ? folderKind(data) : 'unknown';
}

async function folderKind(folder: string, depth = 0): Promise<DataKind> {
  const entries = await fs.readdir(folder, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const kind = entry.isFile() ? kindOfName(entry.name) : 'unknown';
    if (kind !== 'unknown') return kind;
  }
  if (depth >= 3) return 'unknown';
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const kind = await folderKind(path.join(folder, entry.name), depth + 1);
    if (kind !== 'unknown') return kind;
  }
  return 'unknown';
}

function imageSizeHint(input: InputSpec | undefined): string {
  const shape = input?.shape;
  if (!shape || shape.length !== 4) return 'WxH';
  const [h, w] = shape[1] === 1 || shape[1] === 3 ? [shape[2], shape[3]] : [shape[1], shape[2]];
  return h !== undefined && w !== undefined && h > 0 && w > 0 ? `${w}x${h}` : 'WxH';
}

/** Refuses image flags on NumPy data and image data without --image-size, before any work. */
export async function checkDataMatchesFlags(data: string, values: ImageFlagValues, input: InputSpec | undefined): Promise<DataKind> {
  const kind = await dataKind(data);
  const given = imageFlagsGiven(values);
  if (kind === 'numpy' && given.length > 0) {
    throw new UsageError(
      `${given.join(', ')} only appl${given.length > 1 ? 'y' : 'ies'} to images, but --data ${data} is NumPy data, which is fed to the model as is. ` +
        'Drop the image flags, or preprocess the arrays before saving them.',
      { input: given[0], expected: 'no image flags with .npy/.npz data', actual: given.join(' ') },
    );
  }
  if (kind === 'images' && values['image-size'] === undefined) {
    const hint = imageSizeHint(input);
    throw new UsageError(`--data ${data} holds images: pass --image-size ${hint} to decode and resize them (and --mean/--std/--channels as the model was trained).`, {
      input: '--image-size',
      expected: `--image-size ${hint}`,
      actual: 'no --image-size',
    });
  }
  return kind;
}

function parseSeed(seed: string | undefined): number | undefined {
  if (seed === undefined) return undefined;
  if (!/^\d+$/.test(seed)) throw new UsageError(`--seed needs a non-negative integer, got "${seed}".`, { input: '--seed', expected: 'an integer >= 0', actual: seed });
  return Number(seed);
}

function numberList(value: string | undefined, flag: string): number | number[] | undefined {
  if (value === undefined) return undefined;
  const list = value.split(',').map((x) => numberFlag(x, flag));
  return list.length === 1 ? list[0]! : list;
}

/**
 * The preprocessor options of the image flags, or undefined without --image-size (NumPy data). The options
 * are validated here (a zero --std, a --mean with the wrong count), so mistakes exit 2 before any work.
 */
export function imageOptionsFromFlags(values: ImageFlagValues): ImageOptions | undefined {
  const size = values['image-size'];
  if (size === undefined) {
    const given = imageFlagsGiven(values);
    if (given.length > 0) throw new UsageError(`${given[0]} only applies to images: add --image-size WxH.`, { input: given[0], expected: '--image-size WxH', actual: 'no --image-size' });
    return undefined;
  }
  const match = /^(\d+)x(\d+)$/i.exec(size.trim());
  if (!match) throw new UsageError(`--image-size needs WIDTHxHEIGHT, e.g. 224x224, got "${size}".`, { input: '--image-size', expected: 'WIDTHxHEIGHT', actual: size });
  const mean = numberList(values.mean, '--mean');
  const std = numberList(values.std, '--std');
  const seed = parseSeed(values.seed);
  const preprocess: ImagePreprocessorOptions = {
    width: Number(match[1]),
    height: Number(match[2]),
    ...(values.resize !== undefined ? { resize: values.resize as ImagePreprocessorOptions['resize'] } : {}),
    ...(values.channels !== undefined ? { channels: values.channels as ImagePreprocessorOptions['channels'] } : {}),
    ...(values.layout !== undefined ? { layout: values.layout as ImagePreprocessorOptions['layout'] } : {}),
    ...(values.decoder !== undefined ? { decoder: values.decoder as ImagePreprocessorOptions['decoder'] } : {}),
    ...(values.scale !== undefined ? { scale: numberFlag(values.scale, '--scale') } : {}),
    ...(mean !== undefined ? { mean } : {}),
    ...(std !== undefined ? { std } : {}),
  };
  try {
    resolveImagePreprocessorOptions(preprocess);
  } catch (error) {
    throw UsageError.from(error);
  }
  return { preprocess, ...(seed !== undefined ? { seed } : {}), strict: Boolean(values.strict) };
}

/** The model input's channel count for this layout, when the input is 4-D with a fixed channel dimension. */
function modelChannels(input: InputSpec, layout: string): number | undefined {
  if (input.shape.length !== 4) return undefined;
  const c = layout === 'nhwc' ? input.shape[3] : input.shape[1];
  return c !== undefined && c > 0 ? c : undefined;
}

/** RGB images into a single-channel model (or gray into a three-channel one) would fail later on shapes: say which flag fixes it. */
export function checkChannelsMatchModel(images: ImageOptions, input: InputSpec | undefined): void {
  if (!input) return;
  const layout = images.preprocess.layout ?? 'nchw';
  const expected = modelChannels(input, layout);
  const channels = images.preprocess.channels ?? 'rgb';
  const given = channels === 'gray' ? 1 : 3;
  if (expected === undefined || expected === given) return;
  const fix = expected === 1 ? '--channels gray' : expected === 3 ? '--channels rgb (or bgr)' : undefined;
  throw new UsageError(
    `the model input "${input.name}" [${input.shape.join(', ')}] has ${expected} channel(s) (${layout}), but --channels ${channels} gives ${given}.` +
      (fix ? ` Pass ${fix}.` : ' Check --layout.'),
    { input: '--channels', expected: fix ?? `${expected} channels`, actual: `--channels ${channels}` },
  );
}

/** A model with a fixed batch dimension needs full batches; a dynamic one takes a short last batch. */
export function remainderFor(inputs: readonly InputSpec[]): Remainder {
  return inputs.some((i) => (i.shape[0] ?? -1) > 0) ? 'drop' : 'keep';
}

export function describeReport(report: DatasetReport, io: CliIO): void {
  const parts = [`${report.used} image(s) used`];
  if (report.padded) parts.push(`${report.padded} padding copies`);
  if (report.dropped) parts.push(`${report.dropped} dropped (less than one batch)`);
  if (report.skipped.length) parts.push(`${report.skipped.length} skipped`);
  io.stderr(`data: ${parts.join(', ')}.`);
  for (const s of report.skipped.slice(0, 10)) io.stderr(`  skipped ${s.path}: ${s.reason}`);
  if (report.skipped.length > 10) io.stderr(`  ... and ${report.skipped.length - 10} more`);
}
