/**
 * The OCR example feeds PP-OCRv4's detector at the size PaddleOCR would: long side <= 960, each side a multiple
 * of 32 rounded with Python's round() (halves to even). Checked against that rule evaluated by Python itself.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- plain JS module of the example, no type declarations
import { paddleDetSize, roundHalfEven } from '../../examples/ocr-dynamic/paddle-det.mjs';

const python = spawnSync('python3', ['--version']).status === 0;

describe('PaddleOCR detector input size (examples/ocr-dynamic)', () => {
  it('rounds halves to even like Python', () => {
    expect([0.5, 1.5, 2.5, 22.5, 23.5, -0.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, 22, 24, -0, 2, 3]);
  });

  it('sizes the OpenCV photos as PaddleOCR does', () => {
    expect(paddleDetSize(1280, 960)).toEqual({ width: 960, height: 704 }); // 720 / 32 = 22.5 -> 22
    expect(paddleDetSize(1004, 958)).toEqual({ width: 960, height: 928 });
    expect(paddleDetSize(640, 480)).toEqual({ width: 640, height: 480 });
    expect(paddleDetSize(109, 32)).toEqual({ width: 96, height: 32 });
    expect(paddleDetSize(10, 10)).toEqual({ width: 32, height: 32 });
  });

  it.skipIf(!python)('matches the rule evaluated by Python on 2,000 sizes', () => {
    const sizes: [number, number][] = [];
    for (let i = 0; i < 2000; i++) sizes.push([1 + ((i * 7919) % 2600), 1 + ((i * 104729) % 1900)]);
    const script = [
      'import json, sys',
      'out = []',
      'for w, h in json.load(sys.stdin):',
      '    ratio = 960 / max(h, w) if max(h, w) > 960 else 1.0',
      '    rh, rw = int(h * ratio), int(w * ratio)',
      '    out.append([max(int(round(rw / 32) * 32), 32), max(int(round(rh / 32) * 32), 32)])',
      'print(json.dumps(out))',
    ].join('\n');
    const result = spawnSync('python3', ['-c', script], { input: JSON.stringify(sizes), encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    const expected = JSON.parse(result.stdout) as [number, number][];
    const actual = sizes.map(([w, h]) => {
      const s = paddleDetSize(w, h) as { width: number; height: number };
      return [s.width, s.height];
    });
    expect(actual).toEqual(expected);
  });
});
