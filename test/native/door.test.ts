/**
 * The one door to native code: only src/native loads `.node` files (createRequire / node-gyp-build), and src/native
 * stands on src/core alone. Reads the sources, so a new import that breaks this fails here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'proto' ? [] : sources(file);
    return entry.name.endsWith('.ts') ? [file] : [];
  });
}

function imports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
}

describe('src/native is the one door to native code', () => {
  const all = sources(src);
  const outside = all.filter((f) => !f.startsWith(path.join(src, 'native') + path.sep));

  it('finds the sources it checks', () => {
    expect(all.some((f) => f.endsWith(path.join('native', 'core-addon.ts')))).toBe(true);
    expect(outside.length).toBeGreaterThan(20);
  });

  it('no file outside src/native loads a .node file or node-gyp-build', () => {
    const offenders = outside.filter((file) => {
      const text = fs.readFileSync(file, 'utf8');
      return /\.node['"`]/.test(text) || /node-gyp-build/.test(text) || /loadTensorRTModule\s*=|process\.dlopen/.test(text);
    });
    expect(offenders.map((f) => path.relative(src, f))).toEqual([]);
  });

  it('src/native imports nothing in src but src/core', () => {
    const offenders = all
      .filter((f) => f.startsWith(path.join(src, 'native') + path.sep))
      .flatMap((file) => imports(file).filter((spec) => spec.startsWith('.')).map((spec) => ({ file, target: path.resolve(path.dirname(file), spec) })))
      .filter(({ target }) => !target.startsWith(path.join(src, 'native') + path.sep) && !target.startsWith(path.join(src, 'core') + path.sep))
      .map(({ file, target }) => `${path.relative(src, file)} -> ${path.relative(src, target)}`);
    expect(offenders).toEqual([]);
  });

  it('other folders reach native code through src/native/index.ts only', () => {
    const offenders = outside.flatMap((file) =>
      imports(file)
        .filter((spec) => spec.startsWith('.'))
        .map((spec) => path.resolve(path.dirname(file), spec))
        .filter((target) => target.startsWith(path.join(src, 'native') + path.sep) && target !== path.join(src, 'native', 'index.js'))
        .map((target) => `${path.relative(src, file)} -> ${path.relative(src, target)}`),
    );
    expect(offenders).toEqual([]);
  });
});
