/**
 * Calibration datasets: where samples come from (a list file, a folder, a .npy/.npz array, an iterable),
 * in which order (seeded shuffle), how many (limit), and how they become batches (remainder policy), with a
 * report of what was used and what was skipped and why. Files are read one at a time as batches are asked
 * for, so a folder of images never sits in memory.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import buffer from 'node:buffer';
import { TrtInt8Error, throwIfAborted } from '../core/errors.js';
import type { Batch } from '../core/batch.js';
import { product, type TypedArray } from '../core/tensor.js';
import { readNpy, readNpz, type NpyArray } from './npy.js';
import { seededShuffle } from './shuffle.js';
import { optionErrors } from '../core/is.js';

/** One input's value for one sample, without the batch dimension. */
export interface SampleTensor {
  readonly data: TypedArray;
  readonly shape: readonly number[];
}

/** A sample: one tensor (single-input models), or input name -> tensor. */
export type Sample = SampleTensor | Readonly<Record<string, SampleTensor>>;

/** What an iterable source may yield: samples, or file paths that `decodeFile` turns into samples. */
export type DatasetItem = Sample | string;

/**
 * Where samples come from: a path (a list file with one path per line, a folder, a .npy/.npz file whose
 * first dimension counts samples), or an (async) iterable of samples / file paths.
 */
export type DatasetSource = string | Iterable<DatasetItem> | AsyncIterable<DatasetItem>;

/** Several samples from one file (e.g. a .npy chunk with a leading sample dimension). */
export interface SampleRows {
  readonly rows: number;
  row(index: number): Sample;
}

/**
 * Turns one file into a sample, or into several (SampleRows; set samplesPerFile: 'many'). Throw a
 * TrtInt8Error ERR_BAD_BATCH / ERR_IO (or let an fs error through) for a bad file.
 */
export type FileDecoder = (file: string, options: { signal?: AbortSignal }) => Promise<Sample | SampleRows>;

export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg'];

export interface DatasetOptions {
  /** Turns a file into a sample. Default: .npy files, one sample each. Pass an image preprocessor for images. */
  readonly decodeFile?: FileDecoder;
  /** Folder sources: the file extensions to take (default: .png .jpg .jpeg with decodeFile, else .npy). */
  readonly extensions?: readonly string[];
  /** Seeded Fisher-Yates order (mulberry32); `true` means seed 0. Default: the source's order. */
  readonly shuffle?: boolean | { readonly seed: number };
  /** Use at most this many samples (counted after skipping bad files). */
  readonly limit?: number;
  /** Throw on the first bad file instead of skipping it. Default false. */
  readonly strict?: boolean;
  /** 'one' (default): each file is one sample, so the size is known; 'many': files may hold several (size unknown). */
  readonly samplesPerFile?: 'one' | 'many';
}

export type Remainder = 'drop' | 'pad-last' | 'keep';

export interface BatchOptions {
  readonly batchSize: number;
  /**
   * The samples after the last full batch: 'drop' them (default; TensorRT needs full batches), 'pad-last'
   * (fill the batch with copies of the last sample: real data, so histograms are only reweighted, never
   * skewed towards zero as zero padding would), or 'keep' (a short last batch, for dynamic batch dimensions).
   */
  readonly remainder?: Remainder;
  /** The input name for single-tensor samples (default 'input'). */
  readonly inputName?: string;
  readonly signal?: AbortSignal;
}

export interface SkippedFile {
  readonly path: string;
  readonly reason: string;
}

/** What an iteration used. Live: updated while iterating, final once iteration ends. */
export interface DatasetReport {
  /** Samples that went into batches (not counting padding copies). */
  used: number;
  skipped: SkippedFile[];
  /** Copies of the last sample added to fill the last batch (remainder 'pad-last'). */
  padded: number;
  /** Samples read but left out: the incomplete last batch under remainder 'drop'. */
  dropped: number;
}

