// `npm test` on a fresh clone must not need a compiler: its pretest step (scripts/build-native.cjs --if-stale) uses
// the prebuilt addon when that was built from the current cpp/ sources, and only warns when it cannot rebuild.
// Each case runs on a copy of the pieces the step reads, with a PATH that holds node and nothing else.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXPECTED_ABI_VERSION } from '../../src/native/index.js';

const root = path.resolve(__dirname, '..', '..');
const PREBUILT = 'prebuilds/linux-x64/trt-int8.glibc.node';
const BUILT = 'build/Release/trt_int8_core.node';
const onLinuxX64 = process.platform === 'linux' && process.arch === 'x64';

let tmp: string | undefined;
afterEach(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
});

/** A checkout without build/ (as cloned), and a bin folder with only node in it. */
function freshClone(): { checkout: string; pathWithoutCompilers: string } {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-pretest-'));
  const checkout = path.join(tmp, 'checkout');
  for (const part of ['package.json', 'scripts/build-native.cjs', 'cpp/binding.gyp', 'cpp/core', 'prebuilds']) {
    fs.cpSync(path.join(root, part), path.join(checkout, part), { recursive: true });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(checkout, 'node_modules'));
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  return { checkout, pathWithoutCompilers: bin };
}

function pretest(checkout: string, PATH: string) {
  const result = spawnSync(process.execPath, ['scripts/build-native.cjs', '--if-stale'], { cwd: checkout, env: { ...process.env, PATH }, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Loads the addon the way the package does (node-gyp-build: build/Release first, then prebuilds/). */
function loadAddon(checkout: string, PATH: string): { file: string; abiVersion: number; modules: string[] } {
  const script = "const file = require('node-gyp-build').resolve('.'); const m = require(file); console.log(JSON.stringify({ file, abiVersion: m.abiVersion, modules: m.modules }))";
  const result = spawnSync(process.execPath, ['-e', script], { cwd: checkout, env: { ...process.env, PATH }, encoding: 'utf8' });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as { file: string; abiVersion: number; modules: string[] };
}

describe.runIf(onLinuxX64)('pretest step without make, g++, cc or python3 on PATH', () => {
  it('the machine under test really lacks them on that PATH', () => {
    const { pathWithoutCompilers } = freshClone();
    for (const tool of ['make', 'g++', 'cc', 'python3']) {
      expect(spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { env: { PATH: pathWithoutCompilers } }).status, tool).not.toBe(0);
    }
  });

  it('exits 0 without building, and the prebuilt addon loads', () => {
    const { checkout, pathWithoutCompilers } = freshClone();
    const { status, output } = pretest(checkout, pathWithoutCompilers);
    expect(output).not.toMatch(/warning/);
    expect(status).toBe(0);
    expect(fs.existsSync(path.join(checkout, BUILT))).toBe(false);
    const addon = loadAddon(checkout, pathWithoutCompilers);
    expect(addon.file).toBe(path.join(checkout, PREBUILT));
    expect(addon.abiVersion).toBe(EXPECTED_ABI_VERSION);
    expect(addon.modules).toEqual(expect.arrayContaining(['stats', 'bridge', 'cuda']));
  });

  it('removes a build/Release made from other sources, which would shadow the matching prebuild', () => {
    const { checkout, pathWithoutCompilers } = freshClone();
    const built = path.join(checkout, BUILT);
    fs.mkdirSync(path.dirname(built), { recursive: true });
    fs.copyFileSync(path.join(checkout, PREBUILT), built);
    fs.writeFileSync(`${built}.sources-sha256`, `${'0'.repeat(64)}  other sources\n`);
    const { status, output } = pretest(checkout, pathWithoutCompilers);
    expect(status).toBe(0);
    expect(output).toMatch(/removed build\/Release\/trt_int8_core\.node/);
    expect(loadAddon(checkout, pathWithoutCompilers).file).toBe(path.join(checkout, PREBUILT));
  });

  it('with changed cpp/ sources, warns that the prebuild is stale, exits 0, and the addon still loads', () => {
    const { checkout, pathWithoutCompilers } = freshClone();
    fs.appendFileSync(path.join(checkout, 'cpp/core/addon.cc'), '\n// an edit\n');
    const { status, output } = pretest(checkout, pathWithoutCompilers);
    expect(status).toBe(0);
    expect(output).toMatch(/warning: cpp\/ changed since prebuilds\/linux-x64\/trt-int8\.glibc\.node was built/);
    expect(output).toMatch(/STALE/);
    expect(output).toMatch(/missing: make, a C\+\+ compiler \(g\+\+ or clang\+\+\), python3/);
    expect(loadAddon(checkout, pathWithoutCompilers).abiVersion).toBe(EXPECTED_ABI_VERSION);
  });
});
