/**
 * ONNX in TypeScript: load/inspect/rewrite models (OnnxModel) and write TensorRT-style Q/DQ models.
 *
 * @example
 * ```ts
 * import { OnnxModel, planQuantization, insertQdq } from 'trt-int8';
 *
 * const model = await OnnxModel.load('model.onnx');      // ERR_IO / ERR_BAD_MODEL on bad input
 * model.inputs();        // [{ name: 'input', shape: [-1, 3, 224, 224], dtype: 'float32' }] (-1 = dynamic)
 * model.opsetVersion();  // 17
 *
 * // 1. Which activations need an amax (calibration targets) and which weights get quantized.
 * const plan = planQuantization(model, { exclude: { opTypes: ['MatMul'], names: ['/head/Gemm'] } });
 * plan.activationNames;  // ['input', '/layer1/Relu_output_0', ...]
 *
 * // 2. Run the model with those tensors as extra outputs (e.g. onnxruntime-node) and collect statistics.
 * const bytes = model.withExtraOutputs(plan.activationNames);
 *
 * // 3. Write the Q/DQ model: scale = amax / 127 per activation, per-channel weight scales.
 * const amax = new Map([['input', 2.64], ['/layer1/Relu_output_0', 6.1] ]);
 * const qdq = insertQdq(model, { amax, exclude: { opTypes: ['MatMul'], names: ['/head/Gemm'] } });
 * await qdq.save('model.qdq.onnx');                       // atomic write
 *
 * // Before calibrating: can it be quantized (opset, dtypes, options)? Older opsets are upgraded or get per-tensor weights.
 * const ready = checkQuantizable(model, { placement: 'tensorrt' });   // ready.model, ready.plan, ready.notes
 * // TensorRT-aware placement, then FP16 outside the INT8 regions for a strongly typed build.
 * const fast = convertToFp16(insertQdq(model, { amax, placement: 'tensorrt' })).model;
 * ```
 */
export { OnnxModel, onnx as onnxProto } from './model.js';
export type { ValueSpec, OnnxNode, ConstantTensor, ModelSource } from './model.js';
export type { OnnxDType } from './codec.js';
export { planQuantization, insertQdq, ZERO_CHANNEL_WEIGHT_SCALE, MIN_QDQ_OPSET, checkQuantizable, DEFAULT_PLACEMENT, DEFAULT_MIN_CHANNELS, PLACEMENTS } from './qdq.js';
export type { QuantizableModel, NodeExclusion, Placement, PlanOptions, QuantizationPlan, PlannedActivation, PlannedWeight, InsertQdqOptions } from './qdq.js';
export { convertToFp16 } from './fp16.js';
export type { Fp16Options, Fp16Conversion } from './fp16.js';
export { upgradeToOpset13 } from './opset.js';
export type { OpsetUpgrade } from './opset.js';