export interface DatasetSample {
  /** The file path, or `#<index>` for in-memory samples and array rows. */
  readonly id: string;
  readonly sample: Sample;
}

export interface Dataset {
  /** A description of the source, for messages. */
  readonly source: string;
  /** How many samples an iteration will try (files or rows found, within the limit), when known. */
  readonly size: number | undefined;
  /** The report of the latest iteration (files skipped while opening are in it from the start). */
  readonly report: DatasetReport;
  /** The samples, in order. Each call starts over and resets the report. */
  samples(signal?: AbortSignal): AsyncGenerator<DatasetSample>;
  /** Batches of samples, stacked along a new first dimension. */
  batches(options: BatchOptions): AsyncGenerator<Batch>;
  /** How many batches batches() gives for this batch size and remainder, when the size is known. */
  batchCount(batchSize: number, remainder?: Remainder): number | undefined;
}

const badOption = optionErrors('dataset');

function emptyDataset(source: string, skipped: readonly SkippedFile[]): TrtInt8Error {
  const shown = skipped.slice(0, 5).map((s) => `${s.path}: ${s.reason}`);
  return new TrtInt8Error('ERR_EMPTY_DATASET', `The dataset ${source} has no usable samples${skipped.length ? ` (${skipped.length} skipped)` : ''}.`, {
    input: source,
    expected: 'at least one usable sample',
    actual: skipped.length ? shown.join('; ') + (skipped.length > 5 ? `; and ${skipped.length - 5} more` : '') : 'none',
    fixes: ['Check the path, the file extensions (option extensions) and the files themselves.'],
    details: { skipped },
  });
}

const isErrno = (e: unknown): e is NodeJS.ErrnoException => e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && !(e instanceof TrtInt8Error);

/** Whether a decode failure is the file's fault (skippable) rather than a bug or an abort. */
function isBadFile(error: unknown): boolean {
  if (error instanceof TrtInt8Error) return error.code === 'ERR_IO' || error.code === 'ERR_BAD_BATCH';
  return isErrno(error) && error.code !== 'ABORT_ERR';
}

function reasonOf(error: unknown): string {
  if (error instanceof TrtInt8Error) return `${error.code}: ${error.message.split('\n')[0]}`;
  if (isErrno(error)) return `${error.code}: ${error.message}`;
  return String(error);
}

/** A bad file under strict: an ERR_IO / ERR_BAD_BATCH naming it. */
function strictError(file: string, error: unknown): TrtInt8Error {
  // Already about this file (or one of its arrays, "file:name"): keep it as it is.
  if (error instanceof TrtInt8Error && error.input?.startsWith(file)) return error;
  const io = isErrno(error);
  return new TrtInt8Error(io ? 'ERR_IO' : error instanceof TrtInt8Error ? error.code : 'ERR_BAD_BATCH', `Bad calibration file ${file}: ${reasonOf(error)}`, {
    input: file,
    expected: 'a readable sample file',
    actual: reasonOf(error),
    fixes: ['Fix or remove the file, or set strict: false to skip bad files (they are listed in the report).'],
    cause: error,
  });
}

export function isSampleTensor(value: unknown): value is SampleTensor {
  return (
    value !== null &&
    typeof value === 'object' &&
    ArrayBuffer.isView((value as SampleTensor).data) &&
    !(value as SampleTensor).data.constructor.name.startsWith('DataView') &&
    Array.isArray((value as SampleTensor).shape)
  );
}

function isSampleRows(value: unknown): value is SampleRows {
  return value !== null && typeof value === 'object' && typeof (value as SampleRows).rows === 'number' && typeof (value as SampleRows).row === 'function';
}

function asSampleOrNull(value: unknown): Sample | null {
  if (isSampleTensor(value)) return value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const entries = Object.values(value as object);
  return entries.length > 0 && entries.every(isSampleTensor) ? (value as Sample) : null;
}

