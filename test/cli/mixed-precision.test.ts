/**
 * `trt-int8 calibrate --max-drop <points>` and `--keep NODE` on the bundled Fashion-MNIST model with real images:
 * calibration on 256 training images, held-out data the first 1,000 test images (with their labels).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { calibrationIndices, isFashionMnistPresent, loadFashionMnist } from '../../examples/fashion-mnist/dataset.js';
import { evaluate } from '../../src/calibrate/index.js';
import { parseCalibrationCache } from '../../src/cache/index.js';
import { OnnxModel } from '../../src/onnx/index.js';
import type { Batch } from '../../src/core/batch.js';
import { FASHION_MODEL, cli, npyBytes, tempDir } from './helpers.js';

const present = await isFashionMnistPresent();
const skipped = present ? '' : ' (skipped: examples/fashion-mnist/data is not there; npm run setup:example)';
const HELD_OUT = 1000;

interface Workspace {
  dir: string;
  data: string;
  evalData: string;
  labels: string;
  heldOut: Batch[];
  /** The nodes that read the graph input "input". */
  inputReaders: string[];
}

async function workspace(): Promise<Workspace> {
  const dir = tempDir('trt-int8-mixed-cli-');
  const train = await loadFashionMnist('train', { indices: calibrationIndices(256) });
  const test = await loadFashionMnist('test');
  const data = path.join(dir, 'train256.npy');
  fs.writeFileSync(data, npyBytes(train.images, [train.count, 1, 28, 28]));
  const images = test.images.subarray(0, HELD_OUT * 784);
  const evalData = path.join(dir, 'test1000.npy');
  fs.writeFileSync(evalData, npyBytes(images, [HELD_OUT, 1, 28, 28]));
  const labels = path.join(dir, 'labels1000.npy');
  fs.writeFileSync(labels, npyBytes(Int32Array.from(test.labels.subarray(0, HELD_OUT)), [HELD_OUT]));
  const heldOut = [0, 1, 2, 3].map((b) => ({ input: { data: images.subarray(b * 250 * 784, (b + 1) * 250 * 784), shape: [250, 1, 28, 28] } }));
  const model = await OnnxModel.load(FASHION_MODEL);
  const inputReaders = model.nodes.filter((n) => n.inputs.includes('input')).map((n) => n.name);
  return { dir, data, evalData, labels, heldOut, inputReaders };
}

/** The nodes of a Q/DQ model that read a dequantized tensor (run in INT8). */
async function int8Readers(file: string): Promise<Set<string>> {
  const model = await OnnxModel.load(file);
  const dequantized = new Set(model.nodes.filter((n) => n.opType === 'DequantizeLinear').flatMap((n) => n.outputs));
  return new Set(model.nodes.filter((n) => n.opType !== 'QuantizeLinear' && n.opType !== 'DequantizeLinear' && n.inputs.some((i) => dequantized.has(i))).map((n) => n.name));
}

