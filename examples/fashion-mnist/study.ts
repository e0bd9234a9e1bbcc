/**
 * The calibration study behind docs/study.md: INT8 accuracy of the Fashion-MNIST example model for each
 * calibration algorithm x calibration set size x calibration batch size.
 *
 *   npm run setup:example     # once: the data
 *   npm run study             # bundles this file with the library's sources (tsup) and runs it (~10 minutes, 2 cores)
 *
 * Options: --sizes 100,500,2000  --batch-sizes 1,32  --test-count 10000  --json FILE (default docs/study-results.json).
 *
 * Histogram collection does not depend on the algorithm (calibrate() collects |x| histograms, then applies the
 * algorithm to them), so each (size, batch size) cell is collected once with calibrate() and every algorithm's
 * ranges are computed from the same histograms with computeAmax(), exactly as calibrate() does. The script checks
 * that claim on the first cell against a direct calibrate() run per algorithm and fails if any range differs.
 * The Q/DQ models are evaluated by onnxruntime (evaluate(), outputs only) on the test images.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
// In an application: from 'trt-int8'. The study imports the sources so that it runs without a prior build.
import {
  OnnxModel,
  calibrate,
  calibratorFromBatches,
  computeAmax,
  evaluate,
  insertQdq,
  resolveAlgorithm,
  type Batch,
  type CalibrationResult,
  type EvaluationResult,
  type CalibrationAlgorithm,
  type TensorCalibration,
} from '../../src/index.js';
import { testBatches } from './calibrator.js';
import { CALIBRATION_SEED, EXAMPLE_DIR, IMAGE_SIZE, calibrationIndices, loadFashionMnist } from './dataset.js';

/** One row of the study: an algorithm for the activations, optionally another for the graph input. */
interface Variant {
  readonly label: string;
  readonly algorithm: CalibrationAlgorithm;
  readonly inputAlgorithm?: CalibrationAlgorithm;
}

const VARIANTS: readonly Variant[] = [
  { label: 'auto (default)', algorithm: resolveAlgorithm('auto') },
  { label: 'entropy2', algorithm: resolveAlgorithm('entropy2') },
  { label: 'entropy', algorithm: resolveAlgorithm('entropy') },
  { label: 'minmax', algorithm: resolveAlgorithm('minmax') },
  { label: 'percentile 99.99', algorithm: resolveAlgorithm({ kind: 'percentile', percentile: 99.99 }) },
  { label: 'legacy (0.5, 0.5)', algorithm: resolveAlgorithm('legacy') },
  { label: 'entropy2, input minmax', algorithm: resolveAlgorithm('entropy2'), inputAlgorithm: resolveAlgorithm('minmax') },
];

interface Row {
  variant: string;
  calibrationImages: number;
  batchSize: number;
  int8Accuracy: number;
  dropPoints: number;
  top1Agreement: number;
  inputAmax: number;
  /** Histogram resolution of the graph input: bin width and bin count at the end of collection. */
  inputBinWidth: number;
  inputBins: number;
  collectSeconds: number;
}

function* calibrationBatches(images: Float32Array, count: number, size: number): Generator<Batch> {
  for (let start = 0; start < count; start += size) {
    const n = Math.min(size, count - start);
    yield { input: { data: images.subarray(start * IMAGE_SIZE, (start + n) * IMAGE_SIZE), shape: [n, 1, 28, 28] } };
  }
}

function positiveIntegers(option: string, text: string): number[] {
  const values = text.split(',').map(Number);
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < 1)) throw new Error(`--${option} must be a comma-separated list of positive integers, got ${text}`);
  return values;
}

/** The ranges `variant` gives from histograms collected once (what calibrate() does after collection). */
function rangesFor(collected: CalibrationResult, variant: Variant, inputName: string): TensorCalibration[] {
  return [...collected.tensors.values()].map((t) => {
    const algorithm = t.name === inputName && variant.inputAlgorithm ? variant.inputAlgorithm : variant.algorithm;
    return { ...t, amax: computeAmax(t.histogram!, algorithm) };
  });
}

