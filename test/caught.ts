/** The TrtInt8Error a synchronous call throws; fails the test when it throws something else or nothing. */
import { isTrtInt8Error, type TrtInt8Error } from '../src/core/errors.js';

export function caught(fn: () => unknown): TrtInt8Error {
  try {
    fn();
  } catch (error) {
    if (isTrtInt8Error(error)) return error;
    throw error;
  }
  throw new Error('expected a TrtInt8Error');
}

/** The TrtInt8Error a promise rejects with; fails the test when it resolves or rejects with something else. */
export async function rejection(promise: Promise<unknown>): Promise<TrtInt8Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (isTrtInt8Error(error)) return error;
  throw error instanceof Error ? error : new Error(`expected a TrtInt8Error, got ${String(error)}`);
}
