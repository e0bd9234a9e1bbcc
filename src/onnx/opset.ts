/**
 * Upgrading a model's default-domain opset from 11 or 12 to 13, where Q/DQ gets per-channel scales (the `axis` of
 * QuantizeLinear / DequantizeLinear). Only what is known to keep its meaning is upgraded: ops unchanged from 11 to
 * 13 except for new types, and the few whose attributes became inputs (Squeeze, Unsqueeze, Split, ReduceSum,
 * Dropout's ratio) or whose default changed harmlessly (Softmax over the last axis). Anything else blocks the upgrade,
 * and says why.
 */
import { nodeFloatAttribute, nodeHasSubgraph, nodeIntAttribute, nodeIntsAttribute, type OnnxModel, type OnnxNode } from './model.js';

export const UPGRADE_TARGET_OPSET = 13;
/** Opset 13 models must declare IR version 7 or newer. */
const IR_VERSION_FOR_OPSET_13 = 7;

/** Default-domain ops whose meaning is the same at opsets 11, 12 and 13 (later versions only add types or inputs with defaults). */
const unchangedOps = new Set([
  'Abs', 'Acos', 'Acosh', 'Add', 'And', 'ArgMax', 'ArgMin', 'Asin', 'Asinh', 'Atan', 'Atanh', 'AveragePool',
  'BatchNormalization', 'BitShift', 'Cast', 'Ceil', 'Celu', 'Clip', 'Compress', 'Concat', 'Constant', 'ConstantOfShape',
  'Conv', 'ConvInteger', 'ConvTranspose', 'Cos', 'Cosh', 'CumSum', 'DepthToSpace', 'Det', 'Div', 'Einsum', 'Elu',
  'Equal', 'Erf', 'Exp', 'Expand', 'EyeLike', 'Flatten', 'Floor', 'GRU', 'Gather', 'GatherElements', 'GatherND',
  'Gemm', 'GlobalAveragePool', 'GlobalLpPool', 'GlobalMaxPool', 'Greater', 'GreaterOrEqual', 'HardSigmoid', 'Identity',
  'InstanceNormalization', 'IsInf', 'IsNaN', 'LRN', 'LSTM', 'LeakyRelu', 'Less', 'LessOrEqual', 'Log', 'LpNormalization',
  'LpPool', 'MatMul', 'MatMulInteger', 'Max', 'MaxPool', 'MaxRoiPool', 'MaxUnpool', 'Mean', 'Min', 'Mod', 'Mul', 'Neg',
  'NonMaxSuppression', 'NonZero', 'Not', 'OneHot', 'Or', 'PRelu', 'Pad', 'Pow', 'RNN', 'Range', 'Reciprocal',
  'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd',
  'ReduceSumSquare', 'Relu', 'Reshape', 'Resize', 'RoiAlign', 'Round', 'ScatterElements', 'ScatterND', 'Selu', 'Shape',
  'Shrink', 'Sigmoid', 'Sign', 'Sin', 'Sinh', 'Size', 'Slice', 'Softplus', 'Softsign', 'SpaceToDepth', 'Sqrt', 'Sub',
  'Sum', 'Tan', 'Tanh', 'ThresholdedRelu', 'Tile', 'TopK', 'Transpose', 'Where', 'Xor',
]);
/** Ops whose ints attribute became input 1 at opset 13. */
const attributeToInput: Readonly<Record<string, string>> = { Squeeze: 'axes', Unsqueeze: 'axes', Split: 'split', ReduceSum: 'axes' };
/** Opset < 13 coerces the input to 2-D at `axis` (default 1); 13 works on one axis (default -1): the same only for the last axis. */
const softmaxOps = new Set(['Softmax', 'LogSoftmax', 'Hardmax']);

export interface OpsetUpgrade {
  /** The upgraded copy, or undefined when something blocks the upgrade. */
  readonly model: OnnxModel | undefined;
  /** What the upgrade changed, in words. */
  readonly changes: readonly string[];
  /** Why the model cannot be upgraded (empty when it was). */
  readonly blockers: readonly string[];
}

