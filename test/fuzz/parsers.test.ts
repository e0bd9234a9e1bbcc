/**
 * Fuzz tests (issue #12.13): mutated calibration caches, .npy/.npz files and PNG/JPEG images, from valid
 * seeds, with a fixed seed so every run tries the same inputs. Each parser must either succeed or throw a
 * TrtInt8Error, and take less than a bound per input; about 20 s in all on a 2-core machine.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseCalibrationCache, mergeCalibrationCaches } from '../../src/cache/index.js';
import { parseNpy, parseNpz } from '../../src/data/npy.js';
import { decodeImage } from '../../src/images/decode.js';
import { isTrtInt8Error } from '../../src/core/errors.js';
import { fuzz, mutate, seeded, type Random } from './mutate.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const npyFixtures = path.join(here, '../calibrate/fixtures');
const imageFixtures = path.join(here, '../images/fixtures');
const SEED = 20261129;

function* mutations(seeds: readonly Uint8Array[], count: number, random: Random): Generator<Uint8Array> {
  for (let i = 0; i < count; i++) yield mutate(seeds[i % seeds.length]!, random);
}

const encoder = new TextEncoder();
const CACHE_SEEDS = [
  'TRT-100300-EntropyCalibration2\ninput: 3c010a14\n/conv1/Conv_output_0: 3d4c8b21\n(Unnamed Layer* 3) [Pooling]_output: 3c8e2a11\n',
  'TRT-8601-MinMaxCalibration\r\nimages: 3b6b1e9a\r\n168: 3c010204\r\n\r\n',
  `TRT-110100-LegacyCalibration\n${'a'.repeat(300)}: 3e000000\nx: y: 3f800000\n`,
].map((t) => encoder.encode(t));

describe('fuzz', () => {
  it('parseCalibrationCache and mergeCalibrationCaches: typed errors only, bounded time', async () => {
    const random = seeded(SEED);
    const { runs, failures } = await fuzz(
      mutations(CACHE_SEEDS, 4000, random),
      (bytes) => {
        const cache = parseCalibrationCache(bytes);
        mergeCalibrationCaches([cache, bytes]);
      },
      isTrtInt8Error,
      250,
    );
    expect(failures).toEqual([]);
    expect(runs).toBe(4000);
  });

  it('parseNpy and parseNpz: typed errors only, bounded time', async () => {
    const read = (name: string) => new Uint8Array(fs.readFileSync(path.join(npyFixtures, name)));
    const npy = ['f4.npy', 'f4_v2.npy', 'f4_v3.npy', 'i8.npy', 'u1.npy', 'scalar.npy', 'fortran.npy'].map(read);
    const npz = ['deflated.npz', 'stored.npz'].map(read);
    const random = seeded(SEED + 1);
    const single = await fuzz(mutations(npy, 3000, random), (bytes) => parseNpy(bytes), isTrtInt8Error, 250);
    expect(single.failures).toEqual([]);
    const archives = await fuzz(mutations(npz, 3000, random), (bytes) => parseNpz(bytes), isTrtInt8Error, 250);
    expect(archives.failures).toEqual([]);
  });

  it('decodeImage (PNG, JPEG): typed errors only, bounded time', async () => {
    const images = ['gray.png', 'rgb.png', 'rgba.png', 'photo.jpg'].map((n) => new Uint8Array(fs.readFileSync(path.join(imageFixtures, n))));
    const random = seeded(SEED + 2);
    const { failures } = await fuzz(mutations(images, 600, random), (bytes) => decodeImage(bytes), isTrtInt8Error, 1_000);
    expect(failures).toEqual([]);
  });
});
