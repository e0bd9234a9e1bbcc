/**
 * measureEndToEnd: the sensitivity report's ranking by end-to-end effect, on the bundled Fashion-MNIST model with
 * real images (entropy2 clips the normalised input: restoring it, or giving it the min-max range, removes most of the
 * output error), and on a small CNN with one planted sensitive tensor. `calibrate --report` writes it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { calibrate, calibratorFromBatches, evaluate, measureEndToEnd, sensitivityReport, sensitivityReportHtml, type Batch, type CalibrationResult, type SensitivityReport } from '../../src/index.js';
import { insertQdq } from '../../src/onnx/index.js';
import { TrtInt8Error } from '../../src/core/errors.js';
import { EXAMPLE_DIR, calibrationIndices, isFashionMnistPresent, loadFashionMnist } from '../../examples/fashion-mnist/dataset.js';
import { cnnBatches, smallCnn } from './helpers.js';
import { buildModel, initializer, node, randomValues, valueInfo } from '../onnx/helpers.js';
import { cli, npyBytes, tempDir } from '../cli/helpers.js';

const present = await isFashionMnistPresent();
const skipped = present ? '' : ' (skipped: examples/fashion-mnist/data is not there; npm run setup:example)';
const MODEL = path.join(EXAMPLE_DIR, 'model.onnx');

async function rejection(promise: Promise<unknown>): Promise<TrtInt8Error> {
  const error = await promise.then(() => new Error('expected a rejection'), (e: unknown) => e);
  if (error instanceof TrtInt8Error) return error;
  throw error;
}

describe.skipIf(!present)(`measureEndToEnd on Fashion-MNIST${skipped}`, () => {
  let calibration: Batch[];
  let heldOut: Batch[];
  let entropy: CalibrationResult;

  beforeAll(async () => {
    const train = await loadFashionMnist('train', { indices: calibrationIndices(256) });
    calibration = [0, 1, 2, 3].map((b) => ({ input: { data: train.images.subarray(b * 64 * 784, (b + 1) * 64 * 784), shape: [64, 1, 28, 28] } }));
    const test = (await loadFashionMnist('test')).images;
    heldOut = [0, 1, 2, 3, 4, 5].map((b) => ({ input: { data: test.subarray(b * 100 * 784, (b + 1) * 100 * 784), shape: [100, 1, 28, 28] } }));
    entropy = await calibrate(MODEL, calibratorFromBatches(calibration, { algorithm: 'entropy2' }));
  }, 60_000);

  it('ranks the clipped input first: float or the min-max range removes most of the output error', async () => {
    const e = await measureEndToEnd(MODEL, entropy, heldOut, { top: 3, batches: 4 });
    expect(e).toMatchObject({ top: 3, swaps: 2, batches: 4, samples: 400, outputs: ['logits'] });
    expect(e.tensors).toHaveLength(3);
    // Cost: the float model, the INT8 model, then one run per variant.
    expect(e.evaluations).toBe(2 + e.tensors.reduce((n, t) => n + t.variants.length, 0));
    for (const t of e.tensors) {
      expect(t.variants[0]!.variant).toBe('float');
      expect(t.variants.length).toBeGreaterThanOrEqual(1);
      expect(t.variants.length).toBeLessThanOrEqual(3);
      expect(t.errorRemoved).toBe(Math.max(...t.variants.map((v) => v.errorRemoved)));
      expect(t.best).toBe(t.variants.find((v) => v.errorRemoved === t.errorRemoved)!.variant);
      for (const v of t.variants.slice(1)) expect(Math.abs(v.amax! - entropy.tensors.get(t.tensor)!.amax)).toBeGreaterThan(0.01 * v.amax!);
    }
    expect(e.tensors.map((t) => t.errorRemoved)).toEqual([...e.tensors.map((t) => t.errorRemoved)].sort((a, b) => b - a));

    const [first] = e.tensors;
    expect(first!.tensor).toBe('input');
    expect(first!.errorRemoved).toBeGreaterThan(0.5);
    // A range that keeps the tail (min-max, or one within 1 % of it) is tried, and fixes it as well as float does.
    const absMax = entropy.tensors.get('input')!.histogram!.absMax;
    const tail = first!.variants.find((v) => v.amax !== null && v.amax >= 0.99 * absMax);
    expect(tail, JSON.stringify(first!.variants)).toBeDefined();
    expect(tail!.errorRemoved).toBeGreaterThan(0.5);

    // The numbers are what evaluate() measures on the same samples: the INT8 model's top-1 agreement, and the float variant's.
    const four = heldOut.slice(0, 4);
    const plain = await evaluate(MODEL, entropy.toQdqModel(), four, { compareLayers: false });
    expect(e.quantized.top1Agreement).toBeCloseTo(plain.top1Agreement, 10);
    expect(e.quantized.outputSqnrDb).toBeCloseTo(plain.outputs[0]!.sqnr, 3);
    const restored = insertQdq(await (await import('../../src/onnx/index.js')).OnnxModel.load(MODEL), { amax: entropy.amax(), exclude: { names: [...first!.nodes] } }).toBytes();
    const floatInput = await evaluate(MODEL, restored, four, { compareLayers: false });
    expect(first!.variants[0]!.top1Agreement).toBeCloseTo(floatInput.top1Agreement, 10);
    expect(first!.variants[0]!.outputSqnrDb).toBeCloseTo(floatInput.outputs[0]!.sqnr, 3);
  });

  it('goes into the report JSON and the page', async () => {
    const e = await measureEndToEnd(MODEL, entropy, heldOut, { top: 2, swaps: 1, batches: 2 });
    expect(e.evaluations).toBeLessThanOrEqual(2 + 2 * 2);
    const report = sensitivityReport(entropy, e);
    expect(report.endToEnd).toBe(e);
    expect(sensitivityReport(entropy).endToEnd).toBeUndefined();
    const html = sensitivityReportHtml(report, entropy);
    expect(html).toContain('<h2>End-to-end effect</h2>');
    const rows = [...html.matchAll(/<tr class="e2e"><td>(\d+)<\/td><td><a href="#t\d+">([^<]+)<\/a>/g)].map((m) => m[2]);
    expect(rows).toEqual(e.tensors.map((t) => t.tensor));
    expect(html).toContain(`${e.evaluations} model runs`);
    expect(sensitivityReportHtml(sensitivityReport(entropy), entropy)).not.toContain('End-to-end');
  });

  it('refuses bad options, no data and a result without histograms', async () => {
    expect((await rejection(measureEndToEnd(MODEL, entropy, heldOut, { top: 0 }))).input).toBe('top');
    expect((await rejection(measureEndToEnd(MODEL, entropy, heldOut, { swaps: -1 }))).input).toBe('swaps');
    expect((await rejection(measureEndToEnd(MODEL, entropy, heldOut, { batches: 1.5 }))).input).toBe('batches');
    expect((await rejection(measureEndToEnd(MODEL, entropy, []))).code).toBe('ERR_EMPTY_DATASET');
    const dir = tempDir('trt-int8-e2e-');
    const cache = path.join(dir, 'm.cache');
    await entropy.writeCache(cache);
    const fromCache = await calibrate(MODEL, calibratorFromBatches(calibration, { algorithm: 'entropy2', cachePath: cache }));
    const error = await rejection(measureEndToEnd(MODEL, fromCache, heldOut));
    expect([error.code, error.input]).toEqual(['ERR_BAD_OPTION', 'result']);
  });

  it('calibrate --report measures the worst tensors end to end by default; --report-top sets K, 0 turns it off', async () => {
    const dir = tempDir('trt-int8-e2e-cli-');
    const train = await loadFashionMnist('train', { indices: calibrationIndices(256) });
    const data = path.join(dir, 'train.npy');
    fs.writeFileSync(data, npyBytes(train.images, [256, 1, 28, 28]));
    const read = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'report.json'), 'utf8')) as SensitivityReport;

    const byDefault = path.join(dir, 'default');
    const run = await cli(['calibrate', MODEL, '--data', data, '--algorithm', 'entropy2', '--report', byDefault]);
    expect(run.code).toBe(0);
    const report = read(byDefault);
    expect(report.endToEnd!.top).toBe(4);
    expect(report.endToEnd!.tensors).toHaveLength(4);
    expect(report.endToEnd!.samples).toBe(128); // 4 batches of 32
    expect(report.endToEnd!.tensors[0]!.tensor).toBe('input');
    expect(run.out).toMatch(/Report: the 4 worst tensors by SQNR measured end to end on 128 samples \(\d+ model runs\)\. Largest effect: "input"/);
    expect(fs.readFileSync(path.join(byDefault, 'index.html'), 'utf8')).toContain('End-to-end effect');

    const two = path.join(dir, 'two');
    expect((await cli(['calibrate', MODEL, '--data', data, '--report', two, '--report-top', '2'])).code).toBe(0);
    expect(read(two).endToEnd!.tensors).toHaveLength(2);
    const off = path.join(dir, 'off');
    expect((await cli(['calibrate', MODEL, '--data', data, '--report', off, '--report-top', '0'])).code).toBe(0);
    expect(read(off).endToEnd).toBeUndefined();

    const stray = await cli(['calibrate', MODEL, '--data', data, '--qdq', path.join(dir, 'x.onnx'), '--report-top', '2']);
    expect(stray.code).toBe(2);
    expect(stray.err).toMatch(/--report-top only applies with --report/);
    const bad = await cli(['calibrate', MODEL, '--data', data, '--report', off, '--report-top', 'many']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--report-top needs an integer >= 0/);
  });
});

describe('measureEndToEnd finds a planted sensitive tensor', () => {
  it('ranks relu1 (its range at the 80th percentile) first, and its min-max range removes most of the error', async () => {
    const model = smallCnn();
    const result = await calibrate(model, calibratorFromBatches(cnnBatches(8, 16), { algorithm: 'minmax' }), {
      tensorAlgorithms: { relu1: { kind: 'percentile', percentile: 80 } },
    });
    const e = await measureEndToEnd(model, result, cnnBatches(4, 64, 500), { top: 10 });
    expect(e.tensors[0]!.tensor).toBe('relu1');
    expect(e.tensors[0]!.nodes).toEqual(['conv2_node']);
    expect(e.tensors[0]!.errorRemoved).toBeGreaterThan(0.8);
    for (const t of e.tensors.slice(1)) expect(t.errorRemoved).toBeLessThan(e.tensors[0]!.errorRemoved / 2);
    expect(e.quantized.top1Agreement).toBeLessThan(0.9);
  });
});

/**
 * Two branches from the input: "loud" is clipped hard (its range at the 75th percentile, half its values being 0: the worst SQNR of the model)
 * but reaches the output through weights of 1e-3; "decisive" is clipped less (97th percentile) and carries the signal.
 * The proxy ranks "loud" first; the measurement finds "decisive".
 */
