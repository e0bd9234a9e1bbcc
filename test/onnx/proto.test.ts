import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import Long from 'long';
import { build } from 'tsup';
import { OnnxModel, onnxProto as onnx } from '../../src/onnx/index.js';
import { buildModel, node, valueInfo } from './helpers.js';
import { cnnModel } from './models.js';
import { pythonOnnxDir, pythonOnnxMissing } from './python-onnx.js';

const repoRoot = path.resolve(__dirname, '../..');

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

describe('ONNX protobuf code', () => {
  it('round-trips our own models byte for byte', () => {
    const bytes = cnnModel().bytes;
    expect(sameBytes(OnnxModel.fromBytes(bytes).toBytes(), bytes)).toBe(true);
    expect(sameBytes(OnnxModel.fromBytes(bytes).clone().toBytes(), bytes)).toBe(true);
  });

  it('keeps fields this schema does not know (newer ONNX versions) at every level', () => {
    // Field 100 varint 42 inside a node, and field 99 (length-delimited "future") on the model.
    const unknownInNode = Uint8Array.of(0xa0, 0x06, 42);
    const model: onnx.ModelProto.$Properties = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'g',
        input: [valueInfo('x', [2])],
        output: [valueInfo('y', [2])],
        node: [{ ...node('Relu', ['x'], ['y']), $unknowns: [unknownInNode] }],
      },
    };
    const future = new TextEncoder().encode('future');
    const bytes = Buffer.concat([onnx.ModelProto.encode(model).finish(), Uint8Array.of(0x9a, 0x06, future.length), future]);

    const reencoded = OnnxModel.fromBytes(bytes).toBytes();
    expect(sameBytes(reencoded, bytes)).toBe(true);
    // The default protobufjs decode drops them: this is what the test guards against.
    expect(onnx.ModelProto.encode(onnx.ModelProto.decode(bytes)).finish().length).toBe(bytes.length - unknownInNode.length - (3 + future.length));
  });

  it('keeps 64-bit integers exact (INT64_MAX in attributes and int64_data)', () => {
    const max = Long.fromString('9223372036854775807');
    const min = Long.fromString('-9223372036854775808');
    const bytes = buildModel({
      inputs: [valueInfo('x', [4])],
      outputs: [valueInfo('y', [4])],
      nodes: [node('Slice', ['x', 'starts', 'ends'], ['y'])],
      initializers: [
        { name: 'starts', dims: [1], dataType: onnx.TensorProto.DataType.INT64, int64Data: [min] },
        { name: 'ends', dims: [1], dataType: onnx.TensorProto.DataType.INT64, int64Data: [max] },
      ],
    });
    const model = OnnxModel.fromBytes(bytes);
    const ends = model.constantTensor('ends')!.proto.int64Data![0]!;
    expect(Long.fromValue(ends).toString()).toBe('9223372036854775807');
    expect(Long.fromValue(model.constantTensor('starts')!.proto.int64Data![0]!).toString()).toBe('-9223372036854775808');
    expect(sameBytes(model.toBytes(), bytes)).toBe(true);
  });

  it.skipIf(!pythonOnnxDir)(`round-trips every model of the onnx package's backend test data byte for byte${pythonOnnxDir ? '' : ` (${pythonOnnxMissing})`}`, () => {
    const root = path.join(pythonOnnxDir!, 'backend', 'test', 'data');
    const files = (fs.readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.onnx'));
    expect(files.length).toBeGreaterThan(50);
    const different = files.filter((f) => {
      const bytes = fs.readFileSync(path.join(root, f));
      return !sameBytes(OnnxModel.fromBytes(bytes).toBytes(), bytes);
    });
    expect(different).toEqual([]);
  });

  it('works from the ESM and the CJS bundle (as tsup builds the package)', async () => {
    // A git-ignored folder inside the repo, so the bundles resolve protobufjs from node_modules.
    fs.mkdirSync(path.join(repoRoot, '.cache'), { recursive: true });
    const outDir = fs.mkdtempSync(path.join(repoRoot, '.cache', 'onnx-bundle-'));
    try {
      await build({
        entry: { onnx: path.join(repoRoot, 'src/onnx/index.ts') },
        format: ['esm', 'cjs'],
        outDir,
        target: 'node20',
        dts: false,
        silent: true,
        config: false,
        shims: true,
      });
      const modelFile = path.join(outDir, 'model.onnx');
      fs.writeFileSync(modelFile, cnnModel().bytes);
      const check = `const m = await lib.OnnxModel.load(${JSON.stringify(modelFile)});
        const same = Buffer.from(m.toBytes()).equals(require('node:fs').readFileSync(${JSON.stringify(modelFile)}));
        console.log(JSON.stringify({ same, inputs: m.inputs(), nodes: m.nodes.length }));`;
      const esm = spawnSync(process.execPath, ['--input-type=module', '-e', `import { createRequire } from 'node:module'; const require = createRequire(import.meta.url); const lib = await import(${JSON.stringify(path.join(outDir, 'onnx.js'))}); ${check}`], { encoding: 'utf8' });
      const cjs = spawnSync(process.execPath, ['-e', `(async () => { const lib = require(${JSON.stringify(path.join(outDir, 'onnx.cjs'))}); ${check} })().catch((e) => { console.error(e); process.exit(1); })`], { encoding: 'utf8' });
      const expected = { same: true, inputs: [{ name: 'input', dtype: 'float32', shape: [-1, 3, 8, 8] }], nodes: 5 };
      expect(esm.stderr).toBe('');
      expect(JSON.parse(esm.stdout)).toEqual(expected);
      expect(cjs.stderr).toBe('');
      expect(JSON.parse(cjs.stdout)).toEqual(expected);
    } finally {
      fs.rmSync(outDir, { recursive: true, force: true });
    }
  });
});

describe('real exported model', () => {
  const file = path.join(repoRoot, 'examples/fashion-mnist/model.onnx');
  const present = fs.existsSync(file);
  it.skipIf(!present)(`round-trips examples/fashion-mnist/model.onnx${present ? '' : ' (skipped: examples/fashion-mnist/model.onnx does not exist yet)'}`, async () => {
    const bytes = fs.readFileSync(file);
    const model = await OnnxModel.load(file);
    expect(model.inputs().length).toBeGreaterThan(0);
    // Exporters serialize with the C++ protobuf runtime, which writes fields in number order as we do.
    expect(sameBytes(model.toBytes(), bytes)).toBe(true);
  });
});
