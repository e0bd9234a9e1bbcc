/**
 * Packages with native code that trt-int8 loads only when asked to (onnxruntime-node, sharp) and the pure-JS image
 * decoders beside them: loaded here, through the one door to native code, so that importing the library loads none.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

// __filename in the CommonJS builds (the CLI bundle has no import.meta shim), import.meta.url in ESM.
const requireHere = createRequire(typeof __filename === 'string' ? __filename : import.meta.url);

/** require() of an installed package; throws what require throws (the caller turns it into a TrtInt8Error). */
export function requirePackage<T>(moduleId: string): T {
  return requireHere(moduleId) as T;
}

/** The entry file of `moduleId` as resolved from folder `from`, without loading it (loading runs its native code). */
export function resolvePackageFrom(from: string, moduleId: string): string {
  return createRequire(path.join(from, 'noop.js')).resolve(moduleId);
}
