/**
 * Can this model get Q/DQ, and how: checked before any calibration work, so that a model that cannot be quantized
 * is refused in milliseconds rather than after a full calibration. Models below opset 13 are upgraded where that is
 * safe (opset.ts), else quantized with one scale per weight tensor (QuantizeLinear has no `axis` before 13).
 */
import { TrtInt8Error } from '../core/errors.js';
import type { OnnxModel } from './model.js';
import { upgradeToOpset13 } from './opset.js';
import { buildPlan, checkPlanOptions, checkSelectedNames, tensorRtGraph, type PlanOptions, type QuantizationPlan, type RewritePlan } from './placement.js';

/** QuantizeLinear with `axis` (per-channel) exists from opset 13; TensorRT needs 13+ for per-channel Q/DQ too. */
export const MIN_QDQ_OPSET = 13;
/** QuantizeLinear / DequantizeLinear exist from opset 10 (per tensor only). */
export const MIN_PER_TENSOR_QDQ_OPSET = 10;

export interface QuantizableModel {
  /**
   * The model to calibrate and quantize: the one given, or its opset-13 upgrade (same tensor and node names); for the
   * 'tensorrt' placement, the graph placement.ts's tensorRtGraph makes (constant affines folded, small upsampling
   * transposed convolutions and pooled Gemm heads as convolutions): the tensors left keep their names and values,
   * so ranges calibrated on the model given apply.
   */
  readonly model: OnnxModel;
  /** Default-domain opset of `model`. */
  readonly opset: number;
  /** False when weights can only get one scale per tensor (opset 10-12 that could not be upgraded). */
  readonly perChannelWeights: boolean;
  /** What was changed or given up to make the model quantizable, in words (empty when nothing was). */
  readonly notes: readonly string[];
  readonly plan: QuantizationPlan;
}

interface PreparedModel extends QuantizableModel {
  readonly plan: RewritePlan;
}

