/**
 * Fuzz tests (issue #12.13): ONNX loading and quantization on mutated models. The Fashion-MNIST model and the
 * small graphs of test/onnx/models.ts are mutated as bytes (bit flips, truncation, insertions, ...) and as
 * protobuf (op_type, node inputs, duplicate initializer names, dims -5 / 0 / 2^40, opset), then run through
 * OnnxModel.load, planQuantization, checkQuantizable and insertQdq (with an amax for every planned tensor).
 * The only allowed outcomes are success or a TrtInt8Error; any other throw, or one case over its time bound,
 * fails, naming the seed and the case index. Fixed seed: the same inputs on every run.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OnnxModel, checkQuantizable, insertQdq, onnxProto as onnx, planQuantization, type Placement } from '../../src/onnx/index.js';
import { isTrtInt8Error } from '../../src/core/errors.js';
import { FASHION_MODEL } from '../cli/helpers.js';
import { cnnModel, concatModel, convTransposeModel, matmulModel, maxPoolModel, residual16Model, residualModel, shortcutConvModel, sideOutputModel } from '../onnx/models.js';
import { mutate, seeded, type Random } from './mutate.js';

const SEED = 20261130;
/** One case (load + plan + check + insertQdq) must finish within this. */
const BOUND_MS = 2_000;

const SMALL_SEEDS = [
  cnnModel().bytes,
  cnnModel({ opset: 11 }).bytes,
  cnnModel({ constantNodes: true }).bytes,
  residualModel().bytes,
  convTransposeModel().bytes,
  matmulModel().bytes,
  residual16Model().bytes,
  concatModel().bytes,
  maxPoolModel().bytes,
  sideOutputModel().bytes,
  shortcutConvModel().bytes,
];

const OP_TYPES = [
  'Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'Relu', 'Add', 'Concat', 'MaxPool', 'Flatten', 'Reshape', 'Constant',
  'QuantizeLinear', 'DequantizeLinear', 'If', 'Loop', 'Identity', 'GlobalAveragePool', 'Softmax', '', 'NotAnOp', 'conv',
];
const DIMS = [-5, 0, 2 ** 40, -1, 1, 2 ** 31, 2 ** 53];
const OPSETS = [-1, 0, 1, 7, 10, 11, 12, 13, 17, 21, 99, 2 ** 31 - 1];

const pick = <T>(items: readonly T[], random: Random): T => items[Math.floor(random() * items.length)]!;

/** One to three protobuf-aware mutations of a valid model. Returns the re-encoded bytes. */
function mutateProto(bytes: Uint8Array, random: Random): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const count = 1 + Math.floor(random() * 3);
  for (let k = 0; k < count; k++) {
    const kind = Math.floor(random() * 10);
    const nodes = (graph.node ??= []);
    const inits = (graph.initializer ??= []);
    if (kind === 0 && nodes.length > 0) pick(nodes, random).opType = pick(OP_TYPES, random);
    else if (kind === 1 && nodes.length > 0) {
      const inputs = (pick(nodes, random).input ??= []);
      if (inputs.length > 0) inputs.splice(Math.floor(random() * inputs.length), 1);
    } else if (kind === 2 && inits.length > 0) {
      const copy = onnx.TensorProto.decode(onnx.TensorProto.encode(pick(inits, random)).finish());
      if (inits.length > 1 && random() < 0.5) pick(inits, random).name = copy.name;
      else inits.push(copy);
    } else if (kind === 3 && inits.length > 0) {
      const dims = (pick(inits, random).dims ??= []);
      if (dims.length > 0) dims[Math.floor(random() * dims.length)] = pick(DIMS, random);
      else dims.push(pick(DIMS, random));
    } else if (kind === 4) {
      const infos = [...(graph.input ?? []), ...(graph.output ?? [])].filter((v) => v.type?.tensorType?.shape?.dim?.length);
      if (infos.length > 0) {
        const dims = pick(infos, random).type!.tensorType!.shape!.dim!;
        const d = dims[Math.floor(random() * dims.length)]!;
        d.dimParam = '';
        d.dimValue = pick(DIMS, random);
      }
    } else if (kind === 5) {
      if (model.opsetImport.length === 0 || random() < 0.2) model.opsetImport.push({ domain: '', version: pick(OPSETS, random) } as onnx.OperatorSetIdProto);
      else pick(model.opsetImport, random).version = pick(OPSETS, random);
    } else if (kind === 6 && nodes.length > 0) {
      // A node input or output renamed to another tensor (cycles, dangling or duplicate producers).
      const n = pick(nodes, random);
      const names = nodes.flatMap((m) => [...(m.input ?? []), ...(m.output ?? [])]);
      const list = random() < 0.5 || !n.output?.length ? (n.input ??= []) : n.output;
      if (list.length > 0) list[Math.floor(random() * list.length)] = random() < 0.2 ? 'missing_tensor' : pick(names, random);
    } else if (kind === 7 && inits.length > 0) {
      // Weight data that disagrees with the dims: cut raw_data, or the wrong data type.
      const t = pick(inits, random);
      if (random() < 0.5 && t.rawData?.length) t.rawData = t.rawData.subarray(0, Math.floor(random() * t.rawData.length));
      else t.dataType = Math.floor(random() * 24);
    } else if (kind === 8 && nodes.length > 1) {
      // Nodes out of order, or one node removed.
      if (random() < 0.5) nodes.reverse();
      else nodes.splice(Math.floor(random() * nodes.length), 1);
    } else if (kind === 9 && nodes.length > 0) {
      // An attribute changed to another type or an extreme value.
      const n = pick(nodes, random);
      if (n.attribute?.length) {
        const a = pick(n.attribute, random);
        if (random() < 0.5) a.ints = [pick(DIMS, random), pick(DIMS, random)];
        else a.i = pick(DIMS, random);
        if (random() < 0.3) a.type = Math.floor(random() * 16);
      }
    }
  }
  return onnx.ModelProto.encode(model).finish();
}

