#!/usr/bin/env node
// Builds the TensorRT modules (trt_int8_trt10.node / trt_int8_trt11.node) from cpp/tensorrt/*.cc, one per
// TensorRT major, against TensorRT's headers. Nothing links against TensorRT or CUDA: the modules dlopen
// libnvinfer / libnvonnxparser / libcuda at run time. Not part of `npm run build` or CI (no headers there).
//
// Usage:
//   TENSORRT_INCLUDE=third_party/tensorrt-10.16/include[:third_party/tensorrt-11.1/include] node scripts/build-tensorrt.mjs
//   TENSORRT_ROOT=/opt/tensorrt node scripts/build-tensorrt.mjs          (uses $TENSORRT_ROOT/include)
// Options: --out DIR (default build/tensorrt), --check (syntax only: what `npm run check:tensorrt` runs),
//          --asan (address/undefined sanitizers), --jobs N.
// CUDA_INCLUDE=/usr/local/cuda/include uses the toolkit's cuda_runtime_api.h instead of cpp/tensorrt/cuda_shim.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function usageError(message, fixes) {
  console.error(`trt-int8: ${message}`);
  if (fixes.length) console.error(['Possible solutions:', ...fixes.map((f) => `- ${f}`)].join('\n'));
  process.exit(2);
}

export function parseArgs(argv) {
  const opts = { out: path.join(root, 'build', 'tensorrt'), check: false, asan: false, jobs: Math.max(1, os.cpus().length) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') opts.check = true;
    else if (a === '--asan') opts.asan = true;
    else if (a === '--out') opts.out = path.resolve(argv[++i] ?? '');
    else if (a === '--jobs') opts.jobs = Math.max(1, Number(argv[++i]) || 1);
    else usageError(`unknown argument ${a}`, ['Arguments: --out DIR, --check, --asan, --jobs N']);
  }
  return opts;
}

/** The include folders to build against, from TENSORRT_INCLUDE (':'-separated) or TENSORRT_ROOT/include. */
export function includeDirs(env = process.env) {
  const raw = env.TENSORRT_INCLUDE || (env.TENSORRT_ROOT ? path.join(env.TENSORRT_ROOT, 'include') : '');
  if (!raw) {
    usageError('TENSORRT_INCLUDE is not set, so there are no TensorRT headers to build against.', [
      'Point it at the include folder of a TensorRT 10.x or 11.x release, several separated by ":" ' +
        '(e.g. TENSORRT_INCLUDE=third_party/tensorrt-10.16/include:third_party/tensorrt-11.1/include).',
      'Or set TENSORRT_ROOT to a TensorRT installation (its include/ is used).',
      'Headers: `git archive <release tag> include` of github.com/NVIDIA/TensorRT (see docs/tensorrt.md).',
    ]);
  }
  return raw.split(':').filter(Boolean).map((d) => path.resolve(root, d));
}

/** Reads NV_TENSORRT_MAJOR/MINOR/PATCH from NvInferVersion.h (10.x and 11.x spell them the same way). */
export function headerVersion(includeDir) {
  const file = path.join(includeDir, 'NvInferVersion.h');
  if (!fs.existsSync(file)) {
    usageError(`${file} does not exist: ${includeDir} is not a TensorRT include folder.`, [
      'Point TENSORRT_INCLUDE at the folder that holds NvInfer.h and NvInferVersion.h.',
    ]);
  }
  const text = fs.readFileSync(file, 'utf8');
  const get = (part) => {
    const m = new RegExp(`#define\\s+TRT_${part}_ENTERPRISE\\s+(\\d+)`).exec(text) ?? new RegExp(`#define\\s+NV_TENSORRT_${part}\\s+(\\d+)`).exec(text);
    return m ? Number(m[1]) : NaN;
  };
  const version = { major: get('MAJOR'), minor: get('MINOR'), patch: get('PATCH') };
  if (!Number.isInteger(version.major)) usageError(`could not read the TensorRT version from ${file}.`, []);
  if (version.major !== 10 && version.major !== 11) {
    usageError(`${includeDir} holds TensorRT ${version.major}.${version.minor}: only 10.x and 11.x are supported.`, [
      'Use the headers of a TensorRT 10.x or 11.x release.',
    ]);
  }
  return version;
}