/** Default decoder: a .npy file holding one sample. */
export const decodeNpySample: FileDecoder = async (file) => {
  if (!/\.npy$/i.test(file)) {
    throw new TrtInt8Error('ERR_BAD_BATCH', `${file}: no decoder for this file type.`, {
      input: file,
      expected: 'a .npy file (or pass decodeFile, e.g. an image preprocessor)',
      actual: path.extname(file) || '(no extension)',
    });
  }
  const array = await readNpy(file);
  return { data: array.data, shape: array.shape };
};

/** A folder's entries; an unreadable subfolder is skipped (recorded) or, strict, ERR_IO naming it. */
async function readFolder(dir: string, strict: boolean, skipped: SkippedFile[]): Promise<import('node:fs').Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'unreadable';
    if (strict) {
      throw new TrtInt8Error('ERR_IO', `Cannot read the folder ${dir} (${code}).`, { input: dir, expected: 'a readable folder', actual: code, fixes: ['Check its permissions, or set strict: false to skip it.'], cause });
    }
    skipped.push({ path: dir, reason: `ERR_IO: unreadable folder (${code})` });
    return [];
  }
}

async function walkFolder(folder: string, extensions: readonly string[], strict: boolean, skipped: SkippedFile[]): Promise<string[]> {
  const out: string[] = [];
  const pending = [folder];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    for (const entry of await readFolder(dir, strict, skipped)) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) pending.push(full);
      else if ((entry.isFile() || entry.isSymbolicLink()) && extensions.includes(path.extname(entry.name).toLowerCase())) out.push(full);
    }
  }
  // Numeric-aware, locale-independent order, so img2 < img10 and the order is the same on every machine.
  const collator = new Intl.Collator('en', { numeric: true });
  return out.sort((a, b) => collator.compare(path.relative(folder, a), path.relative(folder, b)));
}

/** Paths of a list file: one per line, relative to the list's folder; blank lines and # comments skipped. */
export async function readListFile(listFile: string): Promise<string[]> {
  const text = await fs.readFile(listFile, 'utf8');
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => path.resolve(path.dirname(listFile), l));
}

/** Splits the rows of .npy/.npz arrays (leading sample dimension) into samples. */
function arrayRows(source: string, arrays: Map<string, NpyArray>): { count: number; row(i: number): Sample } {
  let count: number | undefined;
  for (const [name, array] of arrays) {
    const n = array.shape[0];
    if (n === undefined) {
      throw new TrtInt8Error('ERR_BAD_BATCH', `${source}: "${name}" is a scalar, with no sample dimension.`, { input: source, expected: 'an array of shape [N, ...]', actual: '[]' });
    }
    if (count !== undefined && n !== count) {
      throw new TrtInt8Error('ERR_BAD_BATCH', `${source}: the arrays hold different numbers of samples.`, { input: source, expected: `${count} samples in every array`, actual: `${n} in "${name}"` });
    }
    count = n;
  }
  const single = arrays.size === 1 && arrays.has('');
  return {
    count: count ?? 0,
    row(i) {
      const tensors: Record<string, SampleTensor> = {};
      for (const [name, array] of arrays) {
        const shape = array.shape.slice(1);
        const size = product(shape);
        tensors[name] = { data: array.data.subarray(i * size, (i + 1) * size) as TypedArray, shape };
      }
      return single ? tensors['']! : tensors;
    },
  };
}

type Entries =
  | { kind: 'files'; files: string[] }
  | { kind: 'rows'; count: number; row(i: number): Sample; order: number[] }
  | { kind: 'iterable'; items: Iterable<DatasetItem> | AsyncIterable<DatasetItem> };

