/**
 * evaluate() with labels on an output that is no class vector: refused from its declared shape (input-views.test.ts),
 * and, when the model does not declare the output's shape, from the values it computes, instead of scoring 0 %.
 */
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/calibrate/index.js';
import { TrtInt8Error } from '../../src/core/errors.js';
import { buildModel, initializer, node, randomValues, valueInfo } from '../onnx/helpers.js';

/** input [N,1,8,8] -> Conv(1 -> 1) -> "map", whose shape the model does not declare (it is [N, 1, 8, 8]). */
function undeclaredMapModel(): Uint8Array {
  return buildModel({
    inputs: [valueInfo('input', ['N', 1, 8, 8])],
    outputs: [valueInfo('map')],
    initializers: [initializer('w', [1, 1, 3, 3], randomValues(9, 7, 0.5)), initializer('b', [1], randomValues(1, 8, 0.1))],
    nodes: [node('Conv', ['input', 'w', 'b'], ['map'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, 'conv')],
  });
}

describe('evaluate with labels on an undeclared output shape', () => {
  it('refuses a [N, 1, 8, 8] map found at run time, naming its shape; without labels it compares the maps', async () => {
    const model = undeclaredMapModel();
    const batches = [0, 1].map((b) => ({ input: { data: randomValues(3 * 64, 20 + b, 1), shape: [3, 1, 8, 8] } }));
    const error = await evaluate(model, model, batches, { labels: [0, 1, 2, 3, 4, 5] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TrtInt8Error);
    expect((error as TrtInt8Error).code).toBe('ERR_BAD_OPTION');
    expect((error as TrtInt8Error).input).toBe('labels');
    expect((error as TrtInt8Error).message).toMatch(/"map" has shape \[3, 1, 8, 8\], which is not \[N, classes\]/);
    const compared = await evaluate(model, model, batches);
    expect(compared.samples).toBe(6);
    expect(compared.top1Agreement).toBe(1);
  });
});
