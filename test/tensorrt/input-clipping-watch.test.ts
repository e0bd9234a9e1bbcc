/**
 * ClippingWatchCalibrator (the wrapper buildEngine puts around TensorRT's own calibrators): it sees the batches the
 * user's calibrator hands TensorRT and the cache TensorRT writes, and warns when that cache's input range clips many
 * values. TensorRT writes two cache headers: TRT-<version>-<algorithm>, and IInt8LegacyCalibrator's own
 * (`0 <hex f64> <hex f64>`, seen on TensorRT 10.6); the warning must come for both.
 */
import { describe, expect, it } from 'vitest';
import { calibratorFromBatches } from '../../src/calibrators/index.js';
import { scaleToHex } from '../../src/cache/index.js';
import { ClippingWatchCalibrator } from '../../src/tensorrt/input-clipping.js';
import type { Batch } from '../../src/core/index.js';

/** 4 batches of 1,000 values: 90 % in [-1, 1], 10 % reaching out to 4 (a range of amax 1 clips those). */
function batches(): Batch[] {
  return [0, 1, 2, 3].map((b) => {
    const data = new Float32Array(1000);
    for (let i = 0; i < data.length; i++) data[i] = i % 10 === 0 ? 1 + 3 * ((i + b) % 7) / 6 + 0.01 : Math.sin(i + b);
    return { input: { data, shape: [10, 100] } };
  });
}

async function watchedBuild(cacheText: string): Promise<string[]> {
  const inner = calibratorFromBatches(batches(), { algorithm: 'legacy' });
  const watch = new ClippingWatchCalibrator(inner, ['input']);
  for (let i = 0; ; i++) {
    const batch = await watch.getBatch({ inputs: [{ name: 'input', dtype: 'float32', shape: [10, 100] }] as never, batchIndex: i, signal: new AbortController().signal });
    if (!batch) break;
  }
  await watch.writeCache(new TextEncoder().encode(cacheText));
  return watch.warnings();
}

describe('ClippingWatchCalibrator', () => {
  const clipping = `input: ${scaleToHex(1 / 127)}\nhidden: ${scaleToHex(0.05)}\n`;
  const wide = `input: ${scaleToHex(4.5 / 127)}\nhidden: ${scaleToHex(0.05)}\n`;

  it('warns for a clipping input range in a TRT-<version>-<algorithm> cache, not for a wide one', async () => {
    const warnings = await watchedBuild(`TRT-100600-EntropyCalibration2\n${clipping}`);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('input "input"');
    expect(warnings[0]).toMatch(/clips 10\.0 %/);
    expect(await watchedBuild(`TRT-100600-EntropyCalibration2\n${wide}`)).toEqual([]);
  });

  it("warns the same for a cache with the legacy calibrator's header (TensorRT 10.6 writes no TRT- line there)", async () => {
    const warnings = await watchedBuild(`0 3fe0000000000000 3fe0000000000000\n${clipping}`);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/clips 10\.0 %/);
  });

  it('says nothing (and does not throw) for a cache it cannot read', async () => {
    expect(await watchedBuild(`not a cache\n${clipping}`)).toEqual([]);
  });
});
