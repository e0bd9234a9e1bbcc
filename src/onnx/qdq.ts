/**
 * Writing Q/DQ models for TensorRT explicit quantization (see docs/qdq.md for the rules and why):
 * symmetric INT8, activations per tensor (scale = amax / 127), weights per output channel. Where the
 * pairs go is placement.ts's business; this file checks the model and the amax values, computes the
 * scales and inserts the pairs through the OnnxModel wrapper.
 */
import { product } from '../core/tensor.js';
import { TrtInt8Error } from '../core/errors.js';
import { badOption } from '../core/is.js';
import type { NewNode, OnnxModel } from './model.js';
import type { PlanOptions, RewritePlan } from './placement.js';
import { prepareQuantization } from './quantizable.js';

export { planQuantization } from './placement.js';
export { DEFAULT_PLACEMENT, DEFAULT_MIN_CHANNELS, PLACEMENTS } from './placement.js';
export type { NodeExclusion, Placement, PlanOptions, PlannedActivation, PlannedWeight, QuantizationPlan } from './placement.js';

export { MIN_QDQ_OPSET, checkQuantizable } from './quantizable.js';
export type { QuantizableModel } from './quantizable.js';

/**
 * Scale used for a weight channel that is all zeros (max |w| = 0): any positive scale dequantizes
 * zeros to zeros; 2^-14 is the smallest normal FP16 value, so the scale survives a cast to FP16.
 */
export const ZERO_CHANNEL_WEIGHT_SCALE = 2 ** -14;

const INT8_MAX = 127;

export interface InsertQdqOptions extends PlanOptions {
  /** amax (max |x| to represent) per activation tensor, e.g. from calibration. Extra entries are ignored. */
  readonly amax: ReadonlyMap<string, number> | Readonly<Record<string, number>>;
}

function amaxLookup(amax: InsertQdqOptions['amax']): (name: string) => number | undefined {
  if (amax instanceof Map) return (name) => amax.get(name);
  if (typeof amax === 'object' && amax !== null) {
    const record = amax as Readonly<Record<string, number>>;
    return (name) => (Object.prototype.hasOwnProperty.call(record, name) ? record[name] : undefined);
  }
  throw badOption('insertQdq', 'amax', 'Map<string, number>', typeof amax, [], 'insertQdq needs options.amax: a Map (or object) from tensor name to amax.');
}

/** The amax of every planned activation, each checked (finite, > 0, a scale that is not 0 in float32) before anything is written. */
function checkedAmax(plan: RewritePlan, getAmax: (name: string) => number | undefined): Map<string, number> {
  const amax = new Map<string, number>();
  const problems: { tensor: string; amax: unknown }[] = [];
  for (const { tensor } of plan.activations) {
    const value = getAmax(tensor);
    const scale = typeof value === 'number' ? Math.fround(value / INT8_MAX) : NaN;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || !(scale > 0)) problems.push({ tensor, amax: value });
    else amax.set(tensor, value);
  }
  if (problems.length > 0) {
    const first = problems[0]!;
    throw new TrtInt8Error('ERR_BAD_OPTION', `insertQdq: ${problems.length} activation(s) have no usable amax, e.g. "${first.tensor}" (amax ${String(first.amax)}).`, {
      input: `amax[${JSON.stringify(first.tensor)}]`,
      expected: 'a finite amax > 0 for every tensor in planQuantization(model).activationNames',
      actual: problems.slice(0, 10).map((p) => `${p.tensor}: ${String(p.amax)}`),
      fixes: [
        'Calibrate with data that exercises these tensors (an all-zero tensor has amax 0).',
        'Exclude the nodes that read them: exclude: { names: [...] } (they then stay FP32).',
        'Ranges from a cache or a calibration made for another placement (or exclusion) lack tensors this plan needs: use the placement and exclusion they were made with.',
      ],
      details: { tensors: problems.map((p) => p.tensor) },
    });
  }
  return amax;
}

/** scale = amax / 127 per planned activation; the tensors of a scale group share the largest amax of the group. */
function activationScales(plan: RewritePlan, getAmax: (name: string) => number | undefined): Map<string, number> {
  const amax = checkedAmax(plan, getAmax);
  for (const group of plan.scaleGroups) {
    const shared = Math.max(...group.map((tensor) => amax.get(tensor)!));
    for (const tensor of group) amax.set(tensor, shared);
  }
  return new Map([...amax].map(([tensor, value]) => [tensor, Math.fround(value / INT8_MAX)]));
}

