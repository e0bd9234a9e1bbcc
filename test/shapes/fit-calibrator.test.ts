import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ndarray from 'ndarray';
import { describe, expect, it, vi } from 'vitest';
import {
  EntropyCalibrator2,
  fitCalibratorToProfile,
  nextValidatedBatch,
  TrtInt8Error,
  type Batch,
  type BatchContext,
  type FitReport,
  type InputSpec,
} from '../../src/index.js';

/** What TensorRT 10's calibration session asks for: the input at its OPT shape. */
const SESSION_INPUTS: InputSpec[] = [{ name: 'x', dtype: 'float32', shape: [1, 3, 8, 8] }];

class ListCalibrator extends EntropyCalibrator2 {
  seen: InputSpec[][] = [];
  closed = 0;
  constructor(private readonly batches: Batch[], cachePath?: string) {
    super(cachePath ? { cachePath } : {});
  }
  getBatch(ctx: BatchContext): Batch | null {
    this.seen.push([...ctx.inputs]);
    return this.batches[ctx.batchIndex] ?? null;
  }
  override async close(): Promise<void> {
    this.closed++;
  }
}

function image(h: number, w: number, value: number) {
  return { data: new Float32Array(3 * h * w).fill(value), shape: [1, 3, h, w] };
}

async function drain(calibrator: ReturnType<typeof fitCalibratorToProfile>) {
  const signal = new AbortController().signal;
  const out = [];
  for (let batchIndex = 0; ; batchIndex++) {
    // nextValidatedBatch is what the bridge and calibrate() call: the fitted batch must pass the OPT-shape check.
    const batch = await nextValidatedBatch(calibrator, { inputs: SESSION_INPUTS, batchIndex, signal });
    if (!batch) break;
    out.push(batch.get('x')!);
  }
  await calibrator.close();
  return out;
}

