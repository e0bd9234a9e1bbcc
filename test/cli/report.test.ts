/**
 * `trt-int8 calibrate --report DIR` and `--tensor-algorithm NAME=ALGO` on the bundled Fashion-MNIST model with real
 * training images; writeSensitivityReport() as an API.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { calibrationIndices, isFashionMnistPresent, loadFashionMnist } from '../../examples/fashion-mnist/dataset.js';
import { calibrate, sensitivityReport, writeSensitivityReport, type SensitivityReport } from '../../src/calibrate/index.js';
import { calibratorFromBatches } from '../../src/calibrators/index.js';
import { OnnxModel, planQuantization } from '../../src/onnx/index.js';
import { quantizationError } from '../../src/stats/index.js';
import { TrtInt8Error } from '../../src/core/errors.js';
import { FASHION_MODEL, cli, npyBytes, tempDir } from './helpers.js';

const present = await isFashionMnistPresent();
const skipped = present ? '' : ' (skipped: examples/fashion-mnist/data is not there)';

/** 256 real training images, normalised as the model was trained, as one .npy in a fresh folder. */
async function realWorkspace(): Promise<{ dir: string; data: string }> {
  const dir = tempDir('trt-int8-report-');
  const split = await loadFashionMnist('train', { indices: calibrationIndices(256) });
  const data = path.join(dir, 'train256.npy');
  fs.writeFileSync(data, npyBytes(split.images, [split.count, 1, 28, 28]));
  return { dir, data };
}

function readReport(dir: string): SensitivityReport {
  return JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8')) as SensitivityReport;
}