function checkOptions(options: DatasetOptions): { seed: number | undefined; limit: number | undefined } {
  if (options === null || typeof options !== 'object') throw badOption('options', 'an object', options);
  const { decodeFile, extensions, shuffle, limit, strict, samplesPerFile } = options;
  if (samplesPerFile !== undefined && samplesPerFile !== 'one' && samplesPerFile !== 'many') throw badOption('samplesPerFile', "'one' | 'many'", samplesPerFile);
  if (decodeFile !== undefined && typeof decodeFile !== 'function') throw badOption('decodeFile', 'a function (file, { signal }) => Promise<sample>', typeof decodeFile);
  if (extensions !== undefined && (!Array.isArray(extensions) || extensions.length === 0 || extensions.some((e) => typeof e !== 'string' || !e.startsWith('.')))) {
    throw badOption('extensions', "a non-empty array of extensions with their dot, e.g. ['.png', '.jpg']", extensions);
  }
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw badOption('limit', 'an integer >= 1', limit);
  if (strict !== undefined && typeof strict !== 'boolean') throw badOption('strict', 'a boolean', strict);
  let seed: number | undefined;
  if (shuffle === true) seed = 0;
  else if (shuffle !== undefined && shuffle !== false) {
    if (shuffle === null || typeof shuffle !== 'object' || !Number.isInteger(shuffle.seed) || Math.abs(shuffle.seed) > 0xffffffff) {
      throw badOption('shuffle', 'true, false or { seed: <32-bit integer> }', shuffle);
    }
    seed = shuffle.seed;
  }
  return { seed, limit };
}

/** What openDataset settled before any sample is read: the entries in order, and what to do with them. */
interface OpenedSource {
  readonly entries: Entries;
  readonly description: string;
  /** List entries found missing while opening (non-strict); every report starts with them. */
  readonly openSkipped: readonly SkippedFile[];
}

interface DecodeSettings {
  readonly decodeFile: FileDecoder;
  readonly strict: boolean;
  readonly limit: number | undefined;
}

function cannotRead(source: string, cause: unknown): TrtInt8Error {
  return new TrtInt8Error('ERR_IO', `Cannot read the dataset ${source}: ${(cause as Error).message}`, {
    input: source,
    expected: 'a list file, a folder, or a .npy/.npz file',
    actual: (cause as NodeJS.ErrnoException).code ?? 'unreadable',
    cause,
  });
}

async function folderEntries(folder: string, extensions: readonly string[], strict: boolean, skipped: SkippedFile[]): Promise<Entries> {
  const files = await walkFolder(folder, extensions, strict, skipped);
  if (files.length === 0) {
    throw new TrtInt8Error('ERR_EMPTY_DATASET', `The folder ${folder} holds no ${extensions.join(' / ')} files.`, {
      input: folder,
      expected: `at least one file ending in ${extensions.join(', ')}`,
      actual: 'none',
      fixes: ['Set the extensions option to the files the folder holds.'],
    });
  }
  return { kind: 'files', files };
}

async function arrayEntries(file: string): Promise<Entries> {
  const arrays = /\.npz$/i.test(file) ? await readNpz(file) : new Map([['', await readNpy(file)]]);
  const rows = arrayRows(file, arrays);
  if (rows.count === 0) throw emptyDataset(file, []);
  return { kind: 'rows', count: rows.count, row: rows.row, order: Array.from({ length: rows.count }, (_, i) => i) };
}

/** A list file's entries; missing ones are found now (so the size is right from the start) and skipped or, strict, fatal. */
async function listFileEntries(listFile: string, strict: boolean, skipped: SkippedFile[]): Promise<Entries> {
  let listed: string[];
  try {
    listed = await readListFile(listFile);
  } catch (cause) {
    throw new TrtInt8Error('ERR_IO', `Cannot read the list file ${listFile}: ${(cause as Error).message}`, { input: listFile, expected: 'a readable text file', actual: (cause as NodeJS.ErrnoException).code ?? 'unreadable', cause });
  }
  const files: string[] = [];
  const stats = await Promise.all(listed.map((f) => fs.stat(f).then((s) => s, (e: unknown) => e as Error)));
  listed.forEach((file, i) => {
    const s = stats[i]!;
    const reason = s instanceof Error ? `missing or unreadable (${(s as NodeJS.ErrnoException).code ?? s.message})` : s.isFile() ? undefined : 'not a file';
    if (reason === undefined) return files.push(file);
    if (strict) {
      throw new TrtInt8Error('ERR_IO', `The list file ${listFile} names ${file}, which is ${reason}.`, { input: file, expected: 'an existing file', actual: reason, details: { listFile } });
    }
    skipped.push({ path: file, reason });
    return undefined;
  });
  if (files.length === 0) throw emptyDataset(listFile, skipped);
  return { kind: 'files', files };
}

