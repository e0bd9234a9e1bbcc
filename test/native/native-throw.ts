/** What a raw native call throws synchronously: an Error carrying the `code` every native module sets. */
export function nativeThrow(call: () => unknown): Error & { code?: unknown } {
  try {
    call();
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`expected the native call to throw an Error, got ${String(error)}`);
  }
  throw new Error('expected the native call to throw');
}