describe.skipIf(!present)(`calibrate --report on Fashion-MNIST${skipped}`, () => {
  it('writes report.json (used range, every candidate) and a readable index.html, worst SQNR first', async () => {
    const { dir, data } = await realWorkspace();
    const reportDir = path.join(dir, 'report');
    const run = await cli(['calibrate', FASHION_MODEL, '--data', data, '--report', reportDir]);
    expect(run.err).not.toMatch(/^error/m);
    expect(run.code).toBe(0);
    expect(run.out).toContain(path.join(reportDir, 'index.html'));

    const report = readReport(reportDir);
    const model = await OnnxModel.load(FASHION_MODEL);
    expect(report.tensors.map((t) => t.tensor)).toEqual(planQuantization(model).activationNames);
    expect(report.algorithm).toBe('auto');
    expect(report.samples).toBe(256);
    // On Fashion-MNIST the model check keeps the per-tensor set; its per-tensor step may move a few tensors to the
    // uniform set's percentile range, and the report lists each move.
    const check = report.modelCheck!;
    expect(check.chosen).toBe('auto');
    const moved = new Map((check.tensorSteps?.kept ?? []).map((k) => [k.tensor, k.to]));
    expect(moved.size).toBeLessThan(report.tensors.length);
    for (const t of report.tensors) {
      if (moved.has(t.tensor)) {
        expect(t.algorithm).toBe('percentile');
        expect(t.amax).toBe(moved.get(t.tensor));
      } else {
        // 'auto' (the default) uses the candidate it reports as chosen, so the used error is that candidate's.
        expect(t.algorithm).toBe('auto');
        expect(t.amax).toBe(t.chosen.amax);
        expect(t.used.sqnrDb).toBeCloseTo(t.chosen.sqnrDb!, 9);
      }
      expect(t.candidates.length).toBeGreaterThanOrEqual(4);
      expect(t.candidates.map((c) => c.method)).toContain('minmax');
      const minmax = t.candidates.find((c) => c.method === 'minmax')!;
      expect(minmax.amax).toBe(t.absMax);
      // Only part of the last bin (it straddles max |x|) can count as clipped; every other candidate clips at least as much.
      expect(minmax.clippedShare).toBeLessThan(1e-4);
      for (const c of t.candidates) expect(c.clippedShare).toBeGreaterThanOrEqual(minmax.clippedShare);
      // The pick has the least MSE of the candidates.
      for (const c of t.candidates) expect(t.chosen.mse).toBeLessThanOrEqual(c.mse);
    }
    const sqnrs = report.bySqnr.map((name) => report.tensors.find((t) => t.tensor === name)!.used.sqnrDb ?? Infinity);
    expect(sqnrs).toEqual([...sqnrs].sort((a, b) => a - b));
    expect(sqnrs[0]).toBeLessThan(sqnrs.at(-1)!);

    const html = fs.readFileSync(path.join(reportDir, 'index.html'), 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).not.toMatch(/<script|src="http|href="http/); // self-contained
    // The summary table lists the tensors in bySqnr order, then one section with one SVG per tensor.
    const rows = [...html.matchAll(/<tr><td>\d+<\/td><td><a href="#t\d+">([^<]+)<\/a>/g)].map((m) => m[1]);
    expect(rows).toEqual(report.bySqnr.map((n) => n.replace(/&/g, '&amp;')));
    expect(html.match(/<svg /g)).toHaveLength(report.tensors.length);
    const first = report.tensors[0]!;
    expect(html.match(/class="mark"/g)).toHaveLength(report.tensors.reduce((n, t) => n + t.candidates.length, 0));
    expect(html).toContain(`${first.candidates[0]!.method} `);
  });

  it('--tensor-algorithm input=minmax with --algorithm entropy2: the input keeps its tail, activations keep entropy', async () => {
    const { dir, data } = await realWorkspace();
    const reportDir = path.join(dir, 'r');
    const run = await cli(['calibrate', FASHION_MODEL, '--data', data, '--algorithm', 'entropy2', '--tensor-algorithm', 'input=minmax', '--report', reportDir]);
    expect(run.err).not.toMatch(/^error/m);
    expect(run.code).toBe(0);
    const report = readReport(reportDir);
    const input = report.tensors.find((t) => t.tensor === 'input')!;
    expect(input.algorithm).toBe('minmax');
    expect(input.amax).toBe(input.absMax);
    expect(input.used.clippedShare).toBeLessThan(1e-4);
    const others = report.tensors.filter((t) => t.tensor !== 'input');
    expect(others.length).toBeGreaterThan(0);
    for (const t of others) expect(t.algorithm).toBe('entropy2');

    // Without the override entropy clips the normalised input's background spike: a worse SQNR at the input.
    const plain = path.join(dir, 'plain');
    expect((await cli(['calibrate', FASHION_MODEL, '--data', data, '--algorithm', 'entropy2', '--report', plain])).code).toBe(0);
    const entropyInput = readReport(plain).tensors.find((t) => t.tensor === 'input')!;
    expect(entropyInput.algorithm).toBe('entropy2');
    expect(entropyInput.used.clippedShare).toBeGreaterThan(0);
    expect(entropyInput.amax).toBeLessThan(input.amax);
  });

  it('--tensor-algorithm by tensor name; unknown names exit 2 before any work, with the nearest names', async () => {
    const { dir, data } = await realWorkspace();
    const model = await OnnxModel.load(FASHION_MODEL);
    const target = planQuantization(model).activationNames.find((n) => n !== 'input')!;
    const reportDir = path.join(dir, 'named');
    const ok = await cli(['calibrate', FASHION_MODEL, '--data', data, '--tensor-algorithm', `${target}=percentile`, '--report', reportDir]);
    expect(ok.code).toBe(0);
    const report = readReport(reportDir);
    expect(report.tensors.find((t) => t.tensor === target)!.algorithm).toBe('percentile');
    expect(report.tensors.filter((t) => t.algorithm === 'percentile')).toHaveLength(1);

    const typo = target.slice(0, -1) + (target.endsWith('x') ? 'y' : 'x');
    const out = path.join(dir, 'typo');
    const bad = await cli(['calibrate', FASHION_MODEL, '--data', data, '--tensor-algorithm', `${typo}=minmax`, '--report', out]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain(`"${typo}" is not a calibrated tensor`);
    expect(bad.err).toContain(`Did you mean "${target}"`);
    expect(fs.existsSync(out)).toBe(false);

    for (const [arg, message] of [
      ['input=fastest', /--tensor-algorithm must be one of auto, entropy2/],
      ['=minmax', /needs NAME=ALGO/],
      ['input', /needs NAME=ALGO/],
    ] as const) {
      const run = await cli(['calibrate', FASHION_MODEL, '--data', data, '--tensor-algorithm', arg, '--report', out]);
      expect(run.code, arg).toBe(2);
      expect(run.err).toMatch(message);
    }
    const twice = await cli(['calibrate', FASHION_MODEL, '--data', data, '--tensor-algorithm', 'input=minmax', '--tensor-algorithm', 'input=entropy', '--report', out]);
    expect(twice.code).toBe(2);
    expect(twice.err).toMatch(/names "input" twice/);
  });

  it('checks the report folder before any work: a file, a missing parent, a folder inside the data', async () => {
    const { dir, data } = await realWorkspace();
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, 'keep me');
    const asFile = await cli(['calibrate', FASHION_MODEL, '--data', data, '--report', file]);
    expect(asFile.code).toBe(2);
    expect(asFile.err).toMatch(/--report .*a-file is a file; pass a folder path/);
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me');

    const missingParent = await cli(['calibrate', FASHION_MODEL, '--data', data, '--report', path.join(dir, 'no', 'such', 'report')]);
    expect(missingParent.code).toBe(2);
    expect(missingParent.err).toMatch(/does not exist/);

    const dataDir = path.join(dir, 'datadir');
    fs.mkdirSync(dataDir);
    fs.copyFileSync(data, path.join(dataDir, 'x.npy'));
    const inside = await cli(['calibrate', FASHION_MODEL, '--data', dataDir, '--report', dataDir]);
    expect(inside.code).toBe(2);
    expect(inside.err).toMatch(/would overwrite the --data/);
    expect(fs.readdirSync(dataDir)).toEqual(['x.npy']);

    // --report alone is an output: no "nothing to write".
    const none = await cli(['calibrate', FASHION_MODEL, '--data', data]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/--report <dir>/);
  });
});

