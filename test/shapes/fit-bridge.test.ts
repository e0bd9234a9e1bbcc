/**
 * fitCalibratorToProfile through the real calibrator bridge, driven by the native test driver exactly as
 * TensorRT 10.x implicit calibration drives it (a native thread asks for batches at the OPT shape): images of
 * other sizes arrive fitted, byte for byte, whether the bridge lends its buffers or copies.
 */
import { describe, expect, it } from 'vitest';
import { CalibrationSession, createBridgeTestDriver, fitCalibratorToProfile, fitToShape, fnv1a32, type FitReport, type InputSpec } from '../../src/index.js';
import { randomValues } from '../onnx/helpers.js';
import { TestCalibrator } from '../bridge/helpers.js';

const OPT: InputSpec[] = [{ name: 'x', dtype: 'float32', shape: [1, 3, 16, 16] }];
const SHAPES = [
  [1, 3, 16, 16],
  [1, 3, 9, 13],
  [1, 3, 20, 16], // 4 rows cut
  [1, 3, 16, 24], // 8 columns cut
];

describe('fitCalibratorToProfile through the calibrator bridge', () => {
  it.each([true, false])('delivers each image fitted to the OPT shape (zero copy %s)', async (zeroCopy) => {
    const images = SHAPES.map((shape, i) => ({ data: randomValues(shape.reduce((a, b) => a * b, 1), 500 + i, 3), shape }));
    const reports: FitReport[] = [];
    const calibrator = fitCalibratorToProfile(new TestCalibrator((ctx) => (images[ctx.batchIndex] ? { x: images[ctx.batchIndex]! } : null)), { x: OPT[0]!.shape }, {
      mode: 'pad-or-truncate',
      align: 'center',
      padValue: -1,
      onReport: (r) => reports.push(r),
    });
    using session = new CalibrationSession({ inputs: OPT, memory: 'host', prefetch: true, zeroCopy });
    const driver = createBridgeTestDriver({ inputs: [{ name: 'x', byteLength: 3 * 16 * 16 * 4 }], writeCache: null });
    const result = await session.run(driver.job, calibrator);
    await calibrator.close(); // what buildEngine does when the build ends
    expect(result.batches).toBe(SHAPES.length);
    // The expected bytes, fitted independently of the wrapper.
    const expected = images.map((image) => [fnv1a32(fitToShape(image, OPT[0]!.shape, { mode: 'pad-or-truncate', align: 'center', padValue: -1 }).data)]);
    expect(driver.results().checksums).toEqual(expected);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.inputs.x).toMatchObject({ batches: 4, batchesPadded: 1, batchesCut: 2, padded: 3 * (256 - 9 * 13), cut: 3 * (4 * 16 + 16 * 8) });
  });
});
