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

/** Longest file name (bytes) on the file systems we write to; the temporary name must fit too. */
const NAME_MAX = 255;

/**
 * The file the write lands in: `file` itself, or, when `file` is a symbolic link, the file it points to
 * (followed to the end), so that writing "through" a link updates its target instead of replacing the
 * link with a regular file.
 */
async function resolveTarget(file: string): Promise<string> {
  let target = path.resolve(file);
  for (let hops = 0; hops < 40; hops++) {
    let link: string;
    try {
      link = await fs.readlink(target);
    } catch {
      return target; // not a link (or missing): write here
    }
    target = path.resolve(path.dirname(target), link);
  }
  return target; // a link loop; the write fails with the system's error
}

/** A temporary name beside `target`, at most NAME_MAX bytes whatever the length of the target's name. */
function tempPath(target: string): string {
  const suffix = `.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  let stem = `.${path.basename(target)}`;
  // Shorten by whole characters so a multi-byte character is never cut in half.
  while (Buffer.byteLength(stem + suffix) > NAME_MAX) stem = stem.slice(0, -1);
  return path.join(path.dirname(target), stem + suffix);
}

/** The permission bits of an existing file, to carry over to its replacement; undefined if none exists. */
async function existingMode(target: string): Promise<number | undefined> {
  try {
    return (await fs.stat(target)).mode & 0o7777;
  } catch {
    return undefined;
  }
}

async function syncFolder(dir: string): Promise<void> {
  // Makes the rename itself durable; some file systems refuse to fsync a folder, which is harmless.
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

/**
 * Writes `data` to `file` atomically: a temporary file in the same folder (so the rename stays on one
 * file system), fsync, rename over the target, then a best-effort fsync of the folder. An existing
 * file keeps its permissions (unless `mode` is given); a symbolic link is written through to its target.
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
  const target = await resolveTarget(file);
  const temp = tempPath(target);
  const kept = options.mode === undefined ? await existingMode(target) : undefined;
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(temp, 'wx', options.mode ?? kept ?? 0o644);
    // open() applies the umask; an existing file's permissions are carried over exactly.
    if (kept !== undefined) await handle.chmod(kept);
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
  await syncFolder(path.dirname(target));
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
