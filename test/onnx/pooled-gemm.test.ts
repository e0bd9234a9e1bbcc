import { describe, expect, it } from 'vitest';
import { OnnxModel } from '../../src/onnx/model.js';
import { pooledGemmsAsConvolutions } from '../../src/onnx/pooled-gemm.js';
import { buildModel, initializer, node, randomValues, runModel, valueInfo, type Feed } from './helpers.js';

const everyNode = () => true;

interface HeadSpec {
  readonly pooling?: string;
  readonly transB?: number;
  readonly alpha?: number;
  readonly bias?: boolean;
  /** The bias's dims (default [3]). */
  readonly biasDims?: number[];
  /** The flattened features are a graph output too. */
  readonly flatOutput?: boolean;
  /** The flattened features are also read by another node (an Identity to a second output). */
  readonly flatReader?: boolean;
  /** The input's rank: 4 (default, [N, 6, 4, 5]) or 3 ([N, 6, 20]). */
  readonly rank?: 3 | 4;
}

/** input [N, 6, 4, 5] ([N, 6, 20] for rank 3) -> pooling -> Flatten -> Gemm (6 -> 3 features) -> logits. */
function headModel(spec: HeadSpec = {}): Uint8Array {
  const transB = spec.transB ?? 1;
  const gemmAttributes: Record<string, number | { float: number }> = { transB };
  if (spec.alpha !== undefined) gemmAttributes.alpha = { float: spec.alpha };
  return buildModel({
    inputs: [valueInfo('input', spec.rank === 3 ? ['batch', 6, 20] : ['batch', 6, 4, 5])],
    outputs: [valueInfo('logits', ['batch', 3]), ...(spec.flatOutput ? [valueInfo('flat')] : []), ...(spec.flatReader ? [valueInfo('features')] : [])],
    nodes: [
      node(spec.pooling ?? 'GlobalAveragePool', ['input'], ['pooled'], {}, 'pool'),
      node('Flatten', ['pooled'], ['flat'], { axis: 1 }, 'flatten'),
      node('Gemm', ['flat', 'fc.weight', ...(spec.bias === false ? [] : ['fc.bias'])], ['logits'], gemmAttributes as never, 'fc'),
      ...(spec.flatReader ? [node('Identity', ['flat'], ['features'], {}, 'features')] : []),
    ],
    initializers: [
      initializer('fc.weight', transB ? [3, 6] : [6, 3], randomValues(18, 7, 0.5)),
      ...(spec.bias === false ? [] : [initializer('fc.bias', spec.biasDims ?? [3], randomValues(3, 8, 0.2))]),
    ],
  });
}

const feeds = (rank: 3 | 4 = 4): Record<string, Feed> => ({ input: { data: randomValues(2 * 6 * 4 * 5, 11, 1), dims: rank === 3 ? [2, 6, 20] : [2, 6, 4, 5] } });

async function maxDifference(before: Uint8Array, after: Uint8Array): Promise<number> {
  const [a, b] = [(await runModel(before, feeds())).get('logits')!, (await runModel(after, feeds())).get('logits')!];
  expect(b.length).toBe(a.length);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
}

describe('pooledGemmsAsConvolutions', () => {
  for (const spec of [{ transB: 1 }, { transB: 0, bias: false }, { transB: 0, biasDims: [1, 3] }] as HeadSpec[]) {
    it(`pooling -> Flatten -> Gemm ${JSON.stringify(spec)} becomes pooling -> 1x1 Conv -> Flatten computing the same`, async () => {
      const bytes = headModel(spec);
      const model = OnnxModel.fromBytes(bytes);
      const { model: rewritten, rewritten: names } = pooledGemmsAsConvolutions(model, everyNode);
      expect(names).toEqual(['fc']);
      expect(rewritten.nodes.map((n) => `${n.name}:${n.opType}`)).toEqual(['pool:' + (spec.pooling ?? 'GlobalAveragePool'), 'fc:Conv', 'flatten:Flatten']);
      const conv = rewritten.nodes.find((n) => n.name === 'fc')!;
      expect(conv.inputs[0]).toBe('pooled');
      expect(rewritten.constantTensor(conv.inputs[1]!)!.dims).toEqual([3, 6, 1, 1]);
      expect(rewritten.nodes.find((n) => n.name === 'flatten')!.outputs).toEqual(['logits']);
      // The Gemm's weight and bias are gone (the Conv has its own); the model given is unchanged.
      expect(rewritten.constantTensor('fc.weight')).toBeUndefined();
      expect(model.nodes.map((n) => n.opType)).toEqual([spec.pooling ?? 'GlobalAveragePool', 'Flatten', 'Gemm']);
      expect(await maxDifference(bytes, rewritten.toBytes())).toBeLessThan(1e-5);
    });
  }

  it('leaves alone what it cannot rewrite exactly, or may not: the same model object back', async () => {
    // GlobalMaxPool: exact too, but the placement does not run it INT8 (rule 3), which is what the rewrite is for. A
    // 3-D input would need a 1-D Conv. A [3, 1] bias broadcasts per sample, not per output.
    for (const spec of [{ alpha: 2 }, { alpha: 0 }, { pooling: 'GlobalLpPool' }, { pooling: 'GlobalMaxPool' }, { flatOutput: true }, { flatReader: true }, { rank: 3 }, { biasDims: [3, 1] }] as HeadSpec[]) {
      const bytes = headModel(spec);
      // A valid model the rewrite turns down ([3, 1] with a batch of 3: the broadcast works out).
      await runModel(bytes, spec.biasDims ? { input: { data: randomValues(3 * 6 * 4 * 5, 11, 1), dims: [3, 6, 4, 5] } } : feeds(spec.rank));
      const model = OnnxModel.fromBytes(bytes);
      expect(pooledGemmsAsConvolutions(model, everyNode)).toEqual({ model, rewritten: [] });
    }
    const model = OnnxModel.fromBytes(headModel());
    // Neither the Gemm nor the Flatten may be excluded: both change.
    expect(pooledGemmsAsConvolutions(model, (n) => n.name !== 'fc').rewritten).toEqual([]);
    expect(pooledGemmsAsConvolutions(model, (n) => n.name !== 'flatten').rewritten).toEqual([]);
  });
});
