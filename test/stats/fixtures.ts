/** Loads the committed fixture histograms (scripts/fixtures/make_histograms.py) as TensorHistograms. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TensorHistogram } from '../../src/stats/index.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

export function readFixture<T>(file: string): T {
  return JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as T;
}

interface FixtureHistogram {
  name: string;
  binWidth: number;
  counts: number[];
}

/** TensorHistograms from histograms.json; absMax is the upper edge of the last non-empty bin. */
export function fixtureHistograms(): Map<string, TensorHistogram> {
  const data = readFixture<{ histograms: FixtureHistogram[] }>('histograms.json');
  const result = new Map<string, TensorHistogram>();
  for (const h of data.histograms) {
    const counts = Float64Array.from(h.counts);
    let last = counts.length - 1;
    while (last > 0 && counts[last] === 0) last--;
    let count = 0;
    for (const c of counts) count += c;
    const absMax = (last + 1) * h.binWidth;
    result.set(h.name, { name: h.name, counts, binWidth: h.binWidth, min: 0, max: absMax, absMax, count, nonFinite: 0 });
  }
  return result;
}