async function pathEntries(source: string, extensions: readonly string[], strict: boolean, skipped: SkippedFile[]): Promise<Entries> {
  let stat;
  try {
    stat = await fs.stat(source);
  } catch (cause) {
    throw cannotRead(source, cause);
  }
  if (stat.isDirectory()) return folderEntries(source, extensions, strict, skipped);
  if (/\.(npy|npz)$/i.test(source)) return arrayEntries(source);
  return listFileEntries(source, strict, skipped);
}

function isIterableSource(source: unknown): source is Iterable<DatasetItem> | AsyncIterable<DatasetItem> {
  return source !== null && typeof source === 'object' && (Symbol.iterator in source || Symbol.asyncIterator in source);
}

/** Where the samples come from, in order (shuffled when asked); reads no sample yet. */
async function openSource(source: DatasetSource, options: DatasetOptions, seed: number | undefined): Promise<OpenedSource> {
  const strict = options.strict ?? false;
  const extensions = (options.extensions ?? (options.decodeFile ? IMAGE_EXTENSIONS : ['.npy'])).map((e) => e.toLowerCase());
  const openSkipped: SkippedFile[] = [];
  let entries: Entries;
  let description: string;
  if (typeof source === 'string') {
    description = source;
    entries = await pathEntries(source, extensions, strict, openSkipped);
  } else if (isIterableSource(source)) {
    description = Array.isArray(source) ? `an array of ${source.length} samples` : 'an iterable of samples';
    if (Array.isArray(source) && source.length === 0) throw emptyDataset(description, []);
    if (seed !== undefined && !Array.isArray(source)) {
      throw badOption('shuffle', 'no shuffle for a streamed (non-array) iterable: it would have to be read whole first', options.shuffle, [
        'Pass an array, or shuffle upstream.',
      ]);
    }
    entries = { kind: 'iterable', items: source };
  } else {
    throw badOption('source', 'a list file, folder, .npy/.npz path, or an (async) iterable of samples', source === null ? 'null' : typeof source);
  }
  return { entries: seed === undefined ? entries : shuffled(entries, seed), description, openSkipped };
}

function shuffled(entries: Entries, seed: number): Entries {
  if (entries.kind === 'files') return { kind: 'files', files: seededShuffle(entries.files, seed) };
  if (entries.kind === 'rows') return { ...entries, order: seededShuffle(entries.order, seed) };
  return { kind: 'iterable', items: seededShuffle(entries.items as DatasetItem[], seed) };
}

/** How many samples an iteration tries, when known without reading: rows, or files holding one sample each. */
function knownSize(entries: Entries, samplesPerFile: DatasetOptions['samplesPerFile'], limit: number | undefined): number | undefined {
  let known: number | undefined;
  if (entries.kind === 'rows') known = entries.count;
  else if (samplesPerFile === 'many') known = undefined;
  else if (entries.kind === 'files') known = entries.files.length;
  else known = Array.isArray(entries.items) ? entries.items.length : undefined;
  return known === undefined ? undefined : Math.min(known, limit ?? Infinity);
}

async function* rawItems(entries: Entries, description: string): AsyncGenerator<{ id: string; item: DatasetItem }> {
  if (entries.kind === 'files') for (const file of entries.files) yield { id: file, item: file };
  else if (entries.kind === 'rows') for (const i of entries.order) yield { id: `${description}#${i}`, item: entries.row(i) };
  else {
    let i = 0;
    for await (const item of entries.items as AsyncIterable<DatasetItem>) yield { id: typeof item === 'string' ? item : `#${i}`, item }, i++;
  }
}

