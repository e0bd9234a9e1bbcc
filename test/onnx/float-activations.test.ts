import { describe, expect, it } from 'vitest';
import { OnnxModel } from '../../src/index.js';
import { onnx } from '../../src/onnx/proto/onnx.js';
import { cnn } from '../tensorrt/models.js';

describe('OnnxModel.floatActivationNames', () => {
  it('lists the float graph input and every computed float tensor in graph order, no weight', () => {
    const model = OnnxModel.fromBytes(cnn({ fixedBatch: 2 }));
    expect(model.floatActivationNames()).toEqual(['input', 'conv1_out', 'relu1_out', 'flat', 'logits', 'probs']);
  });

  it('leaves out tensors computed from constants alone (an Identity on a weight, a Cast of a Constant)', () => {
    const proto = onnx.ModelProto.decode(cnn({ fixedBatch: 2 }));
    const graph = proto.graph!;
    graph.node!.unshift(
      { opType: 'Identity', input: ['conv1.weight'], output: ['w_copy'], name: 'copy' },
      { opType: 'Identity', input: ['w_copy'], output: ['w_copy2'], name: 'copy2' },
    );
    graph.node![2]!.input![1] = 'w_copy2';
    const model = OnnxModel.fromBytes(onnx.ModelProto.encode(proto).finish());
    const names = model.floatActivationNames();
    expect(names).not.toContain('w_copy');
    expect(names).not.toContain('w_copy2');
    expect(names).toContain('conv1_out');
  });
});
