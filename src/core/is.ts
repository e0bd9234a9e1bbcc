/**
 * The shared checks for options, and the one builder of ERR_BAD_OPTION (in the manner of sharp's
 * lib/is.js): every public function validates its options through these, so each bad option is
 * reported the same way, naming the option, what was expected and what arrived.
 */
import { TrtInt8Error } from './errors.js';

/**
 * ERR_BAD_OPTION for `input`. `subject` says whose option it is ("calibrate", "dataset"), giving the
 * message "Invalid <subject> option <input>."; `message` replaces that sentence where more is known.
 */
export function badOption(
  subject: string,
  input: string,
  expected: unknown,
  actual: unknown,
  fixes: readonly string[] = [],
  message = `Invalid ${subject ? `${subject} ` : ''}option ${input}.`,
): TrtInt8Error {
  return new TrtInt8Error('ERR_BAD_OPTION', message, { input, expected, actual, fixes });
}

/** A badOption bound to one subject, for a module that checks many options of one function. */
export function optionErrors(subject: string) {
  return (input: string, expected: unknown, actual: unknown, fixes: readonly string[] = []): TrtInt8Error =>
    badOption(subject, input, expected, actual, fixes);
}

export function isDefined<T>(value: T | undefined | null): value is T {
  return value !== undefined && value !== null;
}

/** A plain object (not null, not an array, not a TypedArray). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

export function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** An integer in [min, max]. */
export function isIntegerIn(value: unknown, min: number, max: number = Number.MAX_SAFE_INTEGER): value is number {
  return Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;
}

/** A finite number in (lo, hi]. */
export function isNumberAbove(value: unknown, lo: number, hi: number = Infinity): value is number {
  return isFiniteNumber(value) && value > lo && value <= hi;
}

export function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

export function isOneOf<T extends string>(value: unknown, choices: readonly T[]): value is T {
  return typeof value === 'string' && (choices as readonly string[]).includes(value);
}
