/** Builds small ONNX models with our own proto API and runs them in onnxruntime-node (CPU). */
import fs from 'node:fs';
import zlib from 'node:zlib';
import * as ort from 'onnxruntime-node';
import { onnxProto as onnx, type OnnxModel, type QuantizationPlan } from '../../src/onnx/index.js';
import { makeFloatTensor } from '../../src/onnx/codec.js';

export const FLOAT = onnx.TensorProto.DataType.FLOAT;
const AttributeType = onnx.AttributeProto.AttributeType;

/** Deterministic uniform numbers in [-scale, scale). */
export function randomValues(count: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

export function initializer(name: string, dims: number[], values: Float32Array) {
  return makeFloatTensor(name, dims, values);
}

/** A float attribute (plain numbers are INT attributes). */
export function float(value: number): { readonly float: number } {
  return { float: value };
}

type AttributeValue = number | number[] | string | { readonly float: number } | onnx.TensorProto.$Properties;

export function node(opType: string, inputs: string[], outputs: string[], attributes: Record<string, AttributeValue> = {}, name = outputs[0] + '_node') {
  const attribute = Object.entries(attributes).map(([key, value]): onnx.AttributeProto.$Properties => {
    if (typeof value === 'number') return { name: key, type: AttributeType.INT, i: value };
    if (Array.isArray(value)) return { name: key, type: AttributeType.INTS, ints: value };
    if (typeof value === 'string') return { name: key, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
    if ('float' in value) return { name: key, type: AttributeType.FLOAT, f: value.float };
    return { name: key, type: AttributeType.TENSOR, t: value };
  });
  return { name, opType, input: inputs, output: outputs, attribute };
}

export function valueInfo(name: string, shape?: (number | string)[], elemType: number = FLOAT): onnx.ValueInfoProto.$Properties {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        ...(shape ? { shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } : {}),
      },
    },
  };
}

export interface GraphSpec {
  inputs: onnx.ValueInfoProto.$Properties[];
  outputs: onnx.ValueInfoProto.$Properties[];
  nodes: onnx.NodeProto.$Properties[];
  initializers?: onnx.TensorProto.$Properties[];
  opset?: number;
}

export function buildModel(spec: GraphSpec): Uint8Array {
  const model: onnx.ModelProto.$Properties = {
    irVersion: 8,
    producerName: 'trt-int8-tests',
    opsetImport: [{ domain: '', version: spec.opset ?? 17 }],
    graph: {
      name: 'test',
      input: spec.inputs,
      output: spec.outputs,
      node: spec.nodes,
      initializer: spec.initializers ?? [],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

export interface Feed {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** Runs a model on CPU and returns every output as float32. */
export async function runModel(bytes: Uint8Array, feeds: Record<string, Feed>): Promise<Map<string, Float32Array>> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, feed] of Object.entries(feeds)) inputs[name] = new ort.Tensor('float32', feed.data, [...feed.dims]);
    const results = await session.run(inputs);
    const out = new Map<string, Float32Array>();
    for (const name of session.outputNames) out.set(name, results[name]!.data as Float32Array);
    return out;
  } finally {
    await session.release();
  }
}

export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

export function absMax(values: Float32Array): number {
  let m = 0;
  for (const v of values) m = Math.max(m, Math.abs(v));
  return m;
}

/** Max calibration: the largest |x| each planned activation takes over the calibration batches. */
export async function calibrateAmax(model: OnnxModel, plan: QuantizationPlan, batches: Record<string, Feed>[]): Promise<Map<string, number>> {
  const bytes = model.withExtraOutputs(plan.activationNames);
  const amax = new Map<string, number>();
  for (const feeds of batches) {
    const outputs = await runModel(bytes, feeds);
    for (const name of plan.activationNames) amax.set(name, Math.max(amax.get(name) ?? 0, absMax(outputs.get(name)!)));
  }
  return amax;
}

/** Fashion-MNIST images (idx format, gzip) as normalized [N,1,28,28] float32, as train.py feeds them. */
export function readImages(file: string, count: number): Float32Array {
  const raw = zlib.gunzipSync(fs.readFileSync(file));
  const pixels = raw.subarray(16, 16 + count * 784);
  return Float32Array.from(pixels, (p) => p / 255);
}

/** Index of the largest of each row of `columns` values. */
export function argmaxRows(values: Float32Array, columns: number): number[] {
  const out: number[] = [];
  for (let i = 0; i + columns <= values.length; i += columns) {
    const row = values.subarray(i, i + columns);
    out.push(row.indexOf(Math.max(...row)));
  }
  return out;
}

/**
 * The largest |a - b| over every output of two models on the same feeds, relative to the largest |a|: how far a graph
 * rewrite that should compute the same function moved the outputs.
 */
export async function relativeDifference(before: Uint8Array, after: Uint8Array, feeds: Record<string, Feed>): Promise<number> {
  const a = await runModel(before, feeds);
  const b = await runModel(after, feeds);
  if ([...b.keys()].join() !== [...a.keys()].join()) throw new Error(`outputs differ: ${[...a.keys()]} vs ${[...b.keys()]}`);
  let diff = 0;
  let scale = 0;
  for (const [name, values] of a) {
    const other = b.get(name)!;
    if (other.length !== values.length) throw new Error(`output ${name}: ${values.length} values vs ${other.length}`);
    values.forEach((v, i) => {
      diff = Math.max(diff, Math.abs(v - other[i]!));
      scale = Math.max(scale, Math.abs(v));
    });
  }
  if (scale === 0) throw new Error('the reference outputs are all zero: the comparison would say nothing');
  return diff / scale;
}
