/**
 * Crash-safe file writes: a reader sees either the old file or the complete new one, never a torn
 * write (TensorRT reads calibration caches without any integrity check of its own).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { TrtInt8Error } from './errors.js';

export interface WriteFileAtomicOptions {
  /** File mode of the new file (default 0o644, before the umask). */
  readonly mode?: number;
}

/** Wraps a Node IO failure as ERR_IO naming the file and the operation. */
export function ioError(operation: string, file: string, cause: unknown): TrtInt8Error {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const fixes: string[] = [];
  if (code === 'ENOENT') fixes.push(`Create the folder ${path.dirname(file)} first.`);
  if (code === 'EACCES' || code === 'EPERM') fixes.push(`Check the permissions of ${file} and its folder.`);
  if (code === 'EISDIR') fixes.push(`${file} is a folder; pass a file path.`);
  if (code === 'ENOSPC') fixes.push('Free some disk space.');
  return new TrtInt8Error('ERR_IO', `Could not ${operation} ${file}${code ? ` (${code})` : ''}.`, {
    input: file,
    expected: `${operation} to succeed`,
    actual: cause instanceof Error ? cause.message : String(cause),
    fixes,
    details: { operation, errno: code },
    cause,
  });
}

/**
 * Writes `data` to `file` atomically: a temporary file in the same folder (so the rename stays on one
 * file system), fsync, rename over the target, then a best-effort fsync of the folder.
 * Failures reject with ERR_IO; the temporary file is removed.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, options: WriteFileAtomicOptions = {}): Promise<void> {
  if (typeof file !== 'string' || file.length === 0) {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'writeFileAtomic needs a file path.', {
      input: 'file',
      expected: 'a non-empty string',
      actual: file,
    });
  }
  const target = path.resolve(file);
  const dir = path.dirname(target);
  const temp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(temp, 'wx', options.mode ?? 0o644);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(temp, target);
  } catch (cause) {
    await handle?.close().catch(() => undefined);
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw ioError('write', target, cause);
  }
  // Make the rename itself durable; some file systems refuse to fsync a folder, which is harmless.
  try {
    const dirHandle = await fs.open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  } catch {
    /* best effort */
  }
}

/** Reads a whole file; a missing file reads as null, every other failure is ERR_IO. */
export async function readFileOrNull(file: string): Promise<Uint8Array | null> {
  try {
    const buffer = await fs.readFile(file);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw ioError('read', path.resolve(file), cause);
  }
}
