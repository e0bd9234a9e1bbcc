import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/core/files.js';
import { readFileOrNull } from '../../src/core/files.js';
import { isTrtInt8Error } from '../../src/core/errors.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-atomic-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('writes, replaces, and leaves no temporary files', async () => {
    const file = path.join(dir, 'calib.cache');
    await writeFileAtomic(file, 'first\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('first\n');
    await writeFileAtomic(file, new Uint8Array([1, 2, 3]));
    expect([...fs.readFileSync(file)]).toEqual([1, 2, 3]);
    expect(fs.readdirSync(dir)).toEqual(['calib.cache']);
  });

  it('keeps the old content when the write fails, and reports ERR_IO', async () => {
    const file = path.join(dir, 'calib.cache');
    await writeFileAtomic(file, 'old');
    // Renaming a file over a non-empty folder fails, which makes the last step fail.
    const folder = path.join(dir, 'occupied');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'x'), 'x');
    const error = await writeFileAtomic(folder, 'new').catch((e: unknown) => e);
    expect(isTrtInt8Error(error, 'ERR_IO')).toBe(true);
    expect((error as { input: string }).input).toBe(folder);
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
    expect(fs.readdirSync(dir).sort()).toEqual(['calib.cache', 'occupied']);
  });

  it('reports a missing folder as ERR_IO with a fix', async () => {
    const error = await writeFileAtomic(path.join(dir, 'no', 'such', 'file'), 'x').catch((e: unknown) => e);
    expect(isTrtInt8Error(error, 'ERR_IO')).toBe(true);
    expect((error as { fixes: string[] }).fixes.join(' ')).toMatch(/Create the folder/);
  });
});

describe('readFileOrNull', () => {
  it('reads bytes, maps a missing file to null and other errors to ERR_IO', async () => {
    const file = path.join(dir, 'a.bin');
    fs.writeFileSync(file, Buffer.from([9, 8]));
    expect([...((await readFileOrNull(file)) ?? [])]).toEqual([9, 8]);
    expect(await readFileOrNull(path.join(dir, 'missing'))).toBeNull();
    const error = await readFileOrNull(dir).catch((e: unknown) => e);
    expect(isTrtInt8Error(error, 'ERR_IO')).toBe(true);
  });
});

describe('writeFileAtomic keeps what the destination is (issue #12.8)', () => {
  it("keeps an existing file's permissions", async () => {
    const file = path.join(dir, 'private.cache');
    fs.writeFileSync(file, 'old');
    fs.chmodSync(file, 0o600);
    await writeFileAtomic(file, 'new');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    fs.chmodSync(file, 0o755);
    await writeFileAtomic(file, 'newer');
    expect(fs.statSync(file).mode & 0o777).toBe(0o755);
    expect(fs.readFileSync(file, 'utf8')).toBe('newer');
  });

  it('writes through a symbolic link to its target, leaving the link a link', async () => {
    const real = path.join(dir, 'real.cache');
    fs.writeFileSync(real, 'old');
    fs.mkdirSync(path.join(dir, 'links'));
    const link = path.join(dir, 'links', 'model.cache');
    fs.symlinkSync('../real.cache', link);
    await writeFileAtomic(link, 'through');
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(real, 'utf8')).toBe('through');
    // A dangling link: the target is created where it points.
    const dangling = path.join(dir, 'dangling.cache');
    fs.symlinkSync('created.cache', dangling);
    await writeFileAtomic(dangling, 'made');
    expect(fs.lstatSync(dangling).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'created.cache'), 'utf8')).toBe('made');
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('writes a legal 255-byte name (the temporary name is shortened, not the target)', async () => {
    for (const name of ['a'.repeat(255), `${'é'.repeat(126)}abc`]) {
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
      const file = path.join(dir, name);
      await writeFileAtomic(file, 'long');
      expect(fs.readFileSync(file, 'utf8')).toBe('long');
    }
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('removes its temporary file when the write fails', async () => {
    const file = path.join(dir, 'calib.cache');
    fs.mkdirSync(file);
    fs.writeFileSync(path.join(file, 'keep'), 'x'); // renaming over a non-empty folder fails
    const error = await writeFileAtomic(file, 'data').then(() => undefined, (e: unknown) => e);
    expect(isTrtInt8Error(error, 'ERR_IO')).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['calib.cache']);
  });
});