/** load -> planQuantization -> checkQuantizable -> insertQdq with amax for every planned tensor; typed errors stop the case. */
async function quantizeAll(bytes: Uint8Array, placement: Placement): Promise<void> {
  const model = await OnnxModel.load(bytes);
  const names = new Set<string>();
  const step = (run: () => void) => {
    try {
      run();
    } catch (error) {
      if (!isTrtInt8Error(error)) throw error;
    }
  };
  step(() => planQuantization(model, { placement }).activationNames.forEach((n) => names.add(n)));
  step(() => checkQuantizable(model, { placement }).plan.activationNames.forEach((n) => names.add(n)));
  const amax = new Map([...names].map((n, i) => [n, 0.5 + i]));
  const qdq = insertQdq(model, { placement, amax });
  OnnxModel.fromBytes(qdq.toBytes());
}

interface Case {
  readonly bytes: Uint8Array;
  readonly what: string;
}

async function runCases(cases: Iterable<Case>, seed: number): Promise<{ runs: number; quantized: number; failures: string[] }> {
  const failures: string[] = [];
  let runs = 0;
  let quantized = 0;
  for (const { bytes, what } of cases) {
    const index = runs++;
    const placement: Placement = index % 2 === 0 ? 'layer-inputs' : 'tensorrt';
    const started = performance.now();
    try {
      await quantizeAll(bytes, placement);
      quantized++;
    } catch (error) {
      if (!isTrtInt8Error(error)) {
        failures.push(`seed ${seed} case ${index} (${what}, ${placement}): untyped ${String((error as Error)?.stack ?? error).slice(0, 600)}`);
      }
    }
    const ms = performance.now() - started;
    if (ms > BOUND_MS) failures.push(`seed ${seed} case ${index} (${what}, ${placement}): took ${ms.toFixed(0)} ms (bound ${BOUND_MS})`);
    if (failures.length >= 5) break;
  }
  return { runs, quantized, failures };
}

function* smallCases(random: Random, count: number): Generator<Case> {
  for (let i = 0; i < count; i++) {
    const seed = i % SMALL_SEEDS.length;
    const choice = random();
    if (choice < 0.45) yield { bytes: mutateProto(SMALL_SEEDS[seed]!, random), what: `proto mutation of small model ${seed}` };
    else if (choice < 0.9) yield { bytes: mutate(SMALL_SEEDS[seed]!, random), what: `byte mutation of small model ${seed}` };
    else yield { bytes: mutate(mutateProto(SMALL_SEEDS[seed]!, random), random), what: `proto + byte mutation of small model ${seed}` };
  }
}

/** Byte mutations of the 2 MB model without copying it whole per mutation (mutate() splices through arrays). */
function mutateLarge(bytes: Uint8Array, random: Random): Uint8Array {
  const out = Uint8Array.from(bytes);
  const kind = Math.floor(random() * 4);
  // Most of the file is weights; aim half of the flips at the first 4 KiB, where the graph structure is.
  const at = () => Math.floor(random() * (random() < 0.5 ? Math.min(4096, out.length) : out.length));
  if (kind === 0) {
    for (let k = 0; k < 1 + Math.floor(random() * 8); k++) {
      const i = at();
      out[i] = out[i]! ^ (1 << Math.floor(random() * 8));
    }
    return out;
  }
  if (kind === 1) return out.subarray(0, at());
  if (kind === 2) {
    const where = at();
    const junk = Uint8Array.from({ length: 1 + Math.floor(random() * 16) }, () => Math.floor(random() * 256));
    const result = new Uint8Array(out.length + junk.length);
    result.set(out.subarray(0, where));
    result.set(junk, where);
    result.set(out.subarray(where), where + junk.length);
    return result;
  }
  const where = at();
  if (where + 4 <= out.length) new DataView(out.buffer).setUint32(where, pick([0xffffffff, 0x7fffffff, 0x80000000, 0], random), random() < 0.5);
  return out;
}

function* fashionCases(random: Random, count: number): Generator<Case> {
  const fashion = new Uint8Array(fs.readFileSync(FASHION_MODEL));
  for (let i = 0; i < count; i++) {
    if (i % 2 === 0) yield { bytes: mutateProto(fashion, random), what: 'proto mutation of the Fashion-MNIST model' };
    else yield { bytes: mutateLarge(fashion, random), what: 'byte mutation of the Fashion-MNIST model' };
  }
}

describe('fuzz: ONNX', () => {
  it('the unmutated seeds quantize (the harness reaches insertQdq)', async () => {
    for (const bytes of [...SMALL_SEEDS, new Uint8Array(fs.readFileSync(FASHION_MODEL))]) await quantizeAll(bytes, 'layer-inputs');
  });

  it('load, planQuantization, checkQuantizable, insertQdq on mutated small models: typed errors only, bounded time', async () => {
    const { runs, quantized, failures } = await runCases(smallCases(seeded(SEED), 4000), SEED);
    expect(failures).toEqual([]);
    expect(runs).toBe(4000);
    // Not every mutation is fatal: a good share of the cases get through insertQdq (the rest stop at a typed error).
    expect(quantized).toBeGreaterThan(400);
  });

  it('the same on the mutated Fashion-MNIST model', async () => {
    const { runs, quantized, failures } = await runCases(fashionCases(seeded(SEED + 1), 200), SEED + 1);
    expect(failures).toEqual([]);
    expect(runs).toBe(200);
    expect(quantized).toBeGreaterThan(20);
  });
});
