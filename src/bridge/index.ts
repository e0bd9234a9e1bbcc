// The calibrator bridge (TypeScript calibrators serving native jobs on their own thread) and CUDA memory.
export { CalibrationSession, runNativeJob } from './session.js';
export type { BridgeBatchContext, CalibrationSessionOptions, NativeJob, NativeLogLine, RunOptions, RunResult } from './session.js';
export { DeviceBuffer, PinnedBuffer } from './cuda.js';
export { createBridgeTestDriver, fnv1a32 } from './test-driver.js';
export type { BridgeTestDriver, BridgeTestDriverOptions, BridgeTestDriverResults } from './test-driver.js';