/** A file decoded, or undefined when it is bad and skipped (recorded in the report). */
async function decodeOrSkip(file: string, settings: DecodeSettings, report: DatasetReport, signal: AbortSignal | undefined): Promise<Sample | SampleRows | undefined> {
  let value: Sample | SampleRows;
  try {
    value = await settings.decodeFile(file, { signal });
  } catch (error) {
    throwIfAborted(signal);
    if (!isBadFile(error)) throw error;
    if (settings.strict) throw strictError(file, error);
    report.skipped.push({ path: file, reason: reasonOf(error) });
    return undefined;
  }
  throwIfAborted(signal);
  return value;
}

function notASample(id: string, item: unknown): TrtInt8Error {
  return new TrtInt8Error('ERR_BAD_BATCH', `Dataset item ${id} is not a sample.`, {
    input: id,
    expected: '{ data: TypedArray, shape: number[] } (one sample, no batch dimension), a record of them per input name, or a file path',
    actual: item === null ? 'null' : Array.isArray(item) ? 'an array' : typeof item,
  });
}

/** Samples in order, skipping bad files; `report.used` is counted by the consumer (batching may drop). */
async function* decodedSamples(opened: OpenedSource, settings: DecodeSettings, report: DatasetReport, signal?: AbortSignal): AsyncGenerator<DatasetSample> {
  const { limit } = settings;
  let produced = 0;
  const items = rawItems(opened.entries, opened.description);
  try {
    for await (const { id, item } of items) {
      throwIfAborted(signal);
      if (limit !== undefined && produced >= limit) break;
      if (typeof item !== 'string') {
        const sample = asSampleOrNull(item);
        if (sample === null) throw notASample(id, item);
        produced++;
        yield { id, sample };
        continue;
      }
      const value = await decodeOrSkip(item, settings, report, signal);
      if (value === undefined) continue;
      if (!isSampleRows(value)) {
        produced++;
        yield { id, sample: value };
        continue;
      }
      for (let i = 0; i < value.rows && (limit === undefined || produced < limit); i++) {
        throwIfAborted(signal);
        produced++;
        yield { id: value.rows === 1 ? item : `${item}#${i}`, sample: value.row(i) };
      }
    }
  } finally {
    await items.return(undefined);
  }
}

function tooFewForOneBatch(description: string, batchSize: number, report: DatasetReport): TrtInt8Error {
  return new TrtInt8Error('ERR_EMPTY_DATASET', `The dataset ${description} has ${report.dropped} usable sample(s), fewer than one batch of ${batchSize}.`, {
    input: description,
    expected: `at least ${batchSize} samples`,
    actual: report.dropped,
    fixes: ['Use a smaller batch size.', "Or remainder: 'pad-last' to fill the batch with copies of the last sample."],
    details: { skipped: report.skipped },
  });
}

/** The batches of one iteration: samples stacked, the remainder handled, an empty result reported. */
async function* stackedBatches(opened: OpenedSource, settings: DecodeSettings, report: DatasetReport, batchOptions: BatchOptions): AsyncGenerator<Batch> {
  const { batchSize, remainder, inputName, signal } = checkBatchOptions(batchOptions);
  const stacker = new BatchStacker(batchSize, inputName, settings.strict, report);
  let yielded = 0;
  for await (const s of decodedSamples(opened, settings, report, signal)) {
    const batch = stacker.add(s);
    if (batch) {
      yielded++;
      yield batch;
    }
  }
  if (stacker.first === undefined) throw emptyDataset(opened.description, report.skipped);
  const last = stacker.finish(remainder);
  if (last) yield last;
  else if (yielded === 0) throw tooFewForOneBatch(opened.description, batchSize, report);
}