function checkNotQuantized(model: OnnxModel): void {
  const existing = model.nodes.filter((n) => n.domain === '' && (n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear'));
  if (existing.length > 0) {
    throw new TrtInt8Error('ERR_BAD_MODEL', `${model.displayName} already has ${existing.length} QuantizeLinear/DequantizeLinear node(s); quantizing it again would stack Q/DQ pairs.`, {
      input: model.displayName,
      expected: 'an FP32 model without Q/DQ nodes',
      actual: existing.slice(0, 5).map((n) => n.name || n.opType),
      fixes: ['Pass the original FP32 model.'],
    });
  }
}

/** QuantizeLinear before opset 19 takes float32 (or int32) input with a float32 scale: FP16 models are refused. */
function checkFloat32(model: OnnxModel, plan: RewritePlan): void {
  const elemTypes = model.elemTypes();
  const notFloat32 = [...plan.activationNames, ...plan.weights.map((w) => w.tensor)].filter((t) => {
    const dtype = elemTypes.get(t);
    return dtype !== undefined && dtype !== 'float32';
  });
  if (notFloat32.length > 0) {
    const first = notFloat32[0]!;
    throw new TrtInt8Error('ERR_BAD_MODEL', `${model.displayName}: tensor "${first}" to quantize is ${elemTypes.get(first)!}, not float32.`, {
      input: first,
      expected: 'float32 activations and weights',
      actual: notFloat32.slice(0, 10).map((t) => `${t}: ${elemTypes.get(t)!}`),
      fixes: ['Export the model in FP32 (TensorRT picks FP16/INT8 kernels itself), or exclude the nodes that read these tensors.'],
    });
  }
}

/** The model at an opset Q/DQ can be written at: as it is, upgraded to 13, or (10-12) kept with per-tensor weights. */
function quantizableOpset(model: OnnxModel): { model: OnnxModel; opset: number; perChannelWeights: boolean; notes: string[] } {
  const opset = model.opsetVersion('');
  if (opset !== undefined && opset >= MIN_QDQ_OPSET) return { model, opset, perChannelWeights: true, notes: [] };
  const upgrade = upgradeToOpset13(model);
  if (upgrade.model) return { model: upgrade.model, opset: MIN_QDQ_OPSET, perChannelWeights: true, notes: [`upgraded for per-channel Q/DQ: ${upgrade.changes.join('; ')}`] };
  if (opset !== undefined && opset >= MIN_PER_TENSOR_QDQ_OPSET) {
    return {
      model,
      opset,
      perChannelWeights: false,
      notes: [`opset ${opset} kept (${upgrade.blockers.slice(0, 3).join('; ')}): weights get one scale per tensor, since DequantizeLinear has no axis before opset ${MIN_QDQ_OPSET}; re-export at opset >= ${MIN_QDQ_OPSET} for per-channel scales`],
    };
  }
  throw new TrtInt8Error('ERR_BAD_MODEL', `${model.displayName}: Q/DQ needs the default ONNX opset ${MIN_QDQ_OPSET} or newer (per-channel QuantizeLinear; TensorRT explicit quantization), and this model could not be upgraded.`, {
    input: model.displayName,
    expected: `opset >= ${MIN_QDQ_OPSET}, or 11-12 with ops that keep their meaning at ${MIN_QDQ_OPSET}, or >= ${MIN_PER_TENSOR_QDQ_OPSET} for per-tensor scales`,
    actual: opset ?? 'no default-domain opset import',
    fixes: [
      `Re-export the model with opset >= ${MIN_QDQ_OPSET} (torch.onnx.export(..., opset_version=17)).`,
      'Or convert it: onnx.version_converter.convert_version(model, 17).',
    ],
    details: { blockers: upgrade.blockers },
  });
}

/** The 'tensorrt' placement's model (placement.ts, tensorRtGraph), with what it changed said in the notes. */
function withTensorRtGraph<T extends { model: OnnxModel; notes: string[] }>(ready: T, options: PlanOptions): T {
  if (options.placement !== 'tensorrt') return ready;
  const { model, folded, deconvolutions, pooledGemms } = tensorRtGraph(ready.model, options);
  const listed = (names: readonly string[]) => `${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''}`;
  const notes = [
    ...(folded.length > 0 ? [`folded ${folded.length} constant Mul/Add node(s) into the convolutions before them (TensorRT does not fold them through Q/DQ): ${listed(folded)}`] : []),
    ...(deconvolutions.length > 0 ? [`rewrote ${deconvolutions.length} transposed convolution(s) with few output channels as a 1x1 Conv + DepthToSpace (the same function; TensorRT's deconvolution kernels are slow there): ${listed(deconvolutions)}`] : []),
    ...(pooledGemms.length > 0 ? [`rewrote ${pooledGemms.length} Gemm(s) after a global pooling and a Flatten as a 1x1 Conv (the same function; TensorRT then runs the pooling and the layer INT8): ${listed(pooledGemms)}`] : []),
  ];
  return notes.length === 0 ? ready : { ...ready, model, notes: [...ready.notes, ...notes] };
}

/** checkQuantizable with the rewrite's plan: what insertQdq builds on. */
export function prepareQuantization(model: OnnxModel, options: PlanOptions): PreparedModel {
  checkNotQuantized(model);
  checkPlanOptions(options);
  checkSelectedNames(model, options);
  const upgraded = quantizableOpset(model);
  const ready = withTensorRtGraph(upgraded, options);
  const perChannelWeights = ready.perChannelWeights && options.perChannelWeights !== false;
  const plan = buildPlan(ready.model, { ...options, perChannelWeights });
  checkFloat32(ready.model, plan);
  return { ...ready, perChannelWeights, plan };
}

/**
 * Checks, before any calibration work, that `model` can get Q/DQ with these plan options, and returns the model to
 * calibrate and quantize (upgraded to opset 13 where needed and safe), what was changed, and the plan. A model that
 * cannot be quantized (below opset 10 and not upgradable, Q/DQ already present, tensors to quantize that are not
 * float32, bad options) throws the same TrtInt8Error insertQdq would throw after calibration.
 */
export function checkQuantizable(model: OnnxModel, options: PlanOptions = {}): QuantizableModel {
  const { plan: { rewires: _rewires, ...plan }, ...ready } = prepareQuantization(model, options);
  return { ...ready, plan };
}
