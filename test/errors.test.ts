import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, MAX_DESCRIBED_LENGTH, TrtInt8Error, abortError, isTrtInt8Error, throwIfAborted, untilAborted } from '../src/core/errors.js';

describe('TrtInt8Error', () => {
  it('carries a stable code and the structured fields', () => {
    const error = new TrtInt8Error('ERR_BAD_BATCH', 'Calibration batch 3: input "x" is missing.', {
      input: 'x',
      expected: ['x', 'y'],
      actual: ['y'],
      details: { batchIndex: 3 },
    });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('TrtInt8Error');
    expect(error.code).toBe('ERR_BAD_BATCH');
    expect(error.input).toBe('x');
    expect(error.details).toEqual({ batchIndex: 3 });
    expect(error.fixes).toEqual([]);
    expect(error.message).toBe('Calibration batch 3: input "x" is missing.\n  expected: ["x","y"]\n  actual:   ["y"]');
    expect(String(error)).toMatch(/^TrtInt8Error: Calibration batch 3/);
  });

  it('lists the fixes in the message, in order', () => {
    const error = new TrtInt8Error('ERR_ADDON_NOT_FOUND', 'No addon.', { fixes: ['Build it.', 'Reinstall.'] });
    expect(error.fixes).toEqual(['Build it.', 'Reinstall.']);
    expect(error.message.split('\n')).toEqual(['No addon.', 'Possible solutions:', '- Build it.', '- Reinstall.']);
  });

  it('keeps the cause', () => {
    const cause = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const error = new TrtInt8Error('ERR_IO', 'Could not write x.', { cause });
    expect(error.cause).toBe(cause);
    expect(new TrtInt8Error('ERR_IO', 'no cause').cause).toBeUndefined();
  });

  it('describes values that JSON cannot', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const error = new TrtInt8Error('ERR_BAD_OPTION', 'Bad.', { expected: 1n as unknown, actual: circular });
    expect(error.message).toMatch(/expected: 1\n/);
    expect(error.message).toMatch(/actual: {3}\[object Object\]/);
  });

  it('is recognised by isTrtInt8Error, optionally by code', () => {
    const error = new TrtInt8Error('ERR_CACHE_FORMAT', 'x');
    expect(isTrtInt8Error(error)).toBe(true);
    expect(isTrtInt8Error(error, 'ERR_CACHE_FORMAT')).toBe(true);
    expect(isTrtInt8Error(error, 'ERR_IO')).toBe(false);
    expect(isTrtInt8Error(new Error('x'))).toBe(false);
    expect(isTrtInt8Error({ code: 'ERR_IO' })).toBe(false);
  });
});

describe('abort helpers', () => {
  it('throw the signal reason, or ABORT_ERR without one', () => {
    const controller = new AbortController();
    expect(() => throwIfAborted(controller.signal)).not.toThrow();
    expect(() => throwIfAborted(undefined)).not.toThrow();
    const reason = new Error('stop');
    controller.abort(reason);
    expect(() => throwIfAborted(controller.signal)).toThrow(reason);
    const bare = abortError(undefined);
    expect(isTrtInt8Error(bare, 'ABORT_ERR')).toBe(true);
  });
});

describe('docs/errors.md', () => {
  const doc = fs.readFileSync(path.join(__dirname, '..', 'docs', 'errors.md'), 'utf8');
  const sections = [...doc.matchAll(/^## (\S+)\s*$/gm)].map((m) => m[1]);

  it('has exactly one section per error code', () => {
    expect([...sections].sort()).toEqual([...ErrorCodes].sort());
  });

  it('gives every code a meaning and at least one fix', () => {
    for (const code of ErrorCodes) {
      const body = doc.split(`## ${code}\n`)[1]!.split(/^## /m)[0]!;
      expect(body.trim().split('\n')[0]!.length, code).toBeGreaterThan(20);
      expect(body, code).toMatch(/^- /m);
    }
  });
});

describe('bounded messages (issue #12.12)', () => {
  it('embeds at most MAX_DESCRIBED_LENGTH characters of expected/actual, saying how many more there were', () => {
    const huge = 'x'.repeat(10_000_000);
    const error = new TrtInt8Error('ERR_CACHE_FORMAT', `Line 2: ${huge}`, { input: 'line 2', expected: huge, actual: Array.from({ length: 100_000 }, (_, i) => i) });
    expect(error.message.length).toBeLessThan(4_000);
    expect(error.message).toContain(`... (${10_000_000 - MAX_DESCRIBED_LENGTH} more)`);
    expect(error.actual).toHaveLength(100_000); // the property keeps the full value
    const small = new TrtInt8Error('ERR_BAD_OPTION', 'Invalid x.', { expected: 'short', actual: 'also short' });
    expect(small.message).toBe('Invalid x.\n  expected: short\n  actual:   also short');
  });
});

describe('untilAborted', () => {
  it('settles as the promise does, or rejects with the signal reason as soon as it aborts', async () => {
    expect(await untilAborted(Promise.resolve(7), new AbortController().signal)).toBe(7);
    const controller = new AbortController();
    const never = new Promise<number>(() => undefined);
    setTimeout(() => controller.abort('gone'), 10);
    await expect(untilAborted(never, controller.signal)).rejects.toBe('gone');
    await expect(untilAborted(Promise.reject(new Error('own')), new AbortController().signal)).rejects.toThrow('own');
    await expect(untilAborted(never, AbortSignal.abort('already'))).rejects.toBe('already');
  });
});
