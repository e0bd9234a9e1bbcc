/**
 * The accuracy evidence (docs/accuracy-evidence.*, scripts/evidence/): the .npy files prepare.ts hands to the
 * Python side are what numpy reads, and the committed table says what its raw JSON says. Nothing here runs a model
 * or needs onnxruntime-Python; the numpy cross-check skips without python3 + numpy.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { npyBytes } from '../../scripts/evidence/npy.js';

const root = path.resolve(__dirname, '../..');
const pythonHasNumpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
if (!pythonHasNumpy) console.warn('[evidence] python3 with numpy not found: the .npy cross-check skips.');

describe('npy writer', () => {
  it('writes a format 1.0 header padded to 64 bytes', () => {
    const bytes = npyBytes(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    expect([...bytes.subarray(0, 8)]).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const headerLength = bytes[8]! | (bytes[9]! << 8);
    expect((10 + headerLength) % 64).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
    expect(header).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
    expect(bytes.length).toBe(10 + headerLength + 24);
    expect(() => npyBytes(new Float32Array(5), [2, 3])).toThrow(/holds 6 values/);
  });

  it.skipIf(!pythonHasNumpy)('is read back by numpy with the same dtype, shape and values', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'npy-'));
    try {
      const floats = Float32Array.from({ length: 2 * 3 * 5 }, (_, i) => Math.fround(Math.sin(i) * 1e3));
      fs.writeFileSync(path.join(dir, 'f.npy'), npyBytes(floats, [2, 3, 5]));
      fs.writeFileSync(path.join(dir, 'i.npy'), npyBytes(Int32Array.from([0, 1, -7, 2 ** 31 - 1]), [4]));
      const code = [
        'import json, sys, numpy as np',
        'f = np.load(sys.argv[1] + "/f.npy"); i = np.load(sys.argv[1] + "/i.npy")',
        'print(json.dumps({"f": [str(f.dtype), list(f.shape), f.ravel().astype(float).tolist()], "i": [str(i.dtype), list(i.shape), i.tolist()]}))',
      ].join('\n');
      const run = spawnSync('python3', ['-c', code, dir], { encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      const read = JSON.parse(run.stdout) as { f: [string, number[], number[]]; i: [string, number[], number[]] };
      expect(read.f[0]).toBe('float32');
      expect(read.f[1]).toEqual([2, 3, 5]);
      expect(read.f[2]).toEqual(Array.from(floats));
      expect(read.i).toEqual(['int32', [4], [0, 1, -7, 2 ** 31 - 1]]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface Run {
  readonly tool: string;
  readonly method: string;
  readonly primary: number;
  readonly accuracy?: number;
  readonly f1?: number;
}
interface ModelResult {
  readonly model: string;
  readonly metric: 'classification' | 'text-map';
  readonly runs: readonly Run[];
  readonly verdict: { trt_int8_default: number; onnxruntime_best: number; onnxruntime_best_method: string; default_at_least_as_accurate: boolean };
}

const jsonPath = path.join(root, 'docs/accuracy-evidence.json');
const markdownPath = path.join(root, 'docs/accuracy-evidence.md');

describe.skipIf(!fs.existsSync(jsonPath))('docs/accuracy-evidence', () => {
  const evidence = fs.existsSync(jsonPath) ? (JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as { models: ModelResult[] }) : { models: [] };
  const markdown = fs.existsSync(markdownPath) ? fs.readFileSync(markdownPath, 'utf8') : '';

  it('has the three models, each with trt-int8 default and entropy2 and at least one onnxruntime method', () => {
    expect(evidence.models.map((m) => m.model)).toEqual(['fashion-mnist', 'ppocr-det', 'ppocr-cls']);
    for (const m of evidence.models) {
      const ours = m.runs.filter((r) => r.tool === 'trt-int8').map((r) => r.method);
      expect(ours[0]).toBe('default');
      expect(ours).toContain('entropy2');
      // The default before 'auto''s whole-model check, next to it.
      expect(ours).toContain('default-no-model-check');
      expect(m.runs.filter((r) => r.tool === 'onnxruntime').length).toBeGreaterThan(0);
    }
  });

  it('verdicts follow from the runs', () => {
    for (const m of evidence.models) {
      const ours = m.runs.find((r) => r.tool === 'trt-int8' && r.method === 'default')!;
      const theirs = m.runs.filter((r) => r.tool === 'onnxruntime');
      const best = theirs.reduce((a, b) => (b.primary > a.primary ? b : a));
      expect(ours.primary).toBe(m.metric === 'classification' ? ours.accuracy : ours.f1);
      expect(m.verdict.trt_int8_default).toBe(ours.primary);
      expect(m.verdict.onnxruntime_best).toBe(best.primary);
      expect(m.verdict.onnxruntime_best_method).toBe(best.method);
      expect(m.verdict.default_at_least_as_accurate).toBe(ours.primary >= best.primary);
    }
  });

  it('the table in the markdown shows the JSON numbers', () => {
    const table = markdown.split('<!-- evidence-table:start')[1]?.split('<!-- evidence-table:end -->')[0] ?? '';
    expect(table.length).toBeGreaterThan(0);
    for (const m of evidence.models) {
      for (const r of m.runs) {
        const shown = m.metric === 'classification' ? (100 * r.primary).toFixed(2) : r.primary.toFixed(4);
        expect(table, `${m.model} ${r.tool} ${r.method}`).toMatch(new RegExp(`\\| ${r.tool} \\| [^|]*${r.method === 'default' ? "default \\('auto'\\)" : r.method.replace(/\./g, '\\.')}[^|]*\\| ${shown.replace('.', '\\.')} \\|`));
      }
      const verdict = m.verdict.default_at_least_as_accurate ? 'yes' : '**no**';
      expect(table).toContain(`onnxruntime's best (${m.verdict.onnxruntime_best_method}): ${verdict}`);
    }
  });
});
