// Packed-tarball smoke test: what a user gets from `npm install trt-int8`, not what the checkout has.
// Builds dist/ when missing or stale, packs it, installs the tarball into a fresh project (dependencies
// from the npm cache, offline), then loads the package both ways, runs its CLI, and type-checks a consumer project
// against its declarations with TypeScript's default checks (no skipLibCheck).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
const DIST_FILES = ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/cli.cjs'];

/** The public names this package must export from both entry points. */
const EXPECTED_EXPORTS = [
  // errors
  'TrtInt8Error',
  'ErrorCodes',
  'isTrtInt8Error',
  // calibrators
  'Calibrator',
  'EntropyCalibrator2',
  'EntropyCalibrator',
  'MinMaxCalibrator',
  'LegacyCalibrator',
  'PercentileCalibrator',
  'calibratorFromBatches',
  'validateBatch',
  'nextValidatedBatch',
  'resolveAlgorithm',
  // cache
  'parseCalibrationCache',
  'formatCalibrationCache',
  'checkCalibrationCacheHeader',
  'tensorRTVersionCode',
  'cacheAlgorithmName',
  'scaleToHex',
  'hexToScale',
  'writeFileAtomic',
  // capabilities
  'capabilities',
  'locateTensorRT',
  'probeCuda',
  // the TensorRT back end
  'buildEngine',
];

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(file) : fs.statSync(file).mtimeMs);
  }
  return newest;
}

function distIsCurrent(): boolean {
  const outputs = DIST_FILES.map((f) => path.join(root, f));
  if (!outputs.every((f) => fs.existsSync(f))) return false;
  const built = Math.min(...outputs.map((f) => fs.statSync(f).mtimeMs));
  const inputs = Math.max(newestMtime(path.join(root, 'src')), ...['package.json', 'tsup.config.ts', 'tsconfig.json'].map((f) => fs.statSync(path.join(root, f)).mtimeMs));
  return built >= inputs;
}

/**
 * A command's exit status and output. Asynchronous on purpose: npm install and tsc take a minute on a busy machine,
 * and a synchronous spawn would block the test worker long enough for vitest's own messages to time out.
 */
function exec(cmd: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }): Promise<{ status: number | null; output: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env, timeout: options.timeout ?? 180_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status: status ?? (signal ? -1 : null), output: `${stdout}${stderr}`, stdout }));
  });
}

