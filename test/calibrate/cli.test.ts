/** `trt-int8 calibrate` and `trt-int8 evaluate`, run through their command functions on real files. */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { runCalibrateCommand } from '../../src/cli/calibrate.js';
import { runEvaluateCommand } from '../../src/cli/evaluate.js';
import { parseCalibrationCache } from '../../src/cache/index.js';
import { OnnxModel } from '../../src/onnx/index.js';
import { npyBytes, randomValues, smallCnn, tempDir } from './helpers.js';

function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) }, out, err };
}

const notTty = { isTTY: false, write: () => true };

describe('trt-int8 calibrate / evaluate', () => {
  const dir = tempDir();
  const modelPath = path.join(dir, 'model.onnx');
  fs.writeFileSync(modelPath, smallCnn());
  const dataPath = path.join(dir, 'data.npy');
  fs.writeFileSync(dataPath, npyBytes(randomValues(20 * 64, 5, 2), [20, 1, 8, 8]));
  const labelsPath = path.join(dir, 'labels.npy');
  fs.writeFileSync(labelsPath, npyBytes(Int32Array.from({ length: 20 }, (_, i) => i % 10), [20]));

  it('calibrates from a .npy and writes the cache, the Q/DQ model and JSON; then evaluates them', async () => {
    const { io, out, err } = captureIo();
    const files = { cache: path.join(dir, 'm.cache'), qdq: path.join(dir, 'm.qdq.onnx'), json: path.join(dir, 'm.json') };
    const code = await runCalibrateCommand(
      [modelPath, '--data', dataPath, '--algorithm', 'percentile', '--percentile', '99.9', '--batch', '8', '--cache', files.cache, '--qdq', files.qdq, '--json', files.json],
      io,
      notTty,
    );
    expect(err.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^Calibrated \d+ tensors \(percentile\) on 20 samples in 3 batches/);
    // Percentile has no TensorRT calibrator: the cache is written under entropy2, TensorRT reads it as is.
    const cache = parseCalibrationCache(fs.readFileSync(files.cache), { version: '10.16.0', algorithm: 'entropy2' });
    expect(cache.scales.has('input')).toBe(true);
    const json = JSON.parse(fs.readFileSync(files.json, 'utf8')) as { algorithm: { percentile: number }; tensors: { name: string; scale: number }[] };
    expect(json.algorithm.percentile).toBe(99.9);
    for (const t of json.tensors) expect(cache.scales.get(t.name)).toBe(Math.fround(t.scale));
    expect(OnnxModel.fromBytes(fs.readFileSync(files.qdq)).nodes.some((n) => n.opType === 'QuantizeLinear')).toBe(true);
    // Not a terminal: plain progress lines, the last one complete.
    expect(err.at(-1)).toMatch(/^calibrate: batch 3\/3, 20 samples/);

    const evaluation = captureIo();
    const ttyWrites: string[] = [];
    const evalCode = await runEvaluateCommand([modelPath, files.qdq, '--data', dataPath, '--labels', labelsPath, '--batch', '6'], evaluation.io, {
      isTTY: true,
      write: (t: string) => ttyWrites.push(t),
    });
    expect(evaluation.err).toEqual([]);
    expect(evalCode).toBe(0);
    const report = evaluation.out.join('\n');
    expect(report).toMatch(/samples: 20/);
    expect(report).toMatch(/top-1 agreement: \d+\.\d\d%/);
    expect(report).toMatch(/accuracy: float \d+\.\d\d%, quantized \d+\.\d\d%/);
    expect(report).toMatch(/worst layers/);
    // A terminal gets a bar redrawn in place.
    expect(ttyWrites.some((t) => t.startsWith('\r'))).toBe(true);
    expect(ttyWrites.at(-1)).toBe('\n');

    // Not a terminal: throttled lines with the total (evaluate knows the batch count of one .npy), always the final count; JSON has null for Infinity.
    const plain = captureIo();
    const jsonPath = path.join(dir, 'eval.json');
    expect(await runEvaluateCommand([modelPath, modelPath, '--data', dataPath, '--batch', '6', '--json', jsonPath], plain.io, notTty)).toBe(0);
    expect(plain.err.at(-1)).toMatch(/^evaluate: batch 4\/4, 20 samples/);
    const saved = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as { top1Agreement: number; outputs: { sqnr: number | null }[] };
    expect(saved.top1Agreement).toBe(1);
    expect(saved.outputs[0]!.sqnr).toBeNull();
  });

  it('exits 2 with the usage on command-line mistakes and 1 with the typed error on bad input', async () => {
    for (const args of [[modelPath], [modelPath, '--data', dataPath, '--algorithm', 'magic'], [modelPath, '--data', dataPath, '--bogus'], [modelPath, '--data', dataPath, '--batch', '0']]) {
      const { io, err } = captureIo();
      expect(await runCalibrateCommand(args, io, notTty)).toBe(2);
      expect(err.join('\n')).toMatch(/Usage: trt-int8 calibrate/);
    }
    const missing = captureIo();
    // A missing input or output folder is a command-line mistake (exit 2), found before any work, still ERR_IO.
    expect(await runCalibrateCommand([path.join(dir, 'nope.onnx'), '--data', dataPath, '--json', path.join(dir, 'x.json')], missing.io, notTty)).toBe(2);
    expect(missing.err.join('\n')).toMatch(/ERR_IO/);
    const unwritable = captureIo();
    expect(await runCalibrateCommand([modelPath, '--data', dataPath, '--algorithm', 'minmax', '--cache', path.join(dir, 'no', 'dir', 'x.cache')], unwritable.io, notTty)).toBe(2);
    expect(unwritable.err.join('\n')).toMatch(/ERR_IO/);
    const evalUsage = captureIo();
    expect(await runEvaluateCommand([modelPath, '--data', dataPath], evalUsage.io, notTty)).toBe(2);
    const help = captureIo();
    expect(await runCalibrateCommand(['--help'], help.io, notTty)).toBe(0);
    expect(help.out.join('')).toMatch(/--max-output-mb/);
  });
});