function nodeIncludeDir() {
  const candidates = [path.resolve(process.execPath, '..', '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
  const found = candidates.find((d) => fs.existsSync(path.join(d, 'node_api.h')));
  if (!found) usageError('no Node headers (node_api.h) found.', [`Install them where Node is (${candidates[0]}), e.g. Debian's libnode-dev.`]);
  return found;
}

function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

async function pool(tasks, jobs) {
  const results = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(jobs, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]();
      }
    }),
  );
  return results;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const dirs = includeDirs();
  const sources = fs
    .readdirSync(path.join(root, 'cpp', 'tensorrt'))
    .filter((f) => f.endsWith('.cc'))
    .sort()
    .map((f) => path.join('cpp', 'tensorrt', f));
  const napiInclude = path.resolve(root, require('node-addon-api').include_dir);
  const cudaInclude = process.env.CUDA_INCLUDE ? path.resolve(process.env.CUDA_INCLUDE) : path.join(root, 'cpp', 'tensorrt', 'cuda_shim');
  const sanitize = opts.asan ? ['-fsanitize=address,undefined', '-fno-omit-frame-pointer', '-g', '-O1'] : ['-O2'];
  let failed = false;
  for (const dir of dirs) {
    const version = headerVersion(dir);
    const name = `trt_int8_trt${version.major}`;
    const objDir = path.join(opts.out, 'obj', `${name}-${version.major}.${version.minor}`);
    fs.mkdirSync(objDir, { recursive: true });
    const flags = [
      '-std=c++17', '-fPIC', '-pthread', '-Wall', '-Wextra', '-Wno-unused-parameter', ...sanitize,
      '-DNAPI_VERSION=8', '-DNODE_ADDON_API_DISABLE_DEPRECATED', '-DNAPI_CPP_EXCEPTIONS', `-DTRT_INT8_TRT_MODULE_NAME=${name}`,
      `-I${nodeIncludeDir()}`, `-I${napiInclude}`, `-I${dir}`, `-I${cudaInclude}`, `-I${path.join(root, 'cpp')}`,
    ];
    const label = `TensorRT ${version.major}.${version.minor}.${version.patch} (${path.relative(root, dir) || dir})`;
    console.log(`${opts.check ? 'checking' : 'building'} ${name} against ${label}`);
    // cuda_memory.cc is the core's RAII layer over the dlopen'd driver; each module compiles its own copy.
    const units = [...sources, path.join('cpp', 'core', 'cuda_memory.cc')];
    const results = await pool(
      units.map((src) => async () => {
        const obj = path.join(objDir, path.basename(src).replace(/\.cc$/, '.o'));
        const args = opts.check ? [...flags, '-fsyntax-only', src] : [...flags, '-c', src, '-o', obj];
        const r = await run('g++', args);
        if (r.stderr) process.stderr.write(r.stderr);
        console.log(`  ${r.code === 0 ? 'ok  ' : 'FAIL'} ${src}`);
        return { ok: r.code === 0, obj };
      }),
      opts.jobs,
    );
    if (results.some((r) => !r.ok)) {
      failed = true;
      continue;
    }
    if (opts.check) continue;
    const output = path.join(opts.out, `${name}.node`);
    const tmp = `${output}.tmp-${process.pid}`;
    const link = await run('g++', ['-shared', '-pthread', ...sanitize, ...results.map((r) => r.obj), '-o', tmp, '-ldl']);
    if (link.code !== 0) {
      process.stderr.write(link.stderr);
      failed = true;
      continue;
    }
    fs.renameSync(tmp, output);  // atomic: a loader never sees a half-written module
    console.log(`  built ${path.relative(root, output)}`);
  }
  if (failed) {
    console.error('trt-int8: the TensorRT sources did not compile against every header set above.');
    process.exit(1);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
