/** `trt-int8 calibrate --placement`: the Q/DQ model written follows the placement asked for. */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { runCalibrateCommand } from '../../src/cli/calibrate.js';
import { OnnxModel, planQuantization } from '../../src/onnx/index.js';
import { npyBytes, randomValues, tempDir } from './helpers.js';
import { smallResNetModel } from '../onnx/models.js';

function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) }, out, err };
}

const notTty = { isTTY: false, write: () => true };

/** The tensors a Q/DQ model quantizes (what its QuantizeLinear nodes read, weights left out). */
function quantizedActivations(bytes: Uint8Array): string[] {
  const model = OnnxModel.fromBytes(bytes);
  return model.nodes.filter((n) => n.opType === 'QuantizeLinear' && model.constantTensor(n.inputs[0]!) === undefined).map((n) => n.inputs[0]!).sort();
}

describe('trt-int8 calibrate --placement', () => {
  const dir = tempDir();
  const modelPath = path.join(dir, 'resnet.onnx');
  const model = smallResNetModel();
  fs.writeFileSync(modelPath, model.bytes);
  const dataPath = path.join(dir, 'data.npy');
  fs.writeFileSync(dataPath, npyBytes(randomValues(16 * 3 * 12 * 12, 7, 1), [16, 3, 12, 12]));

  it("writes the 'tensorrt' placement's pairs with --placement tensorrt, the original ones without", async () => {
    const written: Record<string, string[]> = {};
    for (const placement of ['tensorrt', undefined] as const) {
      const { io, err } = captureIo();
      const qdq = path.join(dir, `m.${placement ?? 'default'}.qdq.onnx`);
      const code = await runCalibrateCommand([modelPath, '--data', dataPath, '--batch', '8', '--qdq', qdq, ...(placement ? ['--placement', placement] : [])], io, notTty);
      expect(err.filter((l) => l.startsWith('error'))).toEqual([]);
      expect(code).toBe(0);
      written[placement ?? 'default'] = quantizedActivations(fs.readFileSync(qdq));
    }
    const onnx = OnnxModel.fromBytes(model.bytes);
    expect(written.tensorrt).toEqual([...planQuantization(onnx, { placement: 'tensorrt' }).activationNames].sort());
    expect(written.default).toEqual([...planQuantization(onnx).activationNames].sort());
    expect(written.tensorrt).not.toEqual(written.default);
  });

  it('--placement tensorrt with --cache, --max-drop or --report: exit 2 before any work, nothing written', async () => {
    for (const extra of [['--cache', path.join(dir, 'c.cache')], ['--max-drop', '1'], ['--report', path.join(dir, 'report')]]) {
      const { io, err } = captureIo();
      const qdq = path.join(dir, 'refused.qdq.onnx');
      const code = await runCalibrateCommand([modelPath, '--data', dataPath, '--placement', 'tensorrt', '--qdq', qdq, ...extra], io, notTty);
      expect(code).toBe(2);
      expect(err.join('\n')).toMatch(new RegExp(`--placement tensorrt applies to --qdq \\(and --json\\) only, not to ${extra[0]}`));
      expect(fs.existsSync(qdq)).toBe(false);
      if (extra[0] !== '--max-drop') expect(fs.existsSync(extra[1]!)).toBe(false);
    }
  });

  it('exits 2 naming --placement for a policy it does not know', async () => {
    const { io, err } = captureIo();
    const code = await runCalibrateCommand([modelPath, '--data', dataPath, '--placement', 'fastest', '--qdq', path.join(dir, 'x.onnx')], io, notTty);
    expect(code).toBe(2);
    expect(err.join('\n')).toMatch(/--placement/);
    expect(fs.existsSync(path.join(dir, 'x.onnx'))).toBe(false);
  });
});
