/**
 * Calibration and evaluation data from NumPy files for the CLI's --data: a .npy (single-input models), a
 * .npz (one array per input name), a directory of them, or a text file listing them. Every file holds
 * either a chunk of samples (leading sample dimension) or a single sample; chunks are re-cut into batches
 * of the size asked for by the dataset of src/data, reading one file at a time.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TrtInt8Error } from '../core/errors.js';
import type { Batch } from '../core/batch.js';
import { product, type InputSpec } from '../core/tensor.js';
import type { TypedArray } from '../core/tensor.js';
import { readNpy, readNpz, type NpyArray, type NpyData } from './npy.js';
import { openDataset, readListFile, type FileDecoder, type SampleTensor } from './dataset.js';

export interface NpyDatasetOptions {
  /** The model's inputs (name, shape with -1 for dynamic dimensions, dtype). The first dimension is the batch. */
  readonly inputs: readonly InputSpec[];
  readonly batchSize: number;
  /** Use at most this many samples. */
  readonly limit?: number;
}

export interface NpyDataset extends AsyncIterable<Batch> {
  readonly files: readonly string[];
  /** Known when the data is a single file (read up front). */
  readonly batchCount?: number;
  /** Samples left over after the last full batch when the model's batch dimension is fixed (counted while iterating). */
  readonly droppedSamples: number;
}

function badData(source: string, message: string, expected: unknown, actual: unknown, fixes: string[] = []): TrtInt8Error {
  return new TrtInt8Error('ERR_BAD_BATCH', `${source}: ${message}`, { input: source, expected, actual, fixes });
}

const isArrayFile = (name: string) => /\.(npy|npz)$/i.test(name);

/** The data files behind a --data argument: a .npy/.npz file, a directory of them, or a list file. */
export async function resolveDataFiles(data: string): Promise<string[]> {
  let stat;
  try {
    stat = await fs.stat(data);
  } catch (cause) {
    throw new TrtInt8Error('ERR_IO', `Cannot read the data ${data}: ${(cause as Error).message}`, {
      input: data,
      expected: 'a .npy or .npz file, a directory of them, or a text file listing them',
      actual: (cause as NodeJS.ErrnoException).code ?? 'unreadable',
      cause,
    });
  }
  if (stat.isDirectory()) {
    const names = (await fs.readdir(data)).filter(isArrayFile).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    if (names.length === 0) {
      throw new TrtInt8Error('ERR_EMPTY_DATASET', `The directory ${data} holds no .npy or .npz files.`, {
        input: data,
        expected: 'at least one .npy or .npz file',
        actual: 'none',
      });
    }
    return names.map((n) => path.join(data, n));
  }
  if (isArrayFile(data)) return [data];
  // A list file: one path per line, relative to the list's folder; blank lines and # comments skipped.
  const files = await readListFile(data);
  const bad = files.find((f) => !isArrayFile(f));
  if (bad !== undefined) {
    throw badData(data, 'a list file must name .npy or .npz files only.', '.npy or .npz paths, one per line', bad);
  }
  if (files.length === 0) {
    throw new TrtInt8Error('ERR_EMPTY_DATASET', `The list file ${data} names no files.`, { input: data, expected: 'at least one path', actual: 'none' });
  }
  return files;
}

interface Chunk {
  readonly source: string;
  readonly samples: number;
  /** input name -> data of `samples` samples, each of `sampleSize` elements. */
  readonly tensors: Map<string, { data: NpyData; sampleShape: number[]; sampleSize: number }>;
}

function toChunk(source: string, arrays: Map<string, NpyArray>, inputs: readonly InputSpec[]): Chunk {
  // A single array feeds a single-input model whatever it is called (np.save / np.savez's arr_0).
  let named = arrays;
  if (inputs.length === 1 && arrays.size === 1 && !arrays.has(inputs[0]!.name)) named = new Map([[inputs[0]!.name, arrays.values().next().value!]]);
  for (const name of named.keys()) {
    if (!inputs.some((i) => i.name === name)) {
      throw badData(`${source}:${name}`, `the model has no input named "${name}".`, inputs.map((i) => i.name), name, [
        `Name the arrays after the model's inputs: np.savez(path, ${inputs.map((i) => `${JSON.stringify(i.name).slice(1, -1)}=...`).join(', ')})`,
      ]);
    }
  }
  const tensors: Chunk['tensors'] = new Map();
  let samples: number | undefined;
  for (const input of inputs) {
    const array = named.get(input.name);
    if (!array) {
      throw badData(source, `no array for the model input "${input.name}".`, inputs.map((i) => i.name), [...arrays.keys()], [
        inputs.length > 1 ? 'Multi-input models need a .npz with one array per input name.' : 'Check the file.',
      ]);
    }
    let shape = [...array.shape];
    if (shape.length === input.shape.length - 1) shape = [1, ...shape]; // one sample without its batch dimension
    if (shape.length !== input.shape.length) {
      throw badData(`${source}:${input.name}`, `the array's rank does not fit the model input.`, `shape [N, ${input.shape.slice(1).join(', ')}] or [${input.shape.slice(1).join(', ')}]`, `[${array.shape.join(', ')}]`);
    }
    let data = array.data;
    // numpy defaults to float64; converting to the float32 the model takes is what every user means.
    if (array.dtype === 'float64' && input.dtype === 'float32') data = Float32Array.from(data as Float64Array);
    const n = shape[0]!;
    if (samples !== undefined && n !== samples) {
      throw badData(source, `the arrays hold different numbers of samples.`, `${samples} samples for every input`, `${n} for "${input.name}"`);
    }
    samples = n;
    const sampleShape = shape.slice(1);
    tensors.set(input.name, { data, sampleShape, sampleSize: product(sampleShape) });
  }
  return { source, samples: samples ?? 0, tensors };
}