function label(node: OnnxNode): string {
  return node.name ? `"${node.name}" (${node.opType})` : node.opType;
}

/** Rewrites one node for opset 13 on `model`; returns what it changed, or a blocker. */
function upgradeNode(model: OnnxModel, node: OnnxNode, unique: (base: string) => string): { change?: string; blocker?: string } {
  if (nodeHasSubgraph(node)) return { blocker: `${label(node)} has a subgraph, whose ops would need upgrading too` };
  const attribute = attributeToInput[node.opType];
  if (attribute) {
    const values = nodeIntsAttribute(node, attribute);
    if (values === undefined) return {};
    const name = unique(`${node.name || node.opType}_${attribute}`);
    model.addInt64Initializer(name, [values.length], values);
    model.setNodeInput(node.index, 1, name);
    model.removeNodeAttribute(node.index, attribute);
    return { change: `${label(node)}: attribute ${attribute} [${values.join(', ')}] became input "${name}"` };
  }
  if (node.opType === 'Dropout') {
    const ratio = nodeFloatAttribute(node, 'ratio');
    if (ratio === undefined) return {};
    const name = unique(`${node.name || node.opType}_ratio`);
    model.addInitializer(name, [], Float32Array.of(ratio));
    model.setNodeInput(node.index, 1, name);
    model.removeNodeAttribute(node.index, 'ratio');
    return { change: `${label(node)}: attribute ratio ${ratio} became input "${name}"` };
  }
  if (softmaxOps.has(node.opType)) {
    const axis = nodeIntAttribute(node, 'axis', 1);
    const rank = model.declaredShape(node.inputs[0] ?? '')?.length;
    if (axis === -1 || (rank !== undefined && axis === rank - 1)) return {};
    return { blocker: `${label(node)}: axis ${axis} on a tensor of ${rank === undefined ? 'unknown rank' : `rank ${rank}`} means a different reduction at opset 13` };
  }
  if (!unchangedOps.has(node.opType)) return { blocker: `${label(node)} is not known to keep its meaning up to opset 13` };
  return {};
}

/**
 * A copy of `model` at default-domain opset 13, from opset 11 or 12, when every node keeps its meaning; otherwise the
 * reasons it cannot be upgraded. A model at 13 or newer is returned as it is.
 */
export function upgradeToOpset13(model: OnnxModel): OpsetUpgrade {
  const from = model.opsetVersion('');
  if (from === undefined) return { model: undefined, changes: [], blockers: ['the model imports no default-domain opset'] };
  if (from >= UPGRADE_TARGET_OPSET) return { model, changes: [], blockers: [] };
  if (from < 11) return { model: undefined, changes: [], blockers: [`opset ${from}: only opsets 11 and 12 are upgraded here (Clip, Pad, Resize and others changed at 11)`] };
  const result = model.clone();
  const unique = result.nameAllocator();
  const changes = [`default-domain opset ${from} -> ${UPGRADE_TARGET_OPSET}`];
  const blockers: string[] = [];
  for (const node of result.nodes) {
    if (node.domain !== '' && node.domain !== 'ai.onnx') continue; // other domains keep their own opset
    const { change, blocker } = upgradeNode(result, node, unique);
    if (change) changes.push(change);
    if (blocker) blockers.push(blocker);
  }
  if (blockers.length > 0) return { model: undefined, changes: [], blockers };
  result.setOpsetVersion('', UPGRADE_TARGET_OPSET);
  const irVersion = result.raiseIrVersion(IR_VERSION_FOR_OPSET_13);
  if (irVersion < IR_VERSION_FOR_OPSET_13) changes.push(`IR version ${irVersion} -> ${IR_VERSION_FOR_OPSET_13}`);
  return { model: result, changes, blockers: [] };
}