/**
 * Opens a dataset. Lists the files (checking list entries exist) but reads no sample yet; a missing
 * source is ERR_IO, a source with nothing usable ERR_EMPTY_DATASET.
 */
export async function openDataset(source: DatasetSource, options: DatasetOptions = {}): Promise<Dataset> {
  const { seed, limit } = checkOptions(options);
  const opened = await openSource(source, options, seed);
  const settings: DecodeSettings = { decodeFile: options.decodeFile ?? decodeNpySample, strict: options.strict ?? false, limit };
  const size = knownSize(opened.entries, options.samplesPerFile, limit);
  const freshReport = (): DatasetReport => ({ used: 0, skipped: [...opened.openSkipped], padded: 0, dropped: 0 });
  let report = freshReport();
  return {
    source: opened.description,
    size,
    get report() {
      return report;
    },
    async *samples(signal?: AbortSignal) {
      report = freshReport();
      let used = 0;
      for await (const s of decodedSamples(opened, settings, report, signal)) {
        report.used = ++used;
        yield s;
      }
      if (used === 0) throw emptyDataset(opened.description, report.skipped);
    },
    async *batches(batchOptions: BatchOptions) {
      report = freshReport();
      yield* stackedBatches(opened, settings, report, batchOptions);
    },
    batchCount(batchSize, remainder = 'drop') {
      if (size === undefined) return undefined;
      return remainder === 'drop' ? Math.floor(size / batchSize) : Math.ceil(size / batchSize);
    },
  };
}

const REMAINDERS: readonly Remainder[] = ['drop', 'pad-last', 'keep'];

function checkBatchOptions(options: BatchOptions): Required<Omit<BatchOptions, 'signal'>> & { signal?: AbortSignal } {
  if (options === null || typeof options !== 'object') throw badOption('batch options', 'an object', options);
  const { batchSize, remainder = 'drop', inputName = 'input', signal } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw badOption('batchSize', 'an integer >= 1', batchSize);
  if (!REMAINDERS.includes(remainder)) throw badOption('remainder', REMAINDERS.join(' | '), remainder);
  if (typeof inputName !== 'string' || inputName === '') throw badOption('inputName', 'a non-empty string', inputName);
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw badOption('signal', 'an AbortSignal', typeof signal);
  return { batchSize, remainder, inputName, signal };
}

type TypedArrayConstructor = new (length: number) => TypedArray;

interface Slot {
  readonly name: string;
  readonly shape: readonly number[];
  readonly size: number;
  readonly type: TypedArrayConstructor;
}