describe.skipIf(!present)(`calibrate --max-drop / --keep on Fashion-MNIST${skipped}`, () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await workspace();
  }, 60_000);

  it('--max-drop 1 brings entropy2 (which clips the input) within one point of top-1 agreement, keeping the input readers in float', async () => {
    const qdq = path.join(ws.dir, 'mixed.qdq.onnx');
    const cache = path.join(ws.dir, 'mixed.cache');
    const run = await cli(['calibrate', FASHION_MODEL, '--data', ws.data, '--algorithm', 'entropy2', '--max-drop', '1', '--eval-data', ws.evalData, '--qdq', qdq, '--cache', cache]);
    expect(run.err).not.toMatch(/^error/m);
    expect(run.code).toBe(0);
    // entropy2 clips the normalised input at its background spike, and the command says so with the fix.
    expect(run.err).toMatch(/warning: the entropy2 range of input "input" clips \d+\.\d % of its values \(amax 0\.\d+, \|x\| reaches 2\.02\d*\)\. Keep its full range with --tensor-algorithm input=minmax, or use the default --algorithm auto\./);
    // What it kept, by ONNX node name, and why; how many evaluations.
    expect(run.out).toMatch(/plain INT8 loses \d+\.\d\d points of top-1 agreement; kept out of INT8 \((\d+) evaluations of a model on the --eval-data/);
    const evaluations = Number(/\((\d+) evaluations/.exec(run.out)![1]);
    expect(evaluations).toBeGreaterThanOrEqual(3);
    expect(evaluations).toBeLessThanOrEqual(10);
    for (const node of ws.inputReaders) expect(run.out).toContain(`  ${node}  (reads "input": SQNR `);
    expect(run.out).toMatch(/recovers \d+\.\d\d points/);
    expect(run.out).toContain(`--exclude ${ws.inputReaders.join(',')}`);

    // The written Q/DQ model keeps those nodes in float and everything else in INT8; it agrees with the float model >= 99 %.
    const int8 = await int8Readers(qdq);
    for (const node of ws.inputReaders) expect(int8.has(node)).toBe(false);
    expect(int8.size).toBeGreaterThan(3);
    const check = await evaluate(FASHION_MODEL, fs.readFileSync(qdq), ws.heldOut, { compareLayers: false });
    expect(check.top1Agreement).toBeGreaterThanOrEqual(0.99);
    const dropLine = /the drop is (\d+\.\d\d) points/.exec(run.out)!;
    expect(Number(dropLine[1])).toBeCloseTo((1 - check.top1Agreement) * 100, 1);
    // The cache has no scale for the tensor that only kept nodes read.
    const scales = parseCalibrationCache(fs.readFileSync(cache, 'utf8')).scales;
    expect(scales.has('input')).toBe(false);
    expect(scales.size).toBeGreaterThan(3);

    // Plain entropy2 (no --max-drop) really is below the tolerance, and its cache has the input's scale.
    const plainQdq = path.join(ws.dir, 'plain.qdq.onnx');
    const plainCache = path.join(ws.dir, 'plain.cache');
    expect((await cli(['calibrate', FASHION_MODEL, '--data', ws.data, '--algorithm', 'entropy2', '--qdq', plainQdq, '--cache', plainCache])).code).toBe(0);
    const plain = await evaluate(FASHION_MODEL, fs.readFileSync(plainQdq), ws.heldOut, { compareLayers: false });
    expect(plain.top1Agreement).toBeLessThan(0.97);
    expect(parseCalibrationCache(fs.readFileSync(plainCache, 'utf8')).scales.has('input')).toBe(true);
  });

  it('--max-drop with --labels measures accuracy; a tolerance it cannot meet is a warning; the default calibration keeps nothing out', async () => {
    const labels = (await loadFashionMnist('test')).labels.subarray(0, HELD_OUT);
    const qdq = path.join(ws.dir, 'labels.qdq.onnx');
    const run = await cli(['calibrate', FASHION_MODEL, '--data', ws.data, '--algorithm', 'entropy2', '--max-drop', '1', '--eval-data', ws.evalData, '--labels', ws.labels, '--qdq', qdq]);
    expect(run.code).toBe(0);
    expect(run.err).not.toMatch(/warning: --max-drop/);
    expect(run.out).toMatch(/loses (\d+\.\d\d) points of accuracy; kept out of INT8/);
    expect(Number(/loses (\d+\.\d\d) points of accuracy/.exec(run.out)![1])).toBeGreaterThan(5); // entropy2 clips the input
    expect(run.out).toContain(`reads "input"`);
    const check = await evaluate(FASHION_MODEL, fs.readFileSync(qdq), ws.heldOut, { compareLayers: false, labels });
    expect(check.accuracy!.drop).toBeLessThanOrEqual(0.01);
    expect(Number(/the drop is (-?\d+\.\d\d) points/.exec(run.out)![1])).toBeCloseTo(check.accuracy!.drop * 100, 1);

    // Half a point with one candidate is out of reach here (0.7 points at best): the best model is written, with a warning.
    const strict = path.join(ws.dir, 'strict.qdq.onnx');
    const unmet = await cli(['calibrate', FASHION_MODEL, '--data', ws.data, '--algorithm', 'entropy2', '--max-drop', '0.2', '--candidates', '1', '--eval-data', ws.evalData, '--labels', ws.labels, '--qdq', strict]);
    expect(unmet.code).toBe(0);
    expect(unmet.err).toMatch(/warning: --max-drop 0\.20 is not met: the best model found loses \d+\.\d\d points; it is written anyway/);
    expect(unmet.out).toMatch(/kept out of INT8 \(3 evaluations/);
    expect(fs.existsSync(strict)).toBe(true);

    const auto = await cli(['calibrate', FASHION_MODEL, '--data', ws.data, '--max-drop', '1', '--eval-data', ws.evalData, '--qdq', path.join(ws.dir, 'auto.qdq.onnx')]);
    expect(auto.code).toBe(0);
    expect(auto.err).not.toMatch(/warning/);
    expect(auto.out).toMatch(/within --max-drop 1\.00: nothing kept out of INT8 \(2 evaluations/);
  });

  it('--keep NODE keeps it out of INT8 in the Q/DQ model and the cache, and says so', async () => {
    const qdq = path.join(ws.dir, 'keep.qdq.onnx');
    const cache = path.join(ws.dir, 'keep.cache');
    const node = ws.inputReaders[0]!;
    const run = await cli(['calibrate', FASHION_MODEL, '--data', ws.data, '--algorithm', 'entropy2', '--keep', node, '--qdq', qdq, '--cache', cache]);
    expect(run.code).toBe(0);
    // The input is not calibrated when its only reader is kept in float: nothing to warn about.
    if (ws.inputReaders.length === 1) expect(run.err).not.toMatch(/warning/);
    expect(run.out).toContain(`Kept out of INT8 by --keep:\n  ${node}  (--keep)`);
    expect((await int8Readers(qdq)).has(node)).toBe(false);
    if (ws.inputReaders.length === 1) expect(parseCalibrationCache(fs.readFileSync(cache, 'utf8')).scales.has('input')).toBe(false);
    const check = await evaluate(FASHION_MODEL, fs.readFileSync(qdq), ws.heldOut, { compareLayers: false });
    expect(check.top1Agreement).toBeGreaterThan(0.98);

    // A node that reads no INT8 tensor (a Relu: its input comes straight from a Conv) is accepted, and the command says it changes nothing.
    const model = await OnnxModel.load(FASHION_MODEL);
    const relu = model.nodes.find((n) => n.opType === 'Relu')!.name;
    const noop = await cli(['calibrate', FASHION_MODEL, '--data', ws.data, '--keep', relu, '--qdq', path.join(ws.dir, 'noop.qdq.onnx')]);
    expect(noop.code).toBe(0);
    expect(noop.out).toContain(`  ${relu}  (--keep; it reads no INT8 tensor anyway, so nothing changes for it)`);
  });

  it('refuses mistakes before any work (exit 2): an unknown --keep node with the closest names, bad --max-drop, stray flags', async () => {
    const node = ws.inputReaders[0]!;
    const typo = node.slice(0, -1);
    const out = path.join(ws.dir, 'never.onnx');
    const bad = await cli(['calibrate', FASHION_MODEL, '--data', ws.data, '--keep', typo, '--qdq', out]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain(`--keep: "${typo}" is not a node name of`);
    expect(bad.err).toContain(`Did you mean "${node}"`);
    expect(bad.err).toMatch(/trt-int8 inspect/);
    const badExclude = await cli(['calibrate', FASHION_MODEL, '--data', ws.data, '--exclude', typo, '--qdq', out]);
    expect(badExclude.code).toBe(2);
    expect(badExclude.err).toContain(`--exclude: "${typo}" is not a node name`);
    for (const [args, message] of [
      [['--max-drop=-1'], /--max-drop is a number of points in \[0, 100\]/],
      [['--max-drop', '101'], /--max-drop is a number of points/],
      [['--max-drop', 'one'], /--max-drop needs a number/],
      [['--labels', ws.labels], /--labels only applies with --max-drop/],
      [['--eval-data', ws.evalData], /--eval-data only applies with --max-drop/],
      [['--candidates', '3'], /--candidates only applies with --max-drop/],
      [['--max-drop', '1', '--candidates', '0'], /--candidates needs a positive integer/],
      [['--max-drop', '1', '--eval-data', path.join(ws.dir, 'missing.npy')], /--eval-data .*missing\.npy does not exist/],
      [['--keep', ''], /--keep needs a node name/],
    ] as const) {
      const run = await cli(['calibrate', FASHION_MODEL, '--data', ws.data, ...args, '--qdq', out]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.err).toMatch(message);
    }
    // No output over an input: --qdq naming the --eval-data.
    const over = await cli(['calibrate', FASHION_MODEL, '--data', ws.data, '--max-drop', '1', '--eval-data', ws.evalData, '--cache', ws.evalData]);
    expect(over.code).toBe(2);
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('calibrate --max-drop --labels on a model with no class output', () => {
  it('exits 2 before any work, with the output shape', async () => {
    const { buildModel, initializer, node, randomValues, valueInfo } = await import('../onnx/helpers.js');
    const dir = tempDir('trt-int8-mixed-map-');
    const model = path.join(dir, 'map.onnx');
    fs.writeFileSync(model, buildModel({
      inputs: [valueInfo('input', ['N', 1, 8, 8])],
      outputs: [valueInfo('map', ['N', 1, 8, 8])],
      initializers: [initializer('w', [1, 1, 3, 3], randomValues(9, 7, 0.5)), initializer('b', [1], randomValues(1, 8, 0.1))],
      nodes: [node('Conv', ['input', 'w', 'b'], ['map'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, 'conv')],
    }));
    const data = path.join(dir, 'x.npy');
    fs.writeFileSync(data, npyBytes(randomValues(6 * 64, 9, 1), [6, 1, 8, 8]));
    const labels = path.join(dir, 'y.npy');
    fs.writeFileSync(labels, npyBytes(Int32Array.from([0, 1, 2, 3, 4, 5]), [6]));
    const qdq = path.join(dir, 'out.onnx');
    const run = await cli(['calibrate', model, '--data', data, '--max-drop', '1', '--labels', labels, '--qdq', qdq]);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/"map" has shape \[\?, 1, 8, 8\], which is not \[N, classes\]/);
    expect(run.out).not.toMatch(/Calibrated/);
    expect(fs.existsSync(qdq)).toBe(false);
  });
});
