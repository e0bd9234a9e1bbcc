/**
 * TENSORRT_ROOT alone must be enough to build (issue #9): libnvinfer's dlopen of its builder resource by bare name
 * is redirected to libnvinfer's folder. This file: a fixture libnvinfer that calls dlopen directly (a PLT slot,
 * R_X86_64_JUMP_SLOT), as a plain C or C++ call compiles. See builder-resource-fixture.ts; the GLOB_DAT variant and
 * the one nothing can be redirected in have their own files (one TensorRT per process). Needs the built TensorRT
 * 10 module (npm run build:tensorrt; skipped where it is not built) and, for the build job, the core addon's bridge.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tensorRTModulePath } from '../../src/native/index.js';
import { bridgeBuilt, createBuilder, dlopenRelocations, loadFixture, makeFixture } from './builder-resource-fixture.js';

const built = fs.existsSync(tensorRTModulePath(10));
let dir: string;

beforeAll(() => {
  if (built) dir = makeFixture('plt');
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!built)('builder resources beside libnvinfer: dlopen called through the PLT', () => {
  it('the fixture imports dlopen through a PLT slot, and its resources are only in its folder', () => {
    if (process.arch === 'x64') expect(dlopenRelocations(path.join(dir, 'libnvinfer.so.10'))).toEqual(['R_X86_64_JUMP_SLOT']);
    expect(process.env.LD_LIBRARY_PATH ?? '').not.toContain(dir);
  });

  it("redirects libnvinfer's dlopen and lists the resources beside it", () => {
    const loaded = loadFixture(dir);
    expect(loaded.error).toBeUndefined();
    expect(loaded.ok).toBe(true);
    expect(loaded.builderResourceProblems).toEqual([]);
    expect(loaded.builderResourceHooked).toBe(true);
    expect(loaded.builderResources).toEqual([
      path.join(dir, 'libnvinfer_builder_resource.so.10.6.0'),
      path.join(dir, 'libnvinfer_builder_resource_sm90.so.10.6.0'),
    ]);
  });

  it.skipIf(!bridgeBuilt)('a resource dlopened by bare name when the builder is created is found in libnvinfer\'s folder', async () => {
    expect(loadFixture(dir).ok).toBe(true);
    const { runError, lines } = await createBuilder(dir);
    expect(runError).toMatch(/^createInferBuilder failed/); // the fixture returns no builder
    // The real dlopen, by bare name: not found, as on the H200 (issue #9); the SONAME does not match either.
    expect(lines[0]).toMatch(/^unhooked failed: .*libnvinfer_builder_resource\.so\.10\.6\.0.*cannot open shared object file/);
    // libnvinfer's own calls: the all-GPU name and a per-SM name (prefix match), each the right object.
    expect(lines.slice(1, 3)).toEqual(['all ok', 'sm90 ok']);
    // Other names go to the real dlopen unchanged.
    expect(lines[3]).toMatch(/^other failed: libtrt_int8_absent\.so\.1: cannot open shared object file/);
  });
});
