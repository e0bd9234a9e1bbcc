/** Small ONNX models for the TensorRT back end's tests, written with our own proto API. */
import { onnxProto as onnx } from '../../src/onnx/index.js';
import { makeFloatTensor } from '../../src/onnx/codec.js';

const FLOAT = onnx.TensorProto.DataType.FLOAT;

function valueInfo(name: string, shape: (number | string)[]): onnx.ValueInfoProto.$Properties {
  return {
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

function values(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed;
  for (let i = 0; i < count; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = (s / 2147483648) * 2 - 1;
  }
  return out;
}

/**
 * input[batch,3,8,8] (batch dynamic unless fixedBatch) -> Conv "conv1" -> Relu "relu1" -> Flatten "flatten"
 * -> Gemm "fc" -> Softmax "softmax" -> probs[batch,10].
 */
export function cnn(options: { fixedBatch?: number; opset?: number } = {}): Uint8Array {
  const batch = options.fixedBatch ?? 'batch';
  const node = (opType: string, inputs: string[], output: string, name: string, attribute: onnx.AttributeProto.$Properties[] = []) => ({
    opType,
    input: inputs,
    output: [output],
    name,
    attribute,
  });
  const ints = (name: string, v: number[]) => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v });
  const int = (name: string, v: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i: v });
  const model: onnx.ModelProto.$Properties = {
    irVersion: 8,
    producerName: 'trt-int8-tensorrt-tests',
    opsetImport: [{ domain: '', version: options.opset ?? 17 }],
    graph: {
      name: 'cnn',
      input: [valueInfo('input', [batch, 3, 8, 8])],
      output: [valueInfo('probs', [batch, 10])],
      node: [
        node('Conv', ['input', 'conv1.weight', 'conv1.bias'], 'conv1_out', 'conv1', [ints('pads', [1, 1, 1, 1]), ints('kernel_shape', [3, 3])]),
        node('Relu', ['conv1_out'], 'relu1_out', 'relu1'),
        node('Flatten', ['relu1_out'], 'flat', 'flatten', [int('axis', 1)]),
        node('Gemm', ['flat', 'fc.weight', 'fc.bias'], 'logits', 'fc', [int('transB', 1)]),
        node('Softmax', ['logits'], 'probs', 'softmax', [int('axis', 1)]),
      ],
      initializer: [
        makeFloatTensor('conv1.weight', [4, 3, 3, 3], values(108, 1)),
        makeFloatTensor('conv1.bias', [4], values(4, 2)),
        makeFloatTensor('fc.weight', [10, 256], values(2560, 3)),
        makeFloatTensor('fc.bias', [10], values(10, 4)),
      ],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}
