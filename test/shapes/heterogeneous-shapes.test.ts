/**
 * Our statistics engine takes batches of any shape as they come: calibrating a fully dynamic model
 * (N, C, H, W all dynamic) on batches of different shapes gives exactly the histograms of the
 * concatenated values, with no padding bias. Fitting the same batches to one OPT shape does not.
 */
import { describe, expect, it } from 'vitest';
import { calibrate, calibratorFromBatches, fitCalibratorToProfile, HistogramCollector, type Batch, type FitReport } from '../../src/index.js';
import { buildModel, initializer, node, randomValues, runModel, valueInfo } from '../onnx/helpers.js';

const SHAPES = [
  [1, 3, 5, 7],
  [2, 1, 9, 4],
  [1, 2, 6, 6],
  [3, 3, 4, 5],
];
const OPT = [3, 3, 9, 7];
const TENSORS = ['x', 'relu', 'scaled'];

/** x[N,C,H,W] -> Relu -> Mul(1.5) -> Tanh; the intermediate tensors are graph outputs too, so ORT hands them over. */
function dynamicModel(): Uint8Array {
  return buildModel({
    inputs: [valueInfo('x', ['N', 'C', 'H', 'W'])],
    outputs: [valueInfo('relu', ['N', 'C', 'H', 'W']), valueInfo('scaled', ['N', 'C', 'H', 'W']), valueInfo('y', ['N', 'C', 'H', 'W'])],
    initializers: [initializer('k', [], Float32Array.of(1.5))],
    nodes: [
      node('Relu', ['x'], ['relu']),
      node('Mul', ['relu', 'k'], ['scaled']),
      node('Tanh', ['scaled'], ['y']),
    ],
  });
}

function batches(): Batch[] {
  return SHAPES.map((shape, i) => {
    const data = randomValues(shape.reduce((a, b) => a * b, 1), 40 + i, 2 + i);
    // Batch 0 holds the largest value of all: the first batch sets the bin width, so this makes the
    // per-batch and all-at-once histograms use the same bins and comparable bit for bit.
    if (i === 0) data[3] = 9;
    return { x: { data, shape } };
  });
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

describe('heterogeneous shapes in the statistics engine', () => {
  it('calibrating on batches of different N, C, H, W equals the histograms of the concatenated values', async () => {
    const model = dynamicModel();
    const data = batches();
    const result = await calibrate(model, calibratorFromBatches(data, { algorithm: 'minmax' }), { tensors: TENSORS, histograms: true });
    expect(result.summary.batches).toBe(SHAPES.length);

    // Reference: every tensor's values from separate ORT runs, concatenated, counted in one go.
    const perTensor = new Map<string, Float32Array[]>(TENSORS.map((t) => [t, []]));
    for (const batch of data) {
      const x = batch.x as { data: Float32Array; shape: number[] };
      perTensor.get('x')!.push(x.data);
      const outputs = await runModel(model, { x: { data: x.data, dims: x.shape } });
      perTensor.get('relu')!.push(outputs.get('relu')!);
      perTensor.get('scaled')!.push(outputs.get('scaled')!);
    }
    const collector = new HistogramCollector();
    try {
      await collector.add(new Map([...perTensor].map(([name, parts]) => [name, concat(parts)])));
      const reference = collector.histograms();
      const totalElements = SHAPES.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
      for (const name of TENSORS) {
        const got = result.tensors.get(name)!.histogram!;
        const want = reference.get(name)!;
        expect(got.count, name).toBe(totalElements);
        expect(got.binWidth, name).toBe(want.binWidth);
        expect(got.min, name).toBe(want.min);
        expect(got.max, name).toBe(want.max);
        expect(got.absMax, name).toBe(want.absMax);
        expect(got.counts.length, name).toBe(want.counts.length);
        expect([...got.counts], name).toEqual([...want.counts]);
      }
      expect(result.tensors.get('x')!.amax).toBe(9);
      expect(result.tensors.get('scaled')!.amax).toBe(Math.fround(9 * 1.5));
    } finally {
      collector.dispose();
    }
  });

  it('fitting the same batches to one OPT shape adds padding to the statistics (the bias the engine avoids)', async () => {
    const model = dynamicModel();
    const reports: FitReport[] = [];
    const fitted = fitCalibratorToProfile(calibratorFromBatches(batches(), { algorithm: 'minmax' }), { x: { min: [1, 1, 1, 1], opt: OPT, max: OPT } }, {
      padValue: 0,
      onReport: (r) => reports.push(r),
    });
    const padded = await calibrate(model, fitted, { tensors: ['x'], histograms: true });
    const direct = await calibrate(model, calibratorFromBatches(batches(), { algorithm: 'minmax' }), { tensors: ['x'], histograms: true });
    const optSize = OPT.reduce((a, b) => a * b, 1);
    const sampleSize = SHAPES.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
    const withPadding = padded.tensors.get('x')!.histogram!;
    const without = direct.tensors.get('x')!.histogram!;
    expect(withPadding.count).toBe(SHAPES.length * optSize);
    expect(without.count).toBe(sampleSize);
    // Every padded element is a zero, counted in bin 0; every other bin is unchanged.
    expect(withPadding.counts[0]! - without.counts[0]!).toBe(SHAPES.length * optSize - sampleSize);
    expect([...withPadding.counts.subarray(1)]).toEqual([...without.counts.subarray(1)]);

    expect(reports).toHaveLength(1);
    const report = reports[0]!;
    expect(report.padded).toBe(SHAPES.length * optSize - sampleSize);
    expect(report.cut).toBe(0);
    expect(report.inputs.x).toMatchObject({ batches: 4, sampleElements: sampleSize, fittedElements: 4 * optSize, batchesPadded: 4, batchesCut: 0 });
    expect(report.paddedFraction).toBeCloseTo(1 - sampleSize / (4 * optSize), 12);
    expect(report.summary).toMatch(/^x: 4 batches fitted to \[3, 3, 9, 7\]/);
  });
});
