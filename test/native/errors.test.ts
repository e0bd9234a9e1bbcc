/**
 * One error convention for every native module: the core addon's stats, bridge and cuda modules throw Errors with a
 * `code` property (cpp/core/native_error.h), and fromNativeError turns them into TrtInt8Errors by that property.
 * The errors here are thrown by the real built addon (npm run build:native); the TensorRT modules' side is in
 * test/tensorrt/native-module.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { TrtInt8Error } from '../../src/core/errors.js';
import { addonReport, callNative, fromNativeError, nativeModule } from '../../src/native/index.js';
import { nativeThrow } from './native-throw.js';
import { caught } from '../caught.js';

const report = addonReport();
const has = (name: string) => report.loaded && (report.modules ?? []).includes(name);

describe('native modules set `code` on what they throw', () => {
  it.skipIf(!has('stats'))('stats: a misused constructor is a TypeError with code ERR_BAD_OPTION', () => {
    const { HistogramCollector } = nativeModule('stats');
    const raw = nativeThrow(() => new (HistogramCollector as unknown as new (...args: unknown[]) => unknown)('many', 1, 2));
    expect(raw).toBeInstanceOf(TypeError);
    expect(raw.code).toBe('ERR_BAD_OPTION');
    expect(raw.message).toBe('HistogramCollector(numBins, threads, maxBins[, histograms]) expects three numbers');
  });

  it.skipIf(!has('stats'))('stats: add() after dispose() is ERR_BAD_OPTION', () => {
    const collector = new (nativeModule('stats').HistogramCollector)(16, 1, 64);
    collector.dispose();
    const raw = nativeThrow(() => void collector.add(['x'], [new Float32Array(4)]));
    expect(raw.code).toBe('ERR_BAD_OPTION');
    expect(raw.message).toMatch(/after dispose/);
  });

  it.skipIf(!has('cuda'))('cuda: a bad byte length is ERR_BAD_OPTION', () => {
    const raw = nativeThrow(() => new (nativeModule('cuda').PinnedBuffer)(-1));
    expect(raw.code).toBe('ERR_BAD_OPTION');
  });

  it.skipIf(!has('bridge'))('bridge: a bad test-driver spec is ERR_BAD_OPTION, mapped with the call that failed', () => {
    const bridge = nativeModule('bridge');
    const error = caught(() => callNative('createBridgeTestDriver', () => bridge.createTestDriverJob({ inputs: [{ name: 'x', byteLength: -1 }] })));
    expect(error).toBeInstanceOf(TrtInt8Error);
    expect(error.code).toBe('ERR_BAD_OPTION');
    expect(error.input).toBe('createBridgeTestDriver');
    expect(error.message).toMatch(/^createBridgeTestDriver: input "x": byteLength must be a non-negative integer/);
    expect((error.cause as { code?: string }).code).toBe('ERR_BAD_OPTION');
  });
});

describe('fromNativeError', () => {
  const coded = (code: string, message: string) => Object.assign(new Error(message), { code });

  it('keeps the native code and message, names the call, and adds the fixes for that code', () => {
    const error = fromNativeError(coded('ERR_CUDA_UNAVAILABLE', 'cuInit failed: no CUDA-capable device is detected'), 'DeviceBuffer');
    expect(error.code).toBe('ERR_CUDA_UNAVAILABLE');
    expect(error.message.split('\n')[0]).toBe('DeviceBuffer: cuInit failed: no CUDA-capable device is detected');
    expect(error.fixes.some((f) => f.includes('nvidia-smi'))).toBe(true);
  });

  it('an error without a known code (node-addon-api\'s own, or an old binary) gets the fallback code', () => {
    expect(fromNativeError(new Error('A number was expected'), 'stage').code).toBe('ERR_BUILD_FAILED');
    expect(fromNativeError(coded('ERR_NOT_OURS', 'x'), 'stage', { fallback: 'ERR_BAD_OPTION' }).code).toBe('ERR_BAD_OPTION');
    // The message is taken as it is: nothing parses it for a code any more.
    const old = fromNativeError(new Error('ERR_BAD_MODEL: the parser rejected it'), 'buildEngine');
    expect(old.code).toBe('ERR_BUILD_FAILED');
    expect(old.message.split('\n')[0]).toBe('buildEngine: ERR_BAD_MODEL: the parser rejected it');
  });

  it('passes TrtInt8Errors through untouched and keeps details', () => {
    const own = new TrtInt8Error('ERR_CALIBRATOR_CALLBACK', 'getBatch threw');
    expect(fromNativeError(own, 'buildEngine')).toBe(own);
    const withLog = fromNativeError(coded('ERR_BAD_MODEL', 'bad'), 'buildEngine', { details: { nativeLog: [{ severity: 1, message: 'x' }] } });
    expect(withLog.details.nativeLog).toEqual([{ severity: 1, message: 'x' }]);
    expect(fromNativeError('plain text', 'x').message.split('\n')[0]).toBe('x: plain text');
  });
});