/** One input's batch buffer; a batch size too large to allocate is ERR_BAD_OPTION, not a RangeError. */
function allocateBatch(slot: Slot, batchSize: number): TypedArray {
  const elements = batchSize * slot.size;
  const bytes = elements * (slot.type as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  const tooLarge = () =>
    badOption('batchSize', `a batch that fits in memory (at most ${buffer.constants.MAX_LENGTH} bytes per input)`, batchSize, [
      `One sample of "${slot.name}" holds ${slot.size} elements, so a batch of ${batchSize} needs ${bytes} bytes; use a smaller batch size.`,
    ]);
  if (!(bytes <= buffer.constants.MAX_LENGTH)) throw tooLarge();
  try {
    return new slot.type(elements);
  } catch {
    throw tooLarge(); // "Array buffer allocation failed": less memory than the bound
  }
}

/** Stacks samples into batches; checks every sample against the first (names, shapes, dtypes). */
class BatchStacker {
  first: { id: string; slots: Slot[] } | undefined;
  #buffers: TypedArray[] = [];
  #count = 0;
  #last: Map<string, SampleTensor> | undefined;

  constructor(
    private readonly batchSize: number,
    private readonly inputName: string,
    private readonly strict: boolean,
    private readonly report: DatasetReport,
  ) {}

  #tensors(sample: Sample): Map<string, SampleTensor> {
    return isSampleTensor(sample) ? new Map([[this.inputName, sample]]) : new Map(Object.entries(sample));
  }

  /** Why `tensors` does not match the first sample, or undefined when it does. */
  #mismatch(tensors: Map<string, SampleTensor>, slots: Slot[]): { expected: string; actual: string } | undefined {
    const describe = (name: string, shape: readonly number[], type: string) => `${name} [${shape.join(', ')}] ${type}`;
    const expected = slots.map((s) => describe(s.name, s.shape, s.type.name)).join(', ');
    const actual = [...tensors].map(([n, t]) => describe(n, t.shape, t.data.constructor.name)).join(', ');
    if (tensors.size !== slots.length) return { expected, actual };
    for (const slot of slots) {
      const t = tensors.get(slot.name);
      if (!t || t.data.constructor !== slot.type || t.shape.join() !== slot.shape.join() || t.data.length !== slot.size) return { expected, actual };
    }
    return undefined;
  }

  #newBuffers(): void {
    this.#buffers = this.first!.slots.map((s) => allocateBatch(s, this.batchSize));
    this.#count = 0;
  }

  add({ id, sample }: DatasetSample): Batch | undefined {
    const tensors = this.#tensors(sample);
    if (!this.first) {
      const slots: Slot[] = [];
      for (const [name, t] of tensors) {
        const size = product(t.shape);
        if (t.shape.some((d) => !Number.isInteger(d) || d < 0) || size !== t.data.length) {
          throw new TrtInt8Error('ERR_BAD_BATCH', `Sample ${id}: "${name}" has ${t.data.length} elements but shape [${t.shape.join(', ')}].`, {
            input: id,
            expected: `${size} elements`,
            actual: t.data.length,
          });
        }
        slots.push({ name, shape: [...t.shape], size, type: t.data.constructor as TypedArrayConstructor });
      }
      this.first = { id, slots };
      this.#newBuffers();
    } else {
      const mismatch = this.#mismatch(tensors, this.first.slots);
      if (mismatch) {
        const message = `Sample ${id} differs from the first sample (${this.first.id}) in inputs, shape or dtype.`;
        if (this.strict || !(typeof id === 'string' && !id.startsWith('#'))) {
          throw new TrtInt8Error('ERR_BAD_BATCH', message, { input: id, ...mismatch, fixes: ['Every sample must have the same inputs, shapes and dtypes.'] });
        }
        this.report.skipped.push({ path: id, reason: `ERR_BAD_BATCH: differs from the first sample: expected ${mismatch.expected}, got ${mismatch.actual}` });
        return undefined;
      }
    }
    this.#put(tensors);
    this.report.used++;
    return this.#count === this.batchSize ? this.#emit() : undefined;
  }

  #put(tensors: Map<string, SampleTensor>): void {
    this.first!.slots.forEach((slot, i) => {
      (this.#buffers[i] as Float32Array).set(tensors.get(slot.name)!.data as Float32Array, this.#count * slot.size);
    });
    this.#last = tensors;
    this.#count++;
  }

  #emit(count = this.batchSize): Batch {
    const batch: Record<string, SampleTensor> = {};
    this.first!.slots.forEach((slot, i) => {
      const buffer = this.#buffers[i]!;
      batch[slot.name] = { data: count === this.batchSize ? buffer : (buffer.slice(0, count * slot.size) as TypedArray), shape: [count, ...slot.shape] };
    });
    this.#newBuffers();
    return batch;
  }

  finish(remainder: Remainder): Batch | undefined {
    if (this.#count === 0) return undefined;
    if (remainder === 'drop') {
      this.report.dropped = this.#count;
      this.report.used -= this.#count;
      return undefined;
    }
    if (remainder === 'keep') return this.#emit(this.#count);
    const last = this.#last!;
    while (this.#count < this.batchSize) {
      this.#put(last);
      this.report.padded++;
    }
    return this.#emit();
  }
}