function twoBranchModel(): Uint8Array {
  return buildModel({
    inputs: [valueInfo('input', ['N', 1, 8, 8])],
    outputs: [valueInfo('logits', ['N', 10])],
    initializers: [
      initializer('wd', [4, 1, 3, 3], randomValues(36, 1, 0.6)),
      initializer('bd', [4], randomValues(4, 2, 0.1)),
      initializer('wl', [4, 1, 3, 3], randomValues(36, 3, 0.6)),
      initializer('bl', [4], randomValues(4, 4, 0.1)),
      initializer('wd2', [4, 4, 3, 3], randomValues(144, 5, 0.3)),
      initializer('wl2', [4, 4, 3, 3], randomValues(144, 6, 0.001)),
      initializer('w3', [10, 256], randomValues(2560, 7, 0.1)),
      initializer('b3', [10], randomValues(10, 8, 0.1)),
    ],
    nodes: [
      node('Conv', ['input', 'wd', 'bd'], ['conv_d'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, 'conv_d_node'),
      node('Relu', ['conv_d'], ['decisive'], {}, 'relu_d_node'),
      node('Conv', ['input', 'wl', 'bl'], ['conv_l'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, 'conv_l_node'),
      node('Relu', ['conv_l'], ['loud'], {}, 'relu_l_node'),
      node('Conv', ['decisive', 'wd2'], ['d2'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, 'conv_d2_node'),
      node('Conv', ['loud', 'wl2'], ['l2'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, 'conv_l2_node'),
      node('Add', ['d2', 'l2'], ['sum'], {}, 'add_node'),
      node('Relu', ['sum'], ['relu2'], {}, 'relu2_node'),
      node('Flatten', ['relu2'], ['flat'], { axis: 1 }, 'flatten_node'),
      node('Gemm', ['flat', 'w3', 'b3'], ['logits'], { transB: 1 }, 'gemm_node'),
    ],
  });
}

describe('measureEndToEnd finds the culprit the proxy misses', () => {
  it('ranks "decisive" (SQNR rank 2) above "loud" (SQNR rank 1), whose error barely reaches the output', async () => {
    const model = twoBranchModel();
    const result = await calibrate(model, calibratorFromBatches(cnnBatches(8, 16), { algorithm: 'minmax' }), {
      tensorAlgorithms: { loud: { kind: 'percentile', percentile: 75 }, decisive: { kind: 'percentile', percentile: 97 } },
    });
    const report = sensitivityReport(result);
    expect(report.bySqnr.slice(0, 2)).toEqual(['loud', 'decisive']);
    const e = await measureEndToEnd(model, result, cnnBatches(4, 64, 500), { top: 2 });
    expect(e.tensors.map((t) => [t.tensor, t.proxyRank])).toEqual([
      ['decisive', 2],
      ['loud', 1],
    ]);
    expect(e.tensors[0]!.errorRemoved).toBeGreaterThan(0.5);
    expect(e.tensors[1]!.errorRemoved).toBeLessThan(0.05);
  });
});