/** Symmetric int8 scale per channel along `axis` (or one scale when axis is undefined). */
function weightScales(tensor: string, values: Float32Array, dims: readonly number[], axis: number | undefined): Float32Array {
  const channels = axis === undefined ? 1 : dims[axis]!;
  const inner = axis === undefined ? values.length : product(dims.slice(axis + 1));
  const absMax = new Float64Array(channels);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) {
      throw new TrtInt8Error('ERR_BAD_MODEL', `Weight "${tensor}" holds a non-finite value (${v}) at flat index ${i}.`, {
        input: tensor,
        expected: 'finite weights',
        actual: v,
        fixes: ['Fix the exported weights, or exclude the layers that use this weight.'],
      });
    }
    const c = axis === undefined ? 0 : Math.floor(i / inner) % channels;
    const a = Math.abs(v);
    if (a > absMax[c]!) absMax[c] = a;
  }
  // A scale that rounds to 0 in float32 would divide by zero in QuantizeLinear.
  return Float32Array.from(absMax, (m) => {
    const scale = Math.fround(m / INT8_MAX);
    return scale > 0 ? scale : ZERO_CHANNEL_WEIGHT_SCALE;
  });
}

/** Adds the scale and zero point of one Q/DQ pair to `model` and returns the pair; its output is `dequantized`. */
function makePair(model: OnnxModel, unique: (base: string) => string, tensor: string, scale: Float32Array, axis: number | undefined) {
  const perChannel = axis !== undefined;
  const scaleName = unique(`${tensor}_scale`);
  const zeroPointName = unique(`${tensor}_zero_point`);
  model.addInitializer(scaleName, perChannel ? [scale.length] : [], scale);
  model.addInitializer(zeroPointName, perChannel ? [scale.length] : [], new Int8Array(scale.length));
  const quantized = unique(`${tensor}_quantized`);
  const dequantized = unique(`${tensor}_dequantized`);
  const intAttributes = perChannel ? { axis } : undefined;
  const nodes: NewNode[] = [
    { name: unique(`${tensor}_QuantizeLinear`), opType: 'QuantizeLinear', inputs: [tensor, scaleName, zeroPointName], outputs: [quantized], intAttributes },
    { name: unique(`${tensor}_DequantizeLinear`), opType: 'DequantizeLinear', inputs: [quantized, scaleName, zeroPointName], outputs: [dequantized], intAttributes },
  ];
  return { nodes, dequantized };
}

/** Inserts one pair per planned tensor into `model` and makes the quantized nodes read through it. */
function writePairs(model: OnnxModel, plan: RewritePlan, scales: ReadonlyMap<string, number>): void {
  const unique = model.nameAllocator();
  const pairsAfter = new Map<string, NewNode[]>();
  const dequantized = new Map<string, string>();
  const add = (tensor: string, scale: Float32Array, axis: number | undefined) => {
    const pair = makePair(model, unique, tensor, scale, axis);
    pairsAfter.set(tensor, pair.nodes);
    dequantized.set(tensor, pair.dequantized);
  };
  for (const { tensor } of plan.activations) add(tensor, Float32Array.of(scales.get(tensor)!), undefined);
  for (const weight of plan.weights) {
    const values = model.tensorWeights(weight.tensor);
    const axis = weight.axis !== undefined && weight.axis < weight.dims.length ? weight.axis : undefined;
    add(weight.tensor, weightScales(weight.tensor, values, weight.dims, axis), axis);
  }
  for (const [nodeIndex, slots] of plan.rewires) {
    for (const [slot, tensor] of slots) model.setNodeInput(nodeIndex, slot, dequantized.get(tensor)!);
  }
  model.insertNodesAfter(pairsAfter);
}

/**
 * A new model with QuantizeLinear/DequantizeLinear pairs inserted per planQuantization(): one pair
 * per activation tensor (shared by all quantized consumers; other consumers keep the FP32 tensor),
 * weights as FP32 constant -> Q -> DQ (TensorRT folds the Q into INT8 weights). A model below opset 13
 * is upgraded to 13 where that is safe, else gets per-tensor weight scales (see checkQuantizable). Errors:
 * a model that cannot be quantized or already has Q/DQ nodes (ERR_BAD_MODEL); an activation without a
 * finite, positive amax (ERR_BAD_OPTION naming the tensor).
 */
export function insertQdq(model: OnnxModel, options: InsertQdqOptions): OnnxModel {
  if (typeof options !== 'object' || options === null) {
    throw badOption('insertQdq', 'options', '{ amax, placement?, minChannels?, exclude?, fusedEpilogues?, perChannelWeights? }', options, [], 'insertQdq needs options with an amax map.');
  }
  const getAmax = amaxLookup(options.amax);
  const prepared = prepareQuantization(model, options);
  const plan = prepared.plan;
  const scales = activationScales(plan, getAmax);
  const result = prepared.model === model ? model.clone() : prepared.model;
  writePairs(result, plan, scales);
  return result;
}
