/**
 * The CLI never loses work: every output path is checked before any work (its folder exists and is
 * writable, it is not a folder, it is not one of the inputs, no two outputs share a file), and the
 * outputs are written only at the end, all of them or none.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from './args.js';

/** A file the command writes, named by the flag that asked for it. */
export interface PlannedOutput {
  readonly flag: string;
  readonly file: string;
  /** The file's folder may not exist yet: the command creates it (in a folder that must exist). */
  readonly createsFolder?: boolean;
}

/** A file or folder the command reads, named by where it came from ("model", "--data"). */
export interface CommandInput {
  readonly role: string;
  readonly file: string;
}

/** The real path of `file` (links resolved), or of its folder joined with its name when it does not exist yet. */
export function realPathOf(file: string): string {
  const absolute = path.resolve(file);
  try {
    return fs.realpathSync(absolute);
  } catch {
    try {
      return path.join(fs.realpathSync(path.dirname(absolute)), path.basename(absolute));
    } catch {
      return absolute;
    }
  }
}

function refuse(flag: string, file: string, expected: string, actual: string, message: string): UsageError {
  return new UsageError(message, { input: flag, expected, actual: `${flag} ${file}${actual ? ` (${actual})` : ''}` }, 'ERR_IO');
}

/** The folder exists, is a folder and can be written; the target is not a folder. */
function checkWritable(output: PlannedOutput): void {
  const { flag, file } = output;
  let folder = path.dirname(path.resolve(file));
  if (output.createsFolder) {
    const own = fs.statSync(folder, { throwIfNoEntry: false });
    if (own && !own.isDirectory()) throw refuse(flag, folder, 'a folder', 'a file', `${flag} ${folder} is a file; pass a folder path.`);
    if (!own) folder = path.dirname(folder);
  }
  const folderStat = fs.statSync(folder, { throwIfNoEntry: false });
  if (!folderStat) throw refuse(flag, file, 'an existing folder', `${folder} does not exist`, `${flag}: the folder ${folder} does not exist. Create it first (mkdir -p ${folder}).`);
  if (!folderStat.isDirectory()) throw refuse(flag, file, 'a path inside a folder', `${folder} is not a folder`, `${flag}: ${folder} is not a folder.`);
  try {
    fs.accessSync(folder, fs.constants.W_OK);
  } catch {
    throw refuse(flag, file, 'a writable folder', `${folder} is not writable`, `${flag}: the folder ${folder} is not writable. Pick another path or fix its permissions.`);
  }
  if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) {
    throw refuse(flag, file, 'a file path', 'a folder', `${flag} ${file} is a folder; pass a file path.`);
  }
}

/** Files (not folders) under an input folder are inputs too: a data folder's files must not be overwritten. */
function coveredBy(input: string, output: string): boolean {
  if (input === output) return true;
  const relative = path.relative(input, output);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) && fs.statSync(input, { throwIfNoEntry: false })?.isDirectory() === true;
}

/** Paths listed in a list file (one per line, relative to the list) are inputs too; data files and binary files are no lists. */
export function listedFiles(listFile: string): string[] {
  const stat = fs.statSync(listFile, { throwIfNoEntry: false });
  if (!stat?.isFile() || stat.size > 16 * 1024 * 1024 || /\.(npy|npz|png|jpe?g|onnx)$/i.test(listFile)) return [];
  const text = fs.readFileSync(listFile, 'utf8');
  if (text.includes('\0')) return [];
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'))
    .map((l) => path.resolve(path.dirname(listFile), l));
}

/**
 * Checks every planned output before any work: writable, not an input (real paths compared, so links and
 * "./" spellings count), not a file inside an input folder, and not shared with another output.
 */
export function checkOutputs(outputs: readonly PlannedOutput[], inputs: readonly CommandInput[]): void {
  const inputPaths = inputs.flatMap((i) => [{ role: i.role, real: realPathOf(i.file) }, ...listedFiles(i.file).map((f) => ({ role: `${i.role} (listed)`, real: realPathOf(f) }))]);
  const seen = new Map<string, string>();
  for (const output of outputs) {
    checkWritable(output);
    const real = realPathOf(output.file);
    const clash = inputPaths.find((i) => coveredBy(i.real, real));
    if (clash) {
      throw refuse(output.flag, output.file, 'a path that is not an input', `the ${clash.role}`, `${output.flag} ${output.file} would overwrite the ${clash.role} (${clash.real}). Pick another output path.`);
    }
    const other = seen.get(real);
    if (other) throw refuse(output.flag, output.file, 'a file of its own', `also ${other}`, `${output.flag} and ${other} name the same file ${real}; each output needs its own.`);
    seen.set(real, output.flag);
  }
}

/** The outputs named by flags that were given, in flag order. */
export function plannedOutputs(values: Readonly<Record<string, unknown>>, flags: readonly string[]): PlannedOutput[] {
  return flags.flatMap((flag) => {
    const file = values[flag];
    return typeof file === 'string' && file.length > 0 ? [{ flag: `--${flag}`, file }] : [];
  });
}

/** The files a report folder gets (it is created at the end when missing; its parent must exist). */
export function folderOutputs(flag: string, folder: string | undefined, files: readonly string[]): PlannedOutput[] {
  if (folder === undefined) return [];
  if (folder.trim() === '') throw refuse(flag, folder, 'a folder path', 'empty', `${flag} needs a folder path.`);
  return files.map((name) => ({ flag, file: path.join(folder, name), createsFolder: true }));
}
