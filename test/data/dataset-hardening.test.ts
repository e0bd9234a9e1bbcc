/** openDataset / openNpyDataset under hostile options and folders (issue #12.10). */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDataset } from '../../src/data/dataset.js';
import { openNpyDataset } from '../../src/data/npy-dataset.js';
import { isTrtInt8Error } from '../../src/core/errors.js';
import { tempDir, writeNpySamples } from './helpers.js';

async function firstBatchError(iterable: AsyncIterable<unknown>): Promise<unknown> {
  try {
    for await (const _ of iterable) return undefined;
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('dataset hardening', () => {
  it('a batch size too large to allocate is ERR_BAD_OPTION naming batchSize, not a RangeError', async () => {
    const dir = tempDir();
    writeNpySamples(dir, [0, 1, 2]);
    const dataset = await openDataset(dir);
    const error = await firstBatchError(dataset.batches({ batchSize: 2 ** 40, remainder: 'keep' }));
    expect(isTrtInt8Error(error, 'ERR_BAD_OPTION')).toBe(true);
    expect((error as { input?: string }).input).toBe('batchSize');

    const file = path.join(dir, fs.readdirSync(dir).find((n) => n.endsWith('.npy'))!);
    const npy = await openNpyDataset(file, { inputs: [{ name: 'input', shape: [-1, 2], dtype: 'float32' }], batchSize: 1e12 }).catch((e: unknown) => e);
    const fromNpy = isTrtInt8Error(npy) ? npy : await firstBatchError(npy as AsyncIterable<unknown>);
    expect(isTrtInt8Error(fromNpy)).toBe(true);
  });

  // As root every folder is readable, so the EACCES case only runs as an ordinary user.
  it.skipIf(process.getuid?.() === 0)('an unreadable subfolder is skipped and reported, or ERR_IO when strict', async () => {
    const dir = tempDir();
    writeNpySamples(dir, [0, 1]);
    const locked = path.join(dir, 'locked');
    fs.mkdirSync(locked);
    fs.chmodSync(locked, 0o000);
    try {
      const dataset = await openDataset(dir);
      expect(dataset.report.skipped.map((s) => s.path)).toContain(locked);
      const strict = await openDataset(dir, { strict: true }).catch((e: unknown) => e);
      expect(isTrtInt8Error(strict, 'ERR_IO')).toBe(true);
    } finally {
      fs.chmodSync(locked, 0o755);
    }
  });
});
