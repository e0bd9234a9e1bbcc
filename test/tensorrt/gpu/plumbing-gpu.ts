/**
 * GPU-machine check of everything up to the first TensorRT call, for when no TensorRT can be had: run with
 * TRT_INT8_FIXTURE_ROOT pointing at the fixture libraries of bridge-plumbing.test.ts (TensorRT 10.16.1's
 * entry points, returning no builder / runtime). On a GPU this exercises the CUDA calibration session
 * (pinned + device memory), the job thread with the primary context current, the module's own CUDA device
 * opening for engines, and the mapping of each failure to a typed error. Prints one JSON line per check.
 */
import { EntropyCalibrator2, Engine, TrtInt8Error, buildEngine, locateTensorRT, probeCuda } from '../../../src/index.js';
import { cnn } from '../models.js';

const root = process.env.TRT_INT8_FIXTURE_ROOT!;

function describe(error: unknown) {
  return error instanceof TrtInt8Error ? { code: error.code, message: error.message.split('\n')[0] } : { error: String(error) };
}

async function main(): Promise<void> {
  console.log(JSON.stringify({ check: 'cuda', result: probeCuda() }));
  console.log(JSON.stringify({ check: 'locateTensorRT', result: locateTensorRT() }));
  console.log(JSON.stringify({ check: 'buildEngine without TensorRT', result: describe(await buildEngine(cnn({ fixedBatch: 2 })).catch((e: unknown) => e)) }));

  let calls = 0;
  class Calib extends EntropyCalibrator2 {
    getBatch() {
      calls++;
      return null;
    }
  }
  for (const precision of ['fp32', 'int8'] as const) {
    const started = performance.now();
    const error = await buildEngine(cnn(), {
      precision,
      profiles: [{ input: { min: [1, 3, 8, 8], opt: [16, 3, 8, 8], max: [64, 3, 8, 8] } }],
      ...(precision === 'int8' ? { calibrator: new Calib() } : {}),
      tensorrt: { root },
    }).catch((e: unknown) => e);
    console.log(JSON.stringify({ check: `buildEngine ${precision} (fixture)`, ms: Math.round(performance.now() - started), getBatchCalls: calls, result: describe(error) }));
  }
  const error = await Engine.load(new Uint8Array(64), { tensorrt: { root } }).catch((e: unknown) => e);
  console.log(JSON.stringify({ check: 'Engine.load (fixture)', result: describe(error) }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