async function readChunk(file: string, inputs: readonly InputSpec[]): Promise<Chunk> {
  if (/\.npz$/i.test(file)) return toChunk(file, await readNpz(file), inputs);
  if (inputs.length !== 1) {
    throw new TrtInt8Error('ERR_BAD_OPTION', `${file}: a .npy file holds one array, but the model has ${inputs.length} inputs.`, {
      input: file,
      expected: 'a .npz file with one array per input',
      actual: '.npy',
      fixes: [`np.savez(path, ${inputs.map((i) => `${i.name}=...`).join(', ')})`],
    });
  }
  return toChunk(file, new Map([[inputs[0]!.name, await readNpy(file)]]), inputs);
}

function validateOptions(options: NpyDatasetOptions): void {
  const { batchSize, limit, inputs } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'The batch size must be a positive integer.', { input: 'batchSize', expected: 'an integer >= 1', actual: batchSize });
  }
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'The sample limit must be a positive integer.', { input: 'limit', expected: 'an integer >= 1', actual: limit });
  }
  for (const input of inputs) {
    const fixed = input.shape[0];
    if (fixed !== undefined && fixed > 0 && fixed !== batchSize) {
      throw new TrtInt8Error('ERR_BAD_OPTION', `The model input "${input.name}" has a fixed batch size of ${fixed}.`, {
        input: 'batchSize',
        expected: fixed,
        actual: batchSize,
        fixes: [`Use --batch ${fixed}.`, 'Or export the model with a dynamic batch dimension.'],
      });
    }
  }
}

/**
 * Opens NumPy data as batches for `inputs`. Reads the first file at once so a bad path, dtype or shape
 * fails before any model runs. Built on openDataset (src/data): this adds the model-aware reading of
 * .npy/.npz chunks (input names, float64 -> float32, optional sample dimension) and is strict: a bad file
 * here is an error, not a skip.
 */
export async function openNpyDataset(data: string, options: NpyDatasetOptions): Promise<NpyDataset> {
  validateOptions(options);
  const { inputs, batchSize, limit } = options;
  const files = await resolveDataFiles(data);
  let first: Chunk | undefined = await readChunk(files[0]!, inputs);
  const fixedBatch = inputs.some((i) => (i.shape[0] ?? -1) > 0);
  let batchCount: number | undefined;
  if (files.length === 1) {
    const usable = Math.min(first.samples, limit ?? Infinity);
    batchCount = fixedBatch ? Math.floor(usable / batchSize) : Math.ceil(usable / batchSize);
  }
  const decodeFile: FileDecoder = async (file) => {
    // The first file was read up front to fail early; use it once, then read files as they come.
    const chunk = first !== undefined && file === first.source ? first : await readChunk(file, inputs);
    first = undefined;
    return {
      rows: chunk.samples,
      row(i) {
        const sample: Record<string, SampleTensor> = {};
        for (const [name, t] of chunk.tensors) sample[name] = { data: t.data.subarray(i * t.sampleSize, (i + 1) * t.sampleSize) as TypedArray, shape: t.sampleShape };
        return sample;
      },
    };
  };
  const dataset = await openDataset(files, { decodeFile, strict: true, samplesPerFile: 'many', ...(limit ? { limit } : {}) });
  return {
    files,
    batchCount,
    get droppedSamples() {
      return dataset.report.dropped;
    },
    // A model with a fixed batch dimension cannot take a short last batch: drop (and report) it.
    [Symbol.asyncIterator]: () => dataset.batches({ batchSize, remainder: fixedBatch ? 'drop' : 'keep', inputName: inputs[0]!.name }),
  };
}

/** Reads class labels (an integer .npy of shape [N] or [N, 1]) as numbers. */
export async function readLabels(file: string): Promise<Int32Array> {
  const array = await readNpy(file);
  const rows = array.shape[0] ?? 0;
  if (array.shape.length > 2 || (array.shape.length === 2 && array.shape[1] !== 1) || array.shape.length === 0) {
    throw badData(file, 'labels must be a vector of class indices.', 'shape [N] or [N, 1]', `[${array.shape.join(', ')}]`);
  }
  if (array.dtype === 'float32' || array.dtype === 'float64') {
    throw badData(file, 'labels must be integers.', 'int8, uint8, int32 or int64', array.dtype, ['Save them as integers: labels.astype(np.int64)']);
  }
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) out[i] = Number(array.data[i]!);
  return out;
}