const percent = (x: number) => `${(x * 100).toFixed(2)} %`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '100,500,2000' },
      'batch-sizes': { type: 'string', default: '1,32' },
      'test-count': { type: 'string', default: '10000' },
      json: { type: 'string', default: path.join(EXAMPLE_DIR, '..', '..', 'docs', 'study-results.json') },
    },
  });
  const sizes = positiveIntegers('sizes', values.sizes!);
  const batchSizes = positiveIntegers('batch-sizes', values['batch-sizes']!);
  const testCount = positiveIntegers('test-count', values['test-count']!)[0]!;
  const started = performance.now();
  const modelPath = path.join(EXAMPLE_DIR, 'model.onnx');
  const inputName = 'input';
  const model = await OnnxModel.load(modelPath);

  const largest = Math.max(...sizes);
  // The selection rule is a prefix of one shuffle, so the first n of the largest selection are the n-image selection.
  const pool = await loadFashionMnist('train', { indices: calibrationIndices(largest, CALIBRATION_SEED) });
  const fullTest = await loadFashionMnist('test');
  const count = Math.min(testCount, fullTest.count);
  const test = { images: fullTest.images.subarray(0, count * IMAGE_SIZE), labels: fullTest.labels.subarray(0, count), count };

  const rows: Row[] = [];
  /** Per cell, per tensor: the histogram's resolution at the end of collection and the entropy2 range chosen on it. */
  const resolution: { calibrationImages: number; batchSize: number; tensors: { name: string; binWidth: number; bins: number; absMax: number; entropy2Amax: number }[] }[] = [];
  let fp32Accuracy = Number.NaN;
  let checkedEquivalence = false;
  for (const size of sizes) {
    const images = pool.images.subarray(0, size * IMAGE_SIZE);
    for (const batchSize of batchSizes) {
      const collected = await calibrate(model, calibratorFromBatches(calibrationBatches(images, size, batchSize), { algorithm: 'entropy2' }));
      const input = collected.tensors.get(inputName)?.histogram;
      if (!input) throw new Error(`the model has no calibrated graph input named ${inputName}`);
      if (!checkedEquivalence) {
        // Guard the shortcut: a direct calibrate() per variant must give exactly the ranges computed here.
        for (const variant of VARIANTS) {
          const direct = await calibrate(model, calibratorFromBatches(calibrationBatches(images, size, batchSize), { algorithm: variant.algorithm }), {
            tensorAlgorithms: variant.inputAlgorithm ? { [inputName]: variant.inputAlgorithm } : undefined,
          });
          for (const t of rangesFor(collected, variant, inputName)) {
            const amax = direct.tensors.get(t.name)?.amax;
            if (amax !== t.amax) throw new Error(`${variant.label}: ${t.name} amax ${t.amax} from shared histograms, ${amax} from calibrate()`);
          }
        }
        checkedEquivalence = true;
      }
      resolution.push({
        calibrationImages: size,
        batchSize,
        tensors: [...collected.tensors.values()].map((t) => ({
          name: t.name,
          binWidth: t.histogram!.binWidth,
          bins: t.histogram!.counts.length,
          absMax: +t.histogram!.absMax.toFixed(4),
          entropy2Amax: +computeAmax(t.histogram!, resolveAlgorithm('entropy2')).toFixed(4),
        })),
      });
      const evaluatedRanges = new Map<string, EvaluationResult>();
      for (const variant of VARIANTS) {
        const amax = new Map(rangesFor(collected, variant, inputName).map((t) => [t.name, t.amax]));
        // Identical ranges give an identical Q/DQ model (e.g. entropy and entropy2 often agree): evaluate it once.
        const key = JSON.stringify([...amax]);
        let evaluation = evaluatedRanges.get(key);
        if (!evaluation) {
          // What CalibrationResult.toQdqModel() does with these ranges.
          const qdq = insertQdq(model, { amax }).toBytes();
          evaluation = await evaluate(model, qdq, testBatches(test.images, test.count, 1000), { labels: test.labels, compareLayers: false });
          evaluatedRanges.set(key, evaluation);
        }
        const accuracy = evaluation.accuracy!;
        fp32Accuracy = accuracy.float;
        const row: Row = {
          variant: variant.label,
          calibrationImages: size,
          batchSize,
          int8Accuracy: accuracy.quantized,
          dropPoints: +((accuracy.float - accuracy.quantized) * 100).toFixed(2),
          top1Agreement: evaluation.top1Agreement,
          inputAmax: +amax.get(inputName)!.toFixed(4),
          inputBinWidth: input.binWidth,
          inputBins: input.counts.length,
          collectSeconds: +collected.summary.seconds.toFixed(2),
        };
        rows.push(row);
        console.error(`${size} images, batch ${batchSize}, ${variant.label}: INT8 ${percent(row.int8Accuracy)}, agreement ${percent(row.top1Agreement)}, input amax ${row.inputAmax}`);
      }
    }
  }
  const seconds = (performance.now() - started) / 1000;

  // Markdown: one row per variant, one column per (size, batch size).
  const cells = sizes.flatMap((size) => batchSizes.map((batchSize) => ({ size, batchSize })));
  const lines = [
    `INT8 test accuracy (top-1 agreement with FP32) on ${test.count} test images; FP32 accuracy ${percent(fp32Accuracy)}.`,
    '',
    `| algorithm | ${cells.map((c) => `${c.size} img, batch ${c.batchSize}`).join(' | ')} |`,
    `| --- | ${cells.map(() => '---').join(' | ')} |`,
    ...VARIANTS.map((v) => {
      const entries = cells.map((c) => rows.find((r) => r.variant === v.label && r.calibrationImages === c.size && r.batchSize === c.batchSize)!);
      return `| ${v.label} | ${entries.map((r) => `${percent(r.int8Accuracy)} (${percent(r.top1Agreement)})`).join(' | ')} |`;
    }),
    '',
    'Graph input: amax per algorithm, and the histogram it was chosen from (bin width, bins):',
    '',
    `| algorithm | ${cells.map((c) => `${c.size} img, batch ${c.batchSize}`).join(' | ')} |`,
    `| --- | ${cells.map(() => '---').join(' | ')} |`,
    ...VARIANTS.map((v) => {
      const entries = cells.map((c) => rows.find((r) => r.variant === v.label && r.calibrationImages === c.size && r.batchSize === c.batchSize)!);
      return `| ${v.label} | ${entries.map((r) => r.inputAmax.toFixed(3)).join(' | ')} |`;
    }),
    `| (histogram) | ${cells.map((c) => {
      const r = rows.find((x) => x.calibrationImages === c.size && x.batchSize === c.batchSize)!;
      return `${r.inputBinWidth.toExponential(3)} x ${r.inputBins}`;
    }).join(' | ')} |`,
    `| (collection s) | ${cells.map((c) => rows.find((x) => x.calibrationImages === c.size && x.batchSize === c.batchSize)!.collectSeconds.toFixed(1)).join(' | ')} |`,
    '',
    'Histogram resolution per tensor: bins at the end of collection (2048 = the first batch already held max |x|; more =',
    'bins appended as later batches exceeded it, same bin width), and the entropy2 amax chosen on it:',
    '',
    `| tensor | ${cells.map((c) => `${c.size} img, batch ${c.batchSize}`).join(' | ')} |`,
    `| --- | ${cells.map(() => '---').join(' | ')} |`,
    ...resolution[0]!.tensors.map((t) => {
      const entries = cells.map((c) => resolution.find((r) => r.calibrationImages === c.size && r.batchSize === c.batchSize)!.tensors.find((x) => x.name === t.name)!);
      return `| ${t.name} | ${entries.map((e) => `${e.bins} / ${e.entropy2Amax.toFixed(3)}`).join(' | ')} |`;
    }),
    '',
    `Machine: ${os.cpus().length} x ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}, onnxruntime-node CPU; ${(seconds / 60).toFixed(1)} minutes.`,
  ];
  console.log(lines.join('\n'));

  const report = {
    command: 'npm run study',
    model: 'examples/fashion-mnist/model.onnx',
    seed: CALIBRATION_SEED,
    testImages: test.count,
    fp32Accuracy,
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model.trim(), node: process.version },
    seconds: +seconds.toFixed(1),
    rows,
    resolution,
  };
  const jsonPath = path.resolve(values.json!);
  await mkdir(path.dirname(jsonPath), { recursive: true });
  await writeFile(`${jsonPath}.tmp`, JSON.stringify(report, null, 2) + '\n');
  await rename(`${jsonPath}.tmp`, jsonPath);
  console.error(`wrote ${path.relative(process.cwd(), jsonPath)}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
