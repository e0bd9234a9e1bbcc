/**
 * bench/calibrate/copy-cost: what calibrate()'s copy of each batch (core/batch.ts BatchCopier, issue #12.7)
 * costs against the work it protects, measured in one run on the same data:
 *
 *   baseline:  validateBatch + HistogramCollector.add on the caller's buffer (the old zero-copy path)
 *   with copy: validateBatch + BatchCopier.copy + HistogramCollector.add on our copy (calibrate()'s path now)
 *
 * The histograms are the native statistics engine's, the part of calibrate() that reads a batch on other
 * threads. onnxruntime's run of the same batch, which calibrate() adds on top, is not timed here, so the
 * ratio printed is an upper bound of the copy's share of calibrate() time. Rounds alternate the two
 * paths; each figure is the median over the rounds.
 *
 *   npx vite-node bench/calibrate/copy-cost.ts [-- --rounds 15]
 */
import { parseArgs } from 'node:util';
import { BatchCopier, validateBatch } from '../../src/core/batch.js';
import type { InputSpec } from '../../src/core/tensor.js';
import { HistogramCollector } from '../../src/stats/index.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '15' } } });
const rounds = Number(values.rounds);

const SHAPES: Record<string, number[]> = {
  'fashion-mnist 32x1x28x28': [32, 1, 28, 28],
  'imagenet 8x3x224x224': [8, 3, 224, 224],
  'imagenet 32x3x224x224': [32, 3, 224, 224],
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function timeOnce(collector: HistogramCollector, batch: Record<string, unknown>, spec: InputSpec, copier: BatchCopier | undefined): Promise<number> {
  const started = performance.now();
  const validated = validateBatch(batch, [spec], { batchIndex: 0 });
  const owned = copier ? copier.copy(validated) : validated;
  await collector.add(new Map([[spec.name, owned.get(spec.name)!.data as Float32Array]]));
  return performance.now() - started;
}

async function main(): Promise<void> {
  console.log(`copy cost of calibrate()'s batches, ${rounds} alternating rounds, median ms per batch`);
  console.log('shape                       | MB    | baseline | with copy | ratio');
  for (const [label, shape] of Object.entries(SHAPES)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    let seed = 1;
    for (let i = 0; i < size; i++) data[i] = ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 6 - 3;
    const spec: InputSpec = { name: 'input', shape: [-1, ...shape.slice(1)], dtype: 'float32' };
    const batch = { input: { data, shape } };
    const collector = new HistogramCollector({ numBins: 2048 });
    const copier = new BatchCopier(); // as calibrate() uses it: one reused buffer per input
    const base: number[] = [];
    const copied: number[] = [];
    try {
      await timeOnce(collector, batch, spec, copier); // warm-up
      for (let r = 0; r < rounds; r++) {
        base.push(await timeOnce(collector, batch, spec, undefined));
        copied.push(await timeOnce(collector, batch, spec, copier));
      }
    } finally {
      collector.dispose();
    }
    const b = median(base);
    const c = median(copied);
    console.log(`${label.padEnd(27)} | ${((size * 4) / 2 ** 20).toFixed(1).padStart(5)} | ${b.toFixed(2).padStart(8)} | ${c.toFixed(2).padStart(9)} | ${(c / b).toFixed(3)}`);
  }
}

void main();
