/**
 * Calibration and evaluation data from NumPy files: a .npy (single-input models), a .npz (one array per
 * input name), a directory of them, or a text file listing them. Every file holds either a chunk of
 * samples (leading sample dimension) or a single sample; chunks are re-cut into batches of the size asked
 * for, reading one file at a time so a large directory never sits in memory at once.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TrtInt8Error } from '../errors.js';
import type { Batch, InputSpec } from '../calibrators/types.js';
import { readNpy, readNpz, type NpyArray, type NpyData } from '../data/npy.js';

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
  const text = await fs.readFile(data, 'utf8');
  const files = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => path.resolve(path.dirname(data), l));
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
    tensors.set(input.name, { data, sampleShape, sampleSize: sampleShape.reduce((a, b) => a * b, 1) });
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

type TypedArrayConstructor = new (length: number) => NpyData;

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
 * fails before any model runs.
 */
export async function openNpyDataset(data: string, options: NpyDatasetOptions): Promise<NpyDataset> {
  validateOptions(options);
  const { inputs, batchSize, limit } = options;
  const files = await resolveDataFiles(data);
  const first = await readChunk(files[0]!, inputs);
  const fixedBatch = inputs.some((i) => (i.shape[0] ?? -1) > 0);
  let batchCount: number | undefined;
  if (files.length === 1) {
    const usable = Math.min(first.samples, limit ?? Infinity);
    batchCount = fixedBatch ? Math.floor(usable / batchSize) : Math.ceil(usable / batchSize);
  }
  const state = { droppedSamples: 0 };

  async function* batches(): AsyncGenerator<Batch> {
    const pending: { chunk: Chunk; start: number }[] = [];
    let pendingSamples = 0;
    let remaining = limit ?? Infinity;
    const take = (n: number): Batch => {
      const batch: Record<string, { data: NpyData; shape: number[] }> = {};
      for (const input of inputs) {
        const head = pending[0]!.chunk.tensors.get(input.name)!;
        const out = new (head.data.constructor as TypedArrayConstructor)(n * head.sampleSize);
        let filled = 0;
        for (const part of pending) {
          if (filled === n) break;
          const t = part.chunk.tensors.get(input.name)!;
          if (t.sampleShape.join() !== head.sampleShape.join() || t.data.constructor !== head.data.constructor) {
            throw badData(part.chunk.source, `"${input.name}" differs from the earlier files in sample shape or dtype.`, `[${head.sampleShape.join(', ')}] ${head.data.constructor.name}`, `[${t.sampleShape.join(', ')}] ${t.data.constructor.name}`);
          }
          const count = Math.min(n - filled, part.chunk.samples - part.start);
          (out as Float32Array).set((t.data as Float32Array).subarray(part.start * t.sampleSize, (part.start + count) * t.sampleSize), filled * t.sampleSize);
          filled += count;
        }
        batch[input.name] = { data: out, shape: [n, ...head.sampleShape] };
      }
      // Advance the queue past the samples just used.
      let left = n;
      while (left > 0) {
        const part = pending[0]!;
        const count = Math.min(left, part.chunk.samples - part.start);
        part.start += count;
        left -= count;
        if (part.start === part.chunk.samples) pending.shift();
      }
      pendingSamples -= n;
      return batch;
    };
    for (let i = 0; i < files.length && remaining > 0; i++) {
      const chunk = i === 0 ? first : await readChunk(files[i]!, inputs);
      const usable = Math.min(chunk.samples, remaining);
      if (usable === 0) continue;
      pending.push({ chunk: usable < chunk.samples ? { ...chunk, samples: usable } : chunk, start: 0 });
      pendingSamples += usable;
      remaining -= usable;
      while (pendingSamples >= batchSize) yield take(batchSize);
    }
    if (pendingSamples > 0) {
      // A model with a fixed batch dimension cannot take a short last batch; say so rather than fail late.
      if (fixedBatch) state.droppedSamples = pendingSamples;
      else yield take(pendingSamples);
    }
  }

  return {
    files,
    batchCount,
    get droppedSamples() {
      return state.droppedSamples;
    },
    [Symbol.asyncIterator]: batches,
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

