#!/usr/bin/env node
// Builds the core addon from source with node-gyp, offline: where node-gyp has no header cache
// for this Node version, it is pointed at the headers installed with Node itself.
// Usage: node scripts/build-native.js [--prebuild] [--debug]
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);

function nodeHeaderArgs() {
  const cacheDirs = [
    process.env.npm_config_devdir,
    path.join(os.homedir(), '.cache', 'node-gyp', process.versions.node),
    path.join(os.homedir(), '.node-gyp', process.versions.node),
  ].filter(Boolean);
  if (cacheDirs.some((d) => fs.existsSync(path.join(d, 'include', 'node', 'node_api.h')))) return [];
  const prefix = path.resolve(process.execPath, '..', '..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return [`--nodedir=${prefix}`];
  console.error(
    `trt-int8: no Node headers found (looked in ${cacheDirs.join(', ')} and ${prefix}/include/node).\n` +
      '  Possible fixes: install your distribution\'s Node development headers (e.g. Debian "libnode-dev"),\n' +
      '  or run "npx node-gyp install" once while online.',
  );
  process.exit(1);
}

// --if-stale: skip when build/Release is newer than every native source (used by `npm test`).
function isFresh() {
  const out = path.join(root, 'build', 'Release', 'trt_int8_core.node');
  if (!fs.existsSync(out)) return false;
  const built = fs.statSync(out).mtimeMs;
  const sources = [path.join(root, 'binding.gyp'), ...fs.readdirSync(path.join(root, 'cpp', 'core')).map((f) => path.join(root, 'cpp', 'core', f))];
  return sources.every((f) => fs.statSync(f).mtimeMs <= built);
}
if (args.includes('--if-stale') && isFresh()) process.exit(0);

const headers = nodeHeaderArgs();
// node-gyp reads npm_config_nodedir, which also reaches the node-gyp that prebuildify spawns.
const env = { ...process.env };
if (headers.length) env.npm_config_nodedir = headers[0].slice('--nodedir='.length);
const gyp = require.resolve('node-gyp/bin/node-gyp.js', {
  paths: [root, path.resolve(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules')],
});

function run(cmd, cmdArgs) {
  console.log(`> ${path.basename(cmd)} ${cmdArgs.join(' ')}`);
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (args.includes('--prebuild')) {
  // --napi tags the binary for every Node that has N-API 8; --strip keeps the committed file small.
  env.PREBUILD_NODE_GYP = `"${process.execPath}" "${gyp}"`;
  env.PREBUILD_SHELL = "/bin/sh"; // so that the command above, with its arguments, is run through a shell
  run(process.execPath, [require.resolve('prebuildify/bin.js'), '--napi', '--strip', '--tag-libc', '--target', process.versions.node]);
} else {
  const jobs = ['-j', String(Math.max(1, os.cpus().length))];
  run(process.execPath, [gyp, 'rebuild', ...jobs, ...(args.includes('--debug') ? ['--debug'] : [])]);
}
