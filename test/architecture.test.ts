// The layering of src/ as docs/architecture.md states it: the test reads the doc's table, so the doc and the
// rule cannot drift apart.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const src = path.join(root, 'src');

interface SourceFile {
  readonly file: string; // relative to src/, e.g. 'core/errors.ts'
  readonly folder: string; // 'core', or 'index.ts' for files directly in src/
  readonly text: string;
  readonly imports: readonly string[]; // import specifiers as written
}

function listSources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'proto' ? [] : listSources(full); // generated protobuf code
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

function readSources(): SourceFile[] {
  return listSources(src).map((full) => {
    const file = path.relative(src, full).split(path.sep).join('/');
    const text = fs.readFileSync(full, 'utf8');
    const imports = [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1] as string);
    return { file, folder: file.includes('/') ? (file.split('/')[0] as string) : file, text, imports };
  });
}

/** The doc's "folder | may import" table. */
function readAllowedImports(): Map<string, Set<string>> {
  const doc = fs.readFileSync(path.join(root, 'docs', 'architecture.md'), 'utf8');
  const table = doc.slice(doc.indexOf('<!-- the architecture test reads this table'));
  const rows = [...table.matchAll(/^\| ([\w.]+) \|([^|\n]*)\|$/gm)].filter((m) => m[1] !== 'folder');
  return new Map(rows.map((m) => [m[1] as string, new Set((m[2] as string).split(',').map((s) => s.trim()).filter(Boolean))]));
}

/** The src/ file a relative specifier points to, or undefined for a package import. */
function resolveLocal(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier)).replace(/\.js$/, '.ts');
  return target;
}

function folderOf(file: string): string {
  return file.includes('/') ? (file.split('/')[0] as string) : file;
}

const sources = readSources();
const allowed = readAllowedImports();

describe('architecture (docs/architecture.md)', () => {
  it('the table names every folder of src/', () => {
    const folders = new Set(sources.map((s) => s.folder));
    expect([...folders].filter((f) => !allowed.has(f))).toEqual([]);
    expect(allowed.get('core')?.size).toBe(0);
  });

  it('every folder imports only the folders its row allows', () => {
    const violations: string[] = [];
    for (const source of sources) {
      const may = allowed.get(source.folder) ?? new Set<string>();
      for (const specifier of source.imports) {
        const target = resolveLocal(source.file, specifier);
        if (target === undefined) continue;
        if (target.startsWith('..')) {
          violations.push(`${source.file} imports ${specifier}, outside src/`);
          continue;
        }
        const targetFolder = folderOf(target);
        if (targetFolder !== source.folder && !may.has(targetFolder)) violations.push(`${source.file} -> ${target}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('core/ imports nothing but Node built-ins', () => {
    const packages = sources
      .filter((s) => s.folder === 'core')
      .flatMap((s) => s.imports.filter((i) => !i.startsWith('./') && !i.startsWith('node:')).map((i) => `${s.file}: ${i}`));
    expect(packages).toEqual([]);
  });

  it('only native/ loads native code', () => {
    const loaders = sources
      .filter((s) => s.folder !== 'native')
      .filter((s) => /\bcreateRequire\b|process\.dlopen|require\([^)]*\.node['"`]/.test(s.text.replace(/^\s*(\/\/|\*).*$/gm, '')))
      .map((s) => s.file);
    expect(loaders).toEqual([]);
  });

  it('no import cycle between files', () => {
    const graph = new Map(sources.map((s) => [s.file, s.imports.map((i) => resolveLocal(s.file, i)).filter((t): t is string => t !== undefined)]));
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, trail: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...trail.slice(trail.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) visit(next, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });
});
