/**
 * Command-line parsing shared by every command: one error type for mistakes (exit 2), option parsing
 * that suggests the nearest known option, and number flags.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TrtInt8Error, type ErrorCode, type TrtInt8ErrorOptions } from '../core/errors.js';

/**
 * A command-line mistake: exit code 2 with the usage. It is a TrtInt8Error (ERR_BAD_OPTION) naming the
 * flag, what was expected and what arrived, so API users and CLI users read the same kind of message.
 */
export class UsageError extends TrtInt8Error {
  constructor(message: string, options: TrtInt8ErrorOptions = {}, code: ErrorCode = 'ERR_BAD_OPTION') {
    super(code, message, options);
  }

  /** A typed error raised while checking flags (e.g. by the image preprocessor) is a command-line mistake too. */
  static from(error: unknown): unknown {
    if (error instanceof TrtInt8Error && error.code === 'ERR_BAD_OPTION' && !(error instanceof UsageError)) {
      // The message already holds expected/actual/fixes; rebuild from its first line so they print once.
      return new UsageError(error.message.split('\n')[0]!, { input: error.input, expected: error.expected, actual: error.actual, fixes: error.fixes, cause: error });
    }
    return error;
  }
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The known option nearest to `given` (both without dashes), when it is close enough to be a typo. */
export function nearestOption(given: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const distance = name.startsWith(given) || given.startsWith(name) ? Math.abs(name.length - given.length) * 0.5 : editDistance(given, name);
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(given.length / 3)) ? best : undefined;
}

/** Up to three names close to `given`: the nearest by edit distance, then those that contain it or it contains. */
export function nearestNames(given: string, known: readonly string[]): string[] {
  const nearest = nearestOption(given, known);
  const lower = given.toLowerCase();
  const containing = known.filter((k) => k !== nearest && (k.toLowerCase().includes(lower) || lower.includes(k.toLowerCase())));
  return [...(nearest ? [nearest] : []), ...containing].slice(0, 3);
}

type Options = NonNullable<ParseArgsConfig['options']>;
type FlagConfig<T extends Options> = { args: string[]; allowPositionals: true; strict: true; options: T } & ParseArgsConfig;

/** parseArgs with positionals, turning its errors into UsageErrors that suggest the nearest option. */
export function parseFlags<T extends Options>(argv: readonly string[], options: T): ReturnType<typeof parseArgs<FlagConfig<T>>> {
  try {
    return parseArgs({ args: [...argv], allowPositionals: true, strict: true, options });
  } catch (error) {
    const message = (error as Error).message;
    const unknown = /Unknown option '(-{1,2})([^']+)'/.exec(message);
    if (unknown) {
      const near = nearestOption(unknown[2]!, Object.keys(options));
      throw new UsageError(`unknown option "${unknown[1]}${unknown[2]}".${near ? ` Did you mean --${near}?` : ''}`, {
        input: `${unknown[1]}${unknown[2]}`,
        expected: near ? `--${near}` : 'one of the options below',
        actual: `${unknown[1]}${unknown[2]}`,
      });
    }
    throw new UsageError(message);
  }
}

/** A number, or a fraction such as 1/127.5. */
export function numberFlag(value: string, flag: string): number {
  const fraction = /^\s*(-?[\d.e+-]+)\s*\/\s*([\d.e+-]+)\s*$/i.exec(value);
  const n = fraction ? Number(fraction[1]) / Number(fraction[2]) : value.trim() === '' ? Number.NaN : Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`${flag} needs a number, got "${value}".`, { input: flag, expected: 'a finite number', actual: value });
  return n;
}

export function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new UsageError(`${flag} needs a positive integer, got "${value}".`, { input: flag, expected: 'an integer >= 1', actual: value });
  }
  return Number(value);
}

/** A value from a fixed set of choices. */
export function choiceFlag<T extends string>(value: string | undefined, flag: string, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`${flag} must be one of ${choices.join(', ')}, got "${value}".`, { input: flag, expected: choices.join(' | '), actual: value });
  }
  return value as T;
}

/** Comma-separated names, blanks dropped. */
export function listFlag(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(',').map((s) => s.trim()).filter(Boolean);
}

/** A file or folder named on the command line must exist: a missing one is a command-line mistake (exit 2, ERR_IO). */
export function requireExisting(file: string, role: string): void {
  if (fs.existsSync(file)) return;
  const folder = path.dirname(path.resolve(file));
  throw new UsageError(
    `${role} ${file} does not exist.`,
    { input: role, expected: 'an existing path', actual: file, fixes: fs.existsSync(folder) ? [`Check the name; ${folder} exists.`] : [`Check the path; ${folder} does not exist either.`] },
    'ERR_IO',
  );
}