describe('fitCalibratorToProfile', () => {
  it('fits every batch to the OPT shape, shows the inner calibrator dynamic dims, and totals padding and cutting', async () => {
    const inner = new ListCalibrator([
      { x: image(8, 8, 1) },
      { x: image(4, 6, 2) },
      { x: image(10, 8, 3) }, // 2 rows too many
      // an ndarray is accepted like any batch value
      { x: ndarray(new Float32Array(3 * 8 * 12).fill(4), [1, 3, 8, 12]) },
    ]);
    const reports: FitReport[] = [];
    const fitted = fitCalibratorToProfile(inner, { x: [1, 3, 8, 8] }, { mode: 'pad-or-truncate', padValue: -1, onReport: (r) => reports.push(r) });
    expect(fitted.algorithm).toEqual(inner.algorithm);
    const tensors = await drain(fitted);
    expect(tensors.map((t) => t.shape)).toEqual([[1, 3, 8, 8], [1, 3, 8, 8], [1, 3, 8, 8], [1, 3, 8, 8]]);
    expect(inner.seen[0]).toEqual([{ name: 'x', dtype: 'float32', shape: [-1, -1, -1, -1] }]);
    const count = (data: ArrayLike<number>, v: number) => Array.prototype.filter.call(data, (x: number) => x === v).length;
    expect(count(tensors[1]!.data as Float32Array, 2)).toBe(3 * 4 * 6);
    expect(count(tensors[1]!.data as Float32Array, -1)).toBe(3 * 64 - 3 * 24);
    expect(count(tensors[2]!.data as Float32Array, 3)).toBe(3 * 64);
    expect(inner.closed).toBe(1);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.inputs.x).toEqual({
      optShape: [1, 3, 8, 8],
      batches: 4,
      sampleElements: 3 * (64 + 24 + 80 + 96),
      fittedElements: 4 * 3 * 64,
      padded: 3 * 40,
      cut: 3 * 16 + 3 * 32,
      batchesPadded: 1,
      batchesCut: 2,
    });
    expect(reports[0]!.cutFraction).toBeCloseTo((3 * 48) / (3 * 264), 12);
    expect(fitted.report.cut).toBe(3 * 48);
  });

  it("an oversize batch under mode 'pad' is ERR_BAD_BATCH with the batch index, input, OPT and sample shapes", async () => {
    const fitted = fitCalibratorToProfile(new ListCalibrator([{ x: image(8, 8, 1) }, { x: image(9, 8, 1) }]), { x: { opt: [1, 3, 8, 8] } }, { onReport: () => {} });
    const signal = new AbortController().signal;
    await nextValidatedBatch(fitted, { inputs: SESSION_INPUTS, batchIndex: 0, signal });
    const error = await nextValidatedBatch(fitted, { inputs: SESSION_INPUTS, batchIndex: 1, signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrtInt8Error);
    const e = error as TrtInt8Error;
    expect(e.code).toBe('ERR_BAD_BATCH');
    expect(e.message).toMatch(/^Calibration batch 1: Input "x" has shape \[1, 3, 9, 8\], larger than the OPT shape \[1, 3, 8, 8\]/);
    expect(e.input).toBe('x');
    expect(e.actual).toBe('[1, 3, 9, 8]');
    expect(e.details).toMatchObject({ batchIndex: 1, optShape: [1, 3, 8, 8], sampleShape: [1, 3, 9, 8] });
    expect(e.fixes).toHaveLength(3);
  });

  it('the inner batch is still validated (NaN, wrong rank) and cut data without onReport is a process warning', async () => {
    const nan = image(8, 8, 1);
    nan.data[5] = Number.NaN;
    const withNaN = fitCalibratorToProfile(new ListCalibrator([{ x: nan }]), { x: [1, 3, 8, 8] });
    await expect(drain(withNaN)).rejects.toMatchObject({ code: 'ERR_BAD_BATCH', input: 'x' });
    const wrongRank = fitCalibratorToProfile(new ListCalibrator([{ x: { data: new Float32Array(8), shape: [8] } }]), { x: [1, 3, 8, 8] });
    await expect(drain(wrongRank)).rejects.toMatchObject({ code: 'ERR_BAD_BATCH', input: 'x' });

    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      await drain(fitCalibratorToProfile(new ListCalibrator([{ x: image(10, 8, 1) }]), { x: [1, 3, 8, 8] }, { mode: 'pad-or-truncate' }));
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/cut calibration data: x: 1 batch fitted to \[1, 3, 8, 8\].*20\.0% of the data cut/);
      warn.mockClear();
      await drain(fitCalibratorToProfile(new ListCalibrator([{ x: image(6, 8, 1) }]), { x: [1, 3, 8, 8] }));
      expect(warn).not.toHaveBeenCalled(); // padding only: no warning
    } finally {
      warn.mockRestore();
    }
  });

  it("reads and writes the inner calibrator's cache", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trt-int8-fit-'));
    try {
      const cachePath = path.join(dir, 'model.cache');
      const fitted = fitCalibratorToProfile(new ListCalibrator([], cachePath), { x: [1, 3, 8, 8] });
      expect(fitted.cachePath).toBe(cachePath);
      expect(await fitted.readCache()).toBeNull();
      await fitted.writeCache(new TextEncoder().encode('TRT-100300-EntropyCalibration2\nx: 3c010a14\n'));
      expect(fs.readFileSync(cachePath, 'utf8')).toBe('TRT-100300-EntropyCalibration2\nx: 3c010a14\n');
      expect(new TextDecoder().decode((await fitted.readCache())!)).toContain('x: 3c010a14');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad arguments with ERR_BAD_OPTION', () => {
    const inner = new ListCalibrator([]);
    expect(() => fitCalibratorToProfile(null as never, { x: [1] })).toThrow(expect.objectContaining({ code: 'ERR_BAD_OPTION', input: 'calibrator' }));
    expect(() => fitCalibratorToProfile(inner, {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_OPTION', input: 'optShapes' }));
    expect(() => fitCalibratorToProfile(inner, { x: [1, -1, 8, 8] })).toThrow(expect.objectContaining({ code: 'ERR_BAD_OPTION', input: 'optShapes.x' }));
    expect(() => fitCalibratorToProfile(inner, { x: [1] }, { align: 'middle' as never })).toThrow(expect.objectContaining({ code: 'ERR_BAD_OPTION', input: 'align' }));
  });
});

describe('fitCalibratorToProfile against the session', () => {
  it('an OPT shape for an unknown input, or one that contradicts the session shape, is ERR_BAD_OPTION at the first batch', async () => {
    const signal = new AbortController().signal;
    const typo = fitCalibratorToProfile(new ListCalibrator([{ x: image(8, 8, 1) }]), { X: [1, 3, 8, 8] });
    await expect(nextValidatedBatch(typo, { inputs: SESSION_INPUTS, batchIndex: 0, signal })).rejects.toMatchObject({ code: 'ERR_BAD_OPTION', input: 'optShapes.X', actual: 'X' });
    const other = fitCalibratorToProfile(new ListCalibrator([{ x: image(8, 8, 1) }]), { x: [1, 3, 16, 16] });
    await expect(nextValidatedBatch(other, { inputs: SESSION_INPUTS, batchIndex: 0, signal })).rejects.toMatchObject({
      code: 'ERR_BAD_OPTION',
      input: 'optShapes.x',
      expected: '[1, 3, 8, 8] (-1 = any)',
      actual: '[1, 3, 16, 16]',
    });
    // A dynamic session shape (calibrate() on a dynamic model) accepts any OPT shape of its rank.
    const dynamic = fitCalibratorToProfile(new ListCalibrator([{ x: image(8, 8, 1) }]), { x: [1, 3, 16, 16] });
    const batch = await nextValidatedBatch(dynamic, { inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 3, -1, -1] }], batchIndex: 0, signal });
    expect(batch!.get('x')!.shape).toEqual([1, 3, 16, 16]);
  });
});

describe('fitCalibratorToProfile with buffers lent by the TensorRT bridge', () => {
  it('hides the OPT-sized buffers from the inner calibrator and fits straight into them', async () => {
    const inner = new (class extends ListCalibrator {
      lentSeen: unknown[] = [];
      override getBatch(ctx: BatchContext): Batch | null {
        this.lentSeen.push((ctx as { buffers?: unknown }).buffers);
        return super.getBatch(ctx);
      }
    })([{ x: image(4, 8, 5) }]);
    const lentBuffer = new Float32Array(3 * 64).fill(99);
    const fitted = fitCalibratorToProfile(inner, { x: [1, 3, 8, 8] });
    const ctx = { inputs: SESSION_INPUTS, batchIndex: 0, signal: new AbortController().signal, buffers: new Map([['x', lentBuffer]]) };
    const batch = await nextValidatedBatch(fitted, ctx);
    expect(inner.lentSeen).toEqual([null]);
    // Same memory: the bridge sees the batch as filled in place and skips its copy.
    expect(batch!.get('x')!.data).toBe(lentBuffer);
    expect(lentBuffer.filter((v) => v === 5).length).toBe(3 * 32);
    expect(lentBuffer.filter((v) => v === 0).length).toBe(3 * 32);
  });
});
