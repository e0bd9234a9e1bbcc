/**
 * When libnvinfer's dlopen cannot be redirected (here: a fixture libnvinfer that imports no dlopen, reaching it
 * through dlsym), the module changes nothing, says so in builderResourceProblems, and the createInferBuilder error
 * tells the user to put libnvinfer's folder on LD_LIBRARY_PATH. See builder-resource-fixture.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tensorRTModulePath } from '../../src/native/index.js';
import { bridgeBuilt, createBuilder, dlopenRelocations, loadFixture, makeFixture } from './builder-resource-fixture.js';

const built = fs.existsSync(tensorRTModulePath(10));
let dir: string;

beforeAll(() => {
  if (built) dir = makeFixture('nodlopen');
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!built)('builder resources beside libnvinfer: nothing to redirect', () => {
  it('reports the problem with the way out, and the builder error repeats it', async () => {
    expect(dlopenRelocations(path.join(dir, 'libnvinfer.so.10'))).toEqual([]);
    const loaded = loadFixture(dir);
    expect(loaded.ok).toBe(true);
    expect(loaded.builderResourceHooked).toBe(false);
    expect(loaded.builderResourceProblems).toHaveLength(1);
    const problem = loaded.builderResourceProblems![0]!;
    expect(problem).toContain('no relocation for dlopen');
    expect(problem).toContain(`LD_LIBRARY_PATH=${dir}:$LD_LIBRARY_PATH`);
    if (!bridgeBuilt) return;
    const { runError, lines } = await createBuilder(dir);
    expect(runError).toMatch(/^createInferBuilder failed/);
    expect(runError).toContain(problem);
    expect(lines.slice(0, 3).every((line) => / failed: .*cannot open shared object file/.test(line))).toBe(true);
  });
});
