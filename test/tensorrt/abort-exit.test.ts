/**
 * Issue #15: abort rejects at once, not when TensorRT next looks at its progress monitor, and a process that exits
 * right after (process.exit runs no environment cleanup hook) waits for the build thread to leave TensorRT instead of
 * tearing the library down under it (the H200 runs of 2026-11-29 crashed at exit that way). Needs the built TensorRT 10
 * module (npm run build:tensorrt; skipped where it is not built).
 *
 * The TensorRT is a fixture compiled on the spot, not TensorRT: its createInferBuilder sleeps, writes a marker file,
 * and fails, standing for a builder busy in a step where it does not check for cancellation.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tensorRTModulePath } from '../../src/native/index.js';
import { logError, makeFixtureTensorRT } from './fixture-tensorrt.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(here, '../..');
const built = fs.existsSync(tensorRTModulePath(10));
const BUILDER_SLEEP_MS = 1500;
let dir: string;

beforeAll(() => {
  if (!built) return;
  dir = makeFixtureTensorRT('trt-int8-abort-exit-', [
    `usleep(${BUILDER_SLEEP_MS} * 1000);`,
    'FILE* f = fopen(getenv("FIXTURE_MARKER"), "w");',
    'if (f) { fputs("returned", f); fclose(f); }',
    logError('fixture builder: no builder'),
  ]);
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!built)('abort during a build, then process.exit', () => {
  it('rejects before TensorRT returns, and the exit waits for TensorRT to return', () => {
    const marker = path.join(dir, 'returned');
    const viteNode = path.join(REPO, 'node_modules/vite-node/vite-node.mjs');
    const child = spawnSync(process.execPath, [viteNode, path.join(here, 'abort-exit-child.ts')], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, FIXTURE_TENSORRT_ROOT: dir, FIXTURE_MARKER: marker },
    });
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    const report = JSON.parse(child.stdout.trim().split('\n').pop()!);
    expect(report).toEqual({ rejectedWithReason: true, tensorrtReturnedBeforeRejection: false });
    // The child called process.exit while the fixture builder slept; its exit waited for the builder to return.
    expect(fs.readFileSync(marker, 'utf8')).toBe('returned');
  });
});