describe.skipIf(!present)(`writeSensitivityReport (API)${skipped}`, () => {
  it('reports the error of the range each tensor used, and refuses a result with no histograms', async () => {
    const split = await loadFashionMnist('train', { indices: calibrationIndices(128) });
    const batches = [0, 1].map((b) => ({ input: { data: split.images.subarray(b * 64 * 784, (b + 1) * 64 * 784), shape: [64, 1, 28, 28] } }));
    const result = await calibrate(FASHION_MODEL, calibratorFromBatches(batches, { algorithm: 'entropy2' }));
    const dir = path.join(tempDir('trt-int8-report-api-'), 'nested', 'report');
    const written = await writeSensitivityReport(result, dir);
    expect(written).toEqual([path.join(dir, 'report.json'), path.join(dir, 'index.html')]);
    const report = readReport(dir);
    expect(report).toEqual(JSON.parse(JSON.stringify(sensitivityReport(result))));
    for (const t of report.tensors) {
      const calibrated = result.tensors.get(t.tensor)!;
      expect(t.amax).toBe(calibrated.amax);
      expect(t.algorithm).toBe('entropy2');
      expect(t.used.mse).toBe(quantizationError(calibrated.histogram!, calibrated.amax).mse);
      // entropy2 is not auto's pick everywhere: the used range is never better than the pick.
      expect(t.used.mse).toBeGreaterThanOrEqual(t.chosen.mse * (1 - 1e-12));
    }

    const cacheFile = path.join(tempDir('trt-int8-report-cache-'), 'm.cache');
    await result.writeCache(cacheFile);
    const fromCache = await calibrate(FASHION_MODEL, calibratorFromBatches(batches, { algorithm: 'entropy2', cachePath: cacheFile }));
    expect(fromCache.summary.source).toBe('cache');
    const error = (() => {
      try {
        sensitivityReport(fromCache);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(TrtInt8Error);
    expect((error as TrtInt8Error).code).toBe('ERR_BAD_OPTION');
    expect((error as TrtInt8Error).message).toMatch(/read from a cache/);
  });
});
