#!/usr/bin/env node
// The core addon, three ways:
//   node scripts/build-native.cjs [--debug]  build from source with node-gyp (cpp/binding.gyp) into build/Release,
//                                            offline: without node-gyp's header cache, Node's own headers are used.
//   node scripts/build-native.cjs --if-stale what `npm test` runs first: nothing when the prebuilt addon (or an
//                                            earlier build) was made from the current cpp/ sources; a build when
//                                            they changed and a compiler is there; else a warning, and the stale
//                                            prebuild is used. Never fails for want of a compiler.
//   node scripts/build-native.cjs --prebuild the committed prebuild, prebuilds/linux-x64/trt-int8.glibc.node, for an
//                                            old baseline (glibc 2.28, libc++ linked statically, so no GLIBCXX
//                                            requirement) with zig's clang from PyPI (pip install ziglang).
// Each build records the hash of its sources beside the binary (SOURCES_HASH_NOTE), which is how --if-stale knows.
'use strict';
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');

const root = path.resolve(__dirname, '..');
const cppDir = path.join(root, 'cpp');
const coreDir = path.join(cppDir, 'core');
const BUILT = path.join(root, 'build', 'Release', 'trt_int8_core.node');
const PREBUILT = path.join(root, 'prebuilds', 'linux-x64', 'trt-int8.glibc.node');
/** The baseline of the prebuild: the oldest glibc it runs on (zig's target triple names it). */
const PREBUILD_GLIBC = '2.28';
const SOURCES_HASH_NOTE = 'sha256 of cpp/binding.gyp and cpp/core/** (scripts/build-native.cjs)';

function log(message) {
  console.log(`trt-int8: ${message}`);
}

// --- what the sources are ---------------------------------------------------------------------------------------

function filesUnder(dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? filesUnder(path.join(dir, entry.name)) : [path.join(dir, entry.name)]));
}