/** Runs a command that must succeed; its stdout. */
async function run(cmd: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<string> {
  const result = await exec(cmd, args, options);
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${result.status}):\n${result.output}`);
  return result.stdout;
}

// The packaged addon must be found the way a user's install finds it, not through our override.
const env: NodeJS.ProcessEnv = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_update_notifier: 'false' };
delete env.TRT_INT8_ADDON_PATH;

let tmp: string;
let project: string;
let tarballFiles: string[];
let tarballSize: { packed: number; unpacked: number };

beforeAll(async () => {
  if (!distIsCurrent()) {
    // Serialised with other builds of the shared dist/ folder (tsup cleans it first).
    const lock = spawnSync('flock', ['--version']).status === 0;
    await run(lock ? 'flock' : 'npm', lock ? [path.join(os.tmpdir(), 'trt-int8-dist.lock'), 'npm', 'run', 'build:ts'] : ['run', 'build:ts'], { cwd: root, env });
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-pack-'));
  const packed = JSON.parse(await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], { cwd: root, env })) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
  const tarball = path.join(tmp, packed[0]!.filename);
  tarballFiles = packed[0]!.files.map((f) => f.path);
  tarballSize = { packed: packed[0]!.size, unpacked: packed[0]!.unpackedSize };
  project = path.join(tmp, 'app');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'trt-int8-pack-smoke', version: '1.0.0', private: true }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--offline', '--ignore-scripts=false', tarball], { cwd: project, env });
}, 180_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('packed tarball (npm pack + npm install)', () => {
  it('ships the built package, its license, changelog and docs, and not the sources', () => {
    for (const f of [...DIST_FILES, 'package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'docs/guide.md', 'docs/api/README.md']) expect(tarballFiles).toContain(f);
    expect(tarballFiles).toContain('prebuilds/linux-x64/trt-int8.glibc.node');
    const unwanted = (f: string) =>
      /^(src|test|bench|scripts|cpp|third_party|\.ci)\//.test(f) || f.endsWith('.map') || f.endsWith('.cc') || f.endsWith('.h') || f.endsWith('.sources-sha256') || f.includes('test_driver');
    expect(tarballFiles.filter(unwanted)).toEqual([]);
    // No binding.gyp anywhere: npm rebuild and installers run node-gyp when one is at the package root.
    expect(tarballFiles.filter((f) => f.endsWith('binding.gyp'))).toEqual([]);
    expect(fs.readFileSync(path.join(project, 'node_modules', 'trt-int8', 'LICENSE'), 'utf8')).toMatch(/Apache License\s+Version 2\.0, January 2004/);
  });

  it('stays lean: under 1 MB packed and 3 MB unpacked', () => {
    expect(tarballSize.packed).toBeLessThan(1_000_000);
    expect(tarballSize.unpacked).toBeLessThan(3_000_000);
  });

  it('has working relative links in its README and docs/ (they resolve inside the installed package)', () => {
    const installed = path.join(project, 'node_modules', 'trt-int8');
    // The README and docs/ (the pages it links to); examples/fashion-mnist/MODEL.md ships only as a link target.
    const markdown = tarballFiles.filter((f) => f === 'README.md' || (f.startsWith('docs/') && f.endsWith('.md')));
    const broken: string[] = [];
    let checked = 0;
    for (const file of markdown) {
      const text = fs.readFileSync(path.join(installed, file), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/i.test(target!)) continue;
        checked++;
        if (!fs.existsSync(path.resolve(installed, path.dirname(file), target!))) broken.push(`${file} -> ${target}`);
      }
    }
    expect(checked).toBeGreaterThan(10);
    expect(broken).toEqual([]);
  });

  it('`npm rebuild` compiles nothing (no node-gyp, no install script)', async () => {
    const result = await exec('npm', ['rebuild', 'trt-int8', '--foreground-scripts'], { cwd: project, env });
    expect(result.status).toBe(0);
    expect(result.output).not.toMatch(/gyp|make|g\+\+/);
    expect(fs.existsSync(path.join(project, 'node_modules', 'trt-int8', 'build'))).toBe(false);
  }, 180_000);

  it('exposes the public API through require()', async () => {
    const out = await run(process.execPath, ['-e', "const m = require('trt-int8'); console.log(JSON.stringify(Object.keys(m)))"], { cwd: project, env });
    const names = JSON.parse(out) as string[];
    for (const name of EXPECTED_EXPORTS) expect(names, name).toContain(name);
  });

  it('exposes the same API through import()', async () => {
    const script = "const m = await import('trt-int8'); const c = new (class extends m.EntropyCalibrator2 { getBatch() { return null; } })(); console.log(JSON.stringify({ names: Object.keys(m), kind: c.algorithm.kind }))";
    const out = JSON.parse(await run(process.execPath, ['--input-type=module', '-e', script], { cwd: project, env })) as { names: string[]; kind: string };
    for (const name of EXPECTED_EXPORTS) expect(out.names, name).toContain(name);
    expect(out.kind).toBe('entropy2');
  });

  it('runs `npx trt-int8 doctor --json` and prints the capability report', async () => {
    const out = await run('npx', ['--no-install', 'trt-int8', 'doctor', '--json'], { cwd: project, env });
    const report = JSON.parse(out) as { addon: { loaded: boolean; error?: { code: string; fixes: string[] } }; backends: Record<string, { usable: boolean }> };
    // The addon loads exactly when the tarball carries a prebuilt binary (there is no install-time build).
    const hasPrebuild = tarballFiles.some((f) => f.startsWith('prebuilds/') && f.endsWith('.node'));
    expect(report.addon.loaded).toBe(hasPrebuild);
    if (!report.addon.loaded) {
      expect(report.addon.error?.code).toBe('ERR_ADDON_NOT_FOUND');
      expect(report.addon.error?.fixes.length).toBeGreaterThan(0);
    }
    expect(Object.keys(report.backends).sort()).toEqual(['implicitCalibration', 'qdq', 'statistics']);
  });
});

/** A consumer's code: a calibrator subclass and a few of the public functions and types. */
const CONSUMER_ESM = `import { EntropyCalibrator2, TrtInt8Error, buildEngine, calibratorFromBatches, capabilities, parseCalibrationCache } from 'trt-int8';
class Mine extends EntropyCalibrator2 { getBatch() { return null; } }
const calibrator: EntropyCalibrator2 = new Mine();
const failure: TrtInt8Error | undefined = undefined;
console.log(calibrator.algorithm.kind, failure, buildEngine, calibratorFromBatches, capabilities, parseCalibrationCache);
`;
const CONSUMER_CJS = `import trt = require('trt-int8');
class Mine extends trt.EntropyCalibrator2 { getBatch() { return null; } }
const calibrator: trt.EntropyCalibrator2 = new Mine();
console.log(calibrator.algorithm.kind, trt.buildEngine, trt.capabilities);
`;

/** tsc checks all of @types/node each time: seconds on an idle machine, a minute or more on a busy one. */
const TSC_TIMEOUT = 240_000;

describe('type declarations in a consumer project (tsc, no skipLibCheck)', () => {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

  beforeAll(() => {
    // What a TypeScript consumer on Node has besides trt-int8: @types/node (and its undici-types), copied so no
    // network is needed.
    for (const dep of ['@types/node', 'undici-types']) {
      fs.cpSync(path.join(root, 'node_modules', dep), path.join(project, 'node_modules', dep), { recursive: true, dereference: true });
    }
    fs.writeFileSync(path.join(project, 'consumer.ts'), CONSUMER_ESM);
    fs.writeFileSync(path.join(project, 'consumer.mts'), CONSUMER_ESM);
    fs.writeFileSync(path.join(project, 'consumer.cts'), CONSUMER_CJS);
  });

  function typecheck(args: string[]): Promise<{ status: number | null; output: string }> {
    return exec(process.execPath, [tsc, '--noEmit', ...args], { cwd: project, env, timeout: TSC_TIMEOUT });
  }

  it('declarations import nothing from devDependencies or packages that are not dependencies', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(project, 'node_modules', 'trt-int8', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const file of ['dist/index.d.ts', 'dist/index.d.cts']) {
      const text = fs.readFileSync(path.join(project, 'node_modules', 'trt-int8', file), 'utf8');
      const imported = [...text.matchAll(/(?:from|import\()\s*['"]([^'".][^'"]*)['"]/g)].map((m) => m[1]!);
      for (const name of imported) expect(Object.keys(pkg.dependencies), `${file} imports ${name}`).toContain(name.startsWith('@') ? name.split('/').slice(0, 2).join('/') : name.split('/')[0]);
    }
  });

  // TypeScript's defaults (module commonjs, node10 resolution, no esModuleInterop) but for the target: the default,
  // ES5, cannot express the classes' #private members, and Node 20 runs ES2022.
  it('compiles with default settings (CommonJS, node10 resolution) and --strict', async () => {
    const { status, output } = await typecheck(['--target', 'es2022', '--module', 'commonjs', '--strict', 'consumer.ts']);
    expect(output).toBe('');
    expect(status).toBe(0);
  }, TSC_TIMEOUT);

  // With types: [] as TypeScript 6 and 7 default to: the declarations must pull in Node's types themselves.
  it('compiles as an ES module and as CommonJS under --module nodenext with types: [] (the exports map: index.d.ts and index.d.cts)', async () => {
    const tsconfig = { compilerOptions: { module: 'nodenext', strict: true, noEmit: true, types: [] }, files: ['consumer.mts', 'consumer.cts'] };
    fs.writeFileSync(path.join(project, 'tsconfig.nodenext.json'), JSON.stringify(tsconfig));
    const { status, output } = await typecheck(['-p', 'tsconfig.nodenext.json']);
    expect(output).toBe('');
    expect(status).toBe(0);
  }, TSC_TIMEOUT);

  it('reports a real type error in the consumer (the check is live)', async () => {
    fs.writeFileSync(path.join(project, 'wrong.ts'), "import { EntropyCalibrator2 } from 'trt-int8';\nconst c: EntropyCalibrator2 = 42;\n");
    const { status, output } = await typecheck(['--target', 'es2022', '--module', 'commonjs', 'wrong.ts']);
    expect(status).not.toBe(0);
    expect(output).toMatch(/TS2322/);
  }, TSC_TIMEOUT);
});
