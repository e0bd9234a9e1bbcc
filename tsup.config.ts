import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    // The declarations use Node's types (NodeJS.*, Disposable): reference them, since TypeScript 6+ no longer
    // loads @types/* on its own (compilerOptions.types defaults to []).
    dts: { banner: '/// <reference types="node" />' },
    sourcemap: true, // for debugging a checkout; package.json's files leaves the maps out of the package
    clean: true,
    target: 'node20',
    shims: true,
    // Without whitespace, as the CLI below: names stay (readable stack traces), the package stays under its 3 MB
    // unpacked bound (test/package) as docs grow; a checkout's source maps map back to the sources.
    esbuildOptions(options) {
      options.minifyWhitespace = true;
    },
  },
  {
    entry: { cli: 'src/cli/main.ts' },
    format: ['cjs'],
    sourcemap: true,
    target: 'node20',
    banner: { js: '#!/usr/bin/env node' },
    // The CLI bundles the library a second time; without whitespace it keeps its names (readable stack traces) at
    // two thirds of the size, which keeps the package under its 3 MB unpacked bound (test/package).
    esbuildOptions(options) {
      options.minifyWhitespace = true;
    },
  },
]);