/** One hash of every input of the addon: file names (relative, '/'-separated) and contents, in sorted order. */
function sourcesHash() {
  const files = [path.join(cppDir, 'binding.gyp'), ...filesUnder(coreDir)]
    .map((file) => ({ name: path.relative(root, file).split(path.sep).join('/'), file }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const hash = crypto.createHash('sha256');
  for (const { name, file } of files) hash.update(name).update('\0').update(fs.readFileSync(file)).update('\0');
  return hash.digest('hex');
}

/** The file beside a built addon that says which sources it was built from. */
function hashFileOf(addon) {
  return `${addon}.sources-sha256`;
}

function recordedHash(addon) {
  try {
    if (!fs.existsSync(addon)) return undefined;
    return fs.readFileSync(hashFileOf(addon), 'utf8').split(/\s/)[0];
  } catch {
    return undefined;
  }
}

function recordHash(addon, hash) {
  fs.writeFileSync(hashFileOf(addon), `${hash}  ${SOURCES_HASH_NOTE}\n`);
}

// --- what this machine has ---------------------------------------------------------------------------------------

function onPath(command) {
  if (path.isAbsolute(command)) return fs.existsSync(command);
  return (process.env.PATH || '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, command), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** What node-gyp needs and this machine lacks (empty when it can build). */
function missingBuildTools() {
  const cxx = (process.env.CXX || '').split(' ')[0];
  const missing = [];
  if (!onPath('make')) missing.push('make');
  if (!(cxx ? onPath(cxx) : ['g++', 'c++', 'clang++'].some(onPath))) missing.push('a C++ compiler (g++ or clang++)');
  if (!['python3', 'python'].some(onPath)) missing.push('python3');
  return missing;
}

/**
 * Node's headers (the folder holding include/node/node_api.h): node-gyp's cache, else the headers installed with
 * Node itself. `nodedir` is set only for the latter, to point node-gyp there instead of at a download.
 */
function nodeHeaders() {
  const gypCaches = [
    process.env.npm_config_devdir,
    path.join(os.homedir(), '.cache', 'node-gyp', process.versions.node),
    path.join(os.homedir(), '.node-gyp', process.versions.node),
  ].filter(Boolean);
  const nodePrefix = path.resolve(process.execPath, '..', '..');
  const hasHeaders = (dir) => fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h'));
  const cache = gypCaches.find(hasHeaders);
  if (cache) return { include: path.join(cache, 'include', 'node'), nodedir: undefined };
  if (hasHeaders(nodePrefix)) return { include: path.join(nodePrefix, 'include', 'node'), nodedir: nodePrefix };
  const candidates = [...gypCaches, nodePrefix];
  console.error(
    `trt-int8: no Node headers found (looked in ${candidates.join(', ')}).\n` +
      '  Possible fixes: install your distribution\'s Node development headers (e.g. Debian "libnode-dev"),\n' +
      '  or run "npx node-gyp install" once while online.',
  );
  process.exit(1);
}

function run(cmd, cmdArgs, options) {
  console.log(`> ${path.basename(cmd)} ${cmdArgs.join(' ')}`);
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', ...options });
  if (r.error) {
    console.error(`trt-int8: could not run ${cmd}: ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// --- the three builds --------------------------------------------------------------------------------------------

/** node-gyp in cpp/ (where binding.gyp is), then the addon copied to build/Release, where node-gyp-build looks. */
function buildFromSource(debug) {
  const hash = sourcesHash();
  const { nodedir } = nodeHeaders();
  // node-gyp reads npm_config_nodedir, so it uses Node's own headers instead of attempting a download.
  const env = nodedir ? { ...process.env, npm_config_nodedir: nodedir } : { ...process.env };
  const gyp = require.resolve('node-gyp/bin/node-gyp.js', {
    paths: [root, path.resolve(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules')],
  });
  const jobs = ['-j', String(Math.max(1, os.cpus().length))];
  run(process.execPath, [gyp, 'rebuild', ...jobs, ...(debug ? ['--debug'] : [])], { cwd: cppDir, env });
  const built = path.join(cppDir, 'build', debug ? 'Debug' : 'Release', 'trt_int8_core.node');
  const target = debug ? path.join(root, 'build', 'Debug', 'trt_int8_core.node') : BUILT;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(built, target);
  recordHash(target, hash);
  log(`built ${path.relative(root, target)}`);
}

/** The zig command: `zig` on PATH, else the one from PyPI's ziglang package. */
function zigCommand() {
  if (process.env.ZIG) return process.env.ZIG.split(' ');
  for (const python of ['python3', 'python']) {
    if (spawnSync(python, ['-c', 'import ziglang'], { stdio: 'ignore' }).status === 0) return [python, '-m', 'ziglang'];
  }
  if (onPath('zig')) return ['zig'];
  console.error(
    'trt-int8: --prebuild needs zig (the prebuild is cross-compiled for an old glibc baseline).\n' +
      '  Possible fixes: python3 -m pip install ziglang, or put zig on PATH, or set ZIG to its command.',
  );
  process.exit(1);
}

/**
 * prebuilds/linux-x64/trt-int8.glibc.node for glibc >= PREBUILD_GLIBC: zig links against that glibc's symbol
 * versions and links its libc++ statically, so the binary asks for no GLIBCXX version. Hidden visibility keeps
 * libc++'s symbols out of the dynamic table (only napi_register_module_v1 is exported).
 */
function buildPrebuild() {
  const hash = sourcesHash();
  const [zig, ...zigArgs] = zigCommand();
  const sources = fs.readdirSync(coreDir).filter((f) => f.endsWith('.cc')).sort().map((f) => path.join(coreDir, f));
  const napiInclude = path.resolve(root, require('node-addon-api').include_dir);
  fs.mkdirSync(path.dirname(PREBUILT), { recursive: true });
  const partial = `${PREBUILT}.partial`;
  run(zig, [
    ...zigArgs, 'c++', '-target', `x86_64-linux-gnu.${PREBUILD_GLIBC}`,
    '-shared', '-fPIC', '-O3', '-std=c++17', '-fvisibility=hidden', '-fexceptions', '-frtti',
    '-DNAPI_VERSION=8', '-DNODE_ADDON_API_DISABLE_DEPRECATED', '-DNAPI_CPP_EXCEPTIONS', '-DNDEBUG',
    `-I${nodeHeaders().include}`, `-I${napiInclude}`, `-I${coreDir}`,
    ...sources, '-o', partial, '-pthread', '-ldl', '-s',
  ]);
  fs.renameSync(partial, PREBUILT);
  recordHash(PREBUILT, hash);
  log(`built ${path.relative(root, PREBUILT)} (glibc >= ${PREBUILD_GLIBC}, libc++ static) from sources ${hash.slice(0, 12)}`);
}

/**
 * Before `npm test`: the addon the tests load must be built from the current sources when that is possible, and
 * `npm test` must never fail merely because this machine cannot compile. node-gyp-build prefers build/Release over
 * prebuilds/, so a build/Release made from other sources is rebuilt, or removed where the prebuild matches.
 */
function ensureCurrentAddon() {
  const hash = sourcesHash();
  if (recordedHash(BUILT) === hash) return;
  const prebuildApplies = process.platform === 'linux' && process.arch === 'x64' && fs.existsSync(PREBUILT);
  const prebuildMatches = prebuildApplies && recordedHash(PREBUILT) === hash;
  if (prebuildMatches) {
    if (fs.existsSync(BUILT)) {
      fs.rmSync(BUILT);
      log(`removed ${path.relative(root, BUILT)}: it was built from other cpp/ sources; the prebuilt addon matches them.`);
    }
    return;
  }
  const missing = missingBuildTools();
  if (missing.length === 0) {
    log('cpp/ changed since the prebuilt addon was made; building it from source.');
    buildFromSource(false);
    return;
  }
  if (!fs.existsSync(BUILT) && !prebuildApplies) {
    console.warn(
      `trt-int8: warning: no prebuilt addon for ${process.platform}-${process.arch}, and this machine cannot build one` +
        ` (missing: ${missing.join(', ')}). The tests that need the native addon will fail.`,
    );
    return;
  }
  const used = fs.existsSync(BUILT) ? BUILT : PREBUILT;
  console.warn(
    `trt-int8: warning: cpp/ changed since ${path.relative(root, used)} was built, and this machine cannot build it` +
      ` (missing: ${missing.join(', ')}).\n  The tests run on that STALE addon. Install the missing tools, or run` +
      ' `npm run build:native` (or `npm run build:prebuild`) where they are, to test your native changes.',
  );
}

module.exports = { sourcesHash, PREBUILT, PREBUILD_GLIBC };

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args.includes('--if-stale')) ensureCurrentAddon();
  else if (args.includes('--prebuild')) buildPrebuild();
  else buildFromSource(args.includes('--debug'));
}
