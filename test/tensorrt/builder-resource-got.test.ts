/**
 * Like builder-resource.test.ts, with a fixture libnvinfer that calls dlopen through its address (a GOT slot with
 * an R_X86_64_GLOB_DAT relocation, in the RELRO part made read-only after loading). See builder-resource-fixture.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tensorRTModulePath } from '../../src/native/index.js';
import { bridgeBuilt, createBuilder, dlopenRelocations, loadFixture, makeFixture } from './builder-resource-fixture.js';

const built = fs.existsSync(tensorRTModulePath(10));
let dir: string;

beforeAll(() => {
  if (built) dir = makeFixture('got');
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!built)('builder resources beside libnvinfer: dlopen called through its address', () => {
  it('the fixture imports dlopen through a GLOB_DAT slot', () => {
    if (process.arch === 'x64') expect(dlopenRelocations(path.join(dir, 'libnvinfer.so.10'))).toEqual(['R_X86_64_GLOB_DAT']);
  });

  it.skipIf(!bridgeBuilt)("redirects libnvinfer's dlopen, so that the resources are found in its folder", async () => {
    const loaded = loadFixture(dir);
    expect(loaded.ok).toBe(true);
    expect(loaded.builderResourceProblems).toEqual([]);
    expect(loaded.builderResourceHooked).toBe(true);
    const { lines } = await createBuilder(dir);
    expect(lines[0]).toMatch(/^unhooked failed: .*cannot open shared object file/);
    expect(lines.slice(1, 3)).toEqual(['all ok', 'sm90 ok']);
    expect(lines[3]).toMatch(/^other failed: libtrt_int8_absent\.so\.1: cannot open shared object file/);
  });
});
