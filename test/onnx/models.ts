/** The small models the ONNX tests quantize, with their weights kept for independent checks. */
import { onnxProto as onnx } from '../../src/onnx/index.js';
import { buildModel, initializer, node, randomValues, valueInfo, type Feed } from './helpers.js';

export interface TestModel {
  readonly bytes: Uint8Array;
  /** Weight values by initializer / Constant output name. */
  readonly weights: ReadonlyMap<string, { dims: number[]; values: Float32Array }>;
  /** Feeds for a batch of `batch` samples, different per seed. */
  feeds(batch: number, seed: number): Record<string, Feed>;
}

function weightSet(entries: [string, number[], number, number?][]) {
  const weights = new Map<string, { dims: number[]; values: Float32Array }>();
  for (const [name, dims, seed, scale] of entries) {
    weights.set(name, { dims, values: randomValues(dims.reduce((a, b) => a * b, 1), seed, scale ?? 0.5) });
  }
  return weights;
}

function initializers(weights: TestModel['weights']) {
  return [...weights].map(([name, w]) => initializer(name, w.dims, w.values));
}

function imageFeeds(name: string, chw: number[]) {
  return (batch: number, seed: number): Record<string, Feed> => {
    const dims = [batch, ...chw];
    return { [name]: { data: randomValues(dims.reduce((a, b) => a * b, 1), seed, 1), dims } };
  };
}

/** A model of one image input, 'input' [batch, ...chw], with these outputs and nodes; `weights` become its initializers. */
function imageModel(chw: number[], outputs: ReturnType<typeof valueInfo>[], nodes: ReturnType<typeof node>[], weights: TestModel['weights']): TestModel {
  return {
    bytes: buildModel({ inputs: [valueInfo('input', ['batch', ...chw])], outputs, nodes, initializers: initializers(weights) }),
    weights,
    feeds: imageFeeds('input', chw),
  };
}

/** input[N,3,8,8] -> Conv(4,3x3,pad 1) -> Relu -> MaxPool 2x2 -> Flatten -> Gemm(10, transB=1); dynamic batch. */
export function cnnModel(options: { opset?: number; constantNodes?: boolean } = {}): TestModel {
  const weights = weightSet([
    ['conv1.weight', [4, 3, 3, 3], 1],
    ['conv1.bias', [4], 2, 0.1],
    ['fc.weight', [10, 64], 3, 0.3],
    ['fc.bias', [10], 4, 0.1],
  ]);
  const nodes = [
    node('Conv', ['input', 'conv1.weight', 'conv1.bias'], ['conv1'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, 'conv1_node'),
    node('Relu', ['conv1'], ['relu1'], {}, 'relu1_node'),
    node('MaxPool', ['relu1'], ['pool1'], { kernel_shape: [2, 2], strides: [2, 2] }, 'pool1_node'),
    node('Flatten', ['pool1'], ['flat'], { axis: 1 }, 'flatten_node'),
    node('Gemm', ['flat', 'fc.weight', 'fc.bias'], ['logits'], { transB: 1 }, 'fc_node'),
  ];
  let inits = initializers(weights);
  if (options.constantNodes) {
    // Weights as Constant nodes: conv1.weight as raw_data, fc.weight as float_data.
    const constants = [...weights].map(([name, w]) => {
      const tensor: onnx.TensorProto.$Properties =
        name === 'fc.weight'
          ? { name, dims: w.dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: [...w.values] }
          : initializer(name, w.dims, w.values);
      return node('Constant', [], [name], { value: tensor }, `${name}_constant`);
    });
    nodes.unshift(...constants);
    inits = [];
  }
  return {
    bytes: buildModel({
      inputs: [valueInfo('input', ['batch', 3, 8, 8])],
      outputs: [valueInfo('logits', ['batch', 10])],
      nodes,
      initializers: inits,
      opset: options.opset,
    }),
    weights,
    feeds: imageFeeds('input', [3, 8, 8]),
  };
}

/**
 * A ResNet basic block: input -> Conv -> Relu -> Conv -> Add(+input) -> Relu -> GlobalAveragePool.
 * `input` feeds both the first Conv and the residual Add (one shared Q/DQ pair expected).
 */
export function residualModel(): TestModel {
  const weights = weightSet([
    ['block.conv1.weight', [4, 4, 3, 3], 11, 0.3],
    ['block.conv2.weight', [4, 4, 3, 3], 12, 0.3],
  ]);
  const conv = { pads: [1, 1, 1, 1], kernel_shape: [3, 3] };
  return imageModel([4, 6, 6], [valueInfo('pooled', ['batch', 4, 1, 1])], [
    node('Conv', ['input', 'block.conv1.weight'], ['c1'], conv, 'conv1'),
    node('Relu', ['c1'], ['r1'], {}, 'relu1'),
    node('Conv', ['r1', 'block.conv2.weight'], ['c2'], conv, 'conv2'),
    node('Add', ['c2', 'input'], ['sum'], {}, 'residual_add'),
    node('Relu', ['sum'], ['block_out'], {}, 'relu_out'),
    node('GlobalAveragePool', ['block_out'], ['pooled'], {}, 'gap'),
  ], weights);
}

/** input[N,4,5,5] -> ConvTranspose(weight [4 in, 3 out, 3, 3], stride 1) -> out[N,3,7,7]. */
export function convTransposeModel(): TestModel {
  const weights = weightSet([
    ['deconv.weight', [4, 3, 3, 3], 21, 0.4],
    ['deconv.bias', [3], 22, 0.1],
  ]);
  return imageModel([4, 5, 5], [valueInfo('out', ['batch', 3, 7, 7])], [node('ConvTranspose', ['input', 'deconv.weight', 'deconv.bias'], ['out'], { kernel_shape: [3, 3] }, 'deconv')], weights);
}

/**
 * tokens[N,5,16] -> MatMul(W [16,8]) -> Add(bias) -> Relu -> Gemm(B [8,6], transB=0) -> out[N*5... ]
 * Gemm needs 2-D input, so a Reshape to [-1, 8] sits in between.
 */
export function matmulModel(): TestModel {
  const weights = weightSet([
    ['proj.weight', [16, 8], 31, 0.4],
    ['proj.bias', [8], 32, 0.1],
    ['head.weight', [8, 6], 33, 0.4],
  ]);
  const shape = { name: 'flat_shape', dims: [2], dataType: onnx.TensorProto.DataType.INT64, int64Data: [-1, 8] };
  return {
    bytes: buildModel({
      inputs: [valueInfo('tokens', ['batch', 5, 16])],
      outputs: [valueInfo('out', ['rows', 6])],
      nodes: [
        node('MatMul', ['tokens', 'proj.weight'], ['proj'], {}, 'proj_matmul'),
        node('Add', ['proj', 'proj.bias'], ['proj_biased'], {}, 'proj_bias'),
        node('Relu', ['proj_biased'], ['hidden'], {}, 'proj_relu'),
        node('Reshape', ['hidden', 'flat_shape'], ['hidden2d'], {}, 'flatten_rows'),
        node('Gemm', ['hidden2d', 'head.weight'], ['out'], {}, 'head_gemm'),
      ],
      initializers: [...initializers(weights), shape],
    }),
    weights,
    feeds: imageFeeds('tokens', [5, 16]),
  };
}

const conv3x3 = { pads: [1, 1, 1, 1], kernel_shape: [3, 3] };

/** A ResNet basic block with 16 channels (large enough for 'tensorrt' placement): input feeds conv1 and the skip. */
export function residual16Model(): TestModel {
  const weights = weightSet([
    ['conv1.weight', [16, 16, 3, 3], 41, 0.15],
    ['conv2.weight', [16, 16, 3, 3], 42, 0.15],
  ]);
  return imageModel([16, 6, 6], [valueInfo('pooled', ['batch', 16, 1, 1])], [
    node('Conv', ['input', 'conv1.weight'], ['c1'], conv3x3, 'conv1'),
    node('Relu', ['c1'], ['r1'], {}, 'relu1'),
    node('Conv', ['r1', 'conv2.weight'], ['c2'], conv3x3, 'conv2'),
    node('Add', ['c2', 'input'], ['sum'], {}, 'residual_add'),
    node('Relu', ['sum'], ['block_out'], {}, 'relu_out'),
    node('GlobalAveragePool', ['block_out'], ['pooled'], {}, 'gap'),
  ], weights);
}

/** Two branches concatenated: input -> convA -> Relu (ra), input -> convB -> Relu (rb); Concat -> convC -> out. */
export function concatModel(): TestModel {
  const weights = weightSet([
    ['convA.weight', [16, 16, 3, 3], 51, 0.15],
    ['convB.weight', [16, 16, 3, 3], 52, 0.4], // larger weights: rb's range differs from ra's
    ['convC.weight', [16, 32, 3, 3], 53, 0.1],
  ]);
  return imageModel([16, 6, 6], [valueInfo('out', ['batch', 16, 6, 6])], [
    node('Conv', ['input', 'convA.weight'], ['ca'], conv3x3, 'convA'),
    node('Relu', ['ca'], ['ra'], {}, 'reluA'),
    node('Conv', ['input', 'convB.weight'], ['cb'], conv3x3, 'convB'),
    node('Relu', ['cb'], ['rb'], {}, 'reluB'),
    node('Concat', ['ra', 'rb'], ['cat'], { axis: 1 }, 'concat'),
    node('Conv', ['cat', 'convC.weight'], ['out'], conv3x3, 'convC'),
  ], weights);
}

/** input -> conv1 -> Relu (r1) -> MaxPool 2x2 (pool) -> conv2 -> out. */
export function maxPoolModel(): TestModel {
  const weights = weightSet([
    ['conv1.weight', [16, 16, 3, 3], 61, 0.15],
    ['conv2.weight', [16, 16, 3, 3], 62, 0.15],
  ]);
  return imageModel([16, 8, 8], [valueInfo('out', ['batch', 16, 4, 4])], [
    node('Conv', ['input', 'conv1.weight'], ['c1'], conv3x3, 'conv1'),
    node('Relu', ['c1'], ['r1'], {}, 'relu1'),
    node('MaxPool', ['r1'], ['pool'], { kernel_shape: [2, 2], strides: [2, 2] }, 'maxpool'),
    node('Conv', ['pool', 'conv2.weight'], ['out'], conv3x3, 'conv2'),
  ], weights);
}

/** input -> conv1 -> Relu (features, also a graph output) -> conv2 -> out: a tensor that is an output feeds a Conv. */
export function sideOutputModel(): TestModel {
  const weights = weightSet([
    ['conv1.weight', [16, 16, 3, 3], 71, 0.15],
    ['conv2.weight', [16, 16, 3, 3], 72, 0.15],
  ]);
  return imageModel([16, 6, 6], [valueInfo('features', ['batch', 16, 6, 6]), valueInfo('out', ['batch', 16, 6, 6])], [
    node('Conv', ['input', 'conv1.weight'], ['c1'], conv3x3, 'conv1'),
    node('Relu', ['c1'], ['features'], {}, 'relu1'),
    node('Conv', ['features', 'conv2.weight'], ['out'], conv3x3, 'conv2'),
  ], weights);
}

/**
 * A downsampling ResNet block: main path input -> convA -> Relu -> convB (b); shortcut input -> convS (s), listed
 * after the main path; Add(s, b) -> out. Both Add inputs come from Convs.
 */
export function shortcutConvModel(): TestModel {
  const weights = weightSet([
    ['convA.weight', [16, 16, 3, 3], 81, 0.15],
    ['convB.weight', [16, 16, 3, 3], 82, 0.15],
    ['convS.weight', [16, 16, 1, 1], 83, 0.3],
  ]);
  return imageModel([16, 6, 6], [valueInfo('out', ['batch', 16, 6, 6])], [
    node('Conv', ['input', 'convA.weight'], ['ca'], conv3x3, 'convA'),
    node('Relu', ['ca'], ['ra'], {}, 'reluA'),
    node('Conv', ['ra', 'convB.weight'], ['b'], conv3x3, 'convB'),
    node('Conv', ['input', 'convS.weight'], ['s'], { kernel_shape: [1, 1] }, 'convS'),
    node('Add', ['s', 'b'], ['out'], {}, 'residual_add'),
  ], weights);
}

/**
 * A small ResNet: a 3-channel stem Conv(3 -> 16) -> Relu (sr) -> MaxPool (pool); a basic block on pool (conv1 -> Relu
 * (r1) -> conv2 (c2) -> Add(c2, pool) -> Relu (block_out)); GlobalAveragePool (gap) -> Flatten (flat) -> Gemm(16 -> 16)
 * -> logits. The ResNet-50 head and stem in miniature.
 */
export function smallResNetModel(options: { readonly featuresOutput?: boolean } = {}): TestModel {
  const weights = weightSet([
    ['stem.weight', [16, 3, 3, 3], 91, 0.3],
    ['stem.bias', [16], 92, 0.1],
    ['conv1.weight', [16, 16, 3, 3], 93, 0.15],
    ['conv2.weight', [16, 16, 3, 3], 94, 0.15],
    ['fc.weight', [16, 16], 95, 0.3],
    ['fc.bias', [16], 96, 0.1],
  ]);
  // featuresOutput: the flattened features are a graph output too (through an Identity), read in float.
  const features = options.featuresOutput ? [node('Identity', ['flat'], ['features'], {}, 'features')] : [];
  const outputs = [valueInfo('logits', ['batch', 16]), ...(options.featuresOutput ? [valueInfo('features', ['batch', 16])] : [])];
  return imageModel([3, 12, 12], outputs, [
    node('Conv', ['input', 'stem.weight', 'stem.bias'], ['sc'], conv3x3, 'stem'),
    node('Relu', ['sc'], ['sr'], {}, 'stem_relu'),
    node('MaxPool', ['sr'], ['pool'], { kernel_shape: [2, 2], strides: [2, 2] }, 'maxpool'),
    node('Conv', ['pool', 'conv1.weight'], ['c1'], conv3x3, 'conv1'),
    node('Relu', ['c1'], ['r1'], {}, 'relu1'),
    node('Conv', ['r1', 'conv2.weight'], ['c2'], conv3x3, 'conv2'),
    node('Add', ['c2', 'pool'], ['sum'], {}, 'residual_add'),
    node('Relu', ['sum'], ['block_out'], {}, 'relu_out'),
    node('GlobalAveragePool', ['block_out'], ['gap'], {}, 'gap'),
    node('Flatten', ['gap'], ['flat'], { axis: 1 }, 'flatten'),
    node('Gemm', ['flat', 'fc.weight', 'fc.bias'], ['logits'], { transB: 1 }, 'fc'),
    ...features,
  ], weights);
}

/**
 * Two Conv branches into an Add where the deeper branch's Conv output is also read elsewhere: input -> convA -> Relu
 * -> convP (p, read by the Add and by convE -> side) and input -> convQ (q); Add(p, q) -> out. Only convQ's output can
 * take the Add into its epilogue.
 */
export function sharedBranchAddModel(): TestModel {
  const weights = weightSet([
    ['convA.weight', [16, 16, 3, 3], 101, 0.15],
    ['convP.weight', [16, 16, 3, 3], 102, 0.15],
    ['convQ.weight', [16, 16, 1, 1], 103, 0.3],
    ['convE.weight', [16, 16, 3, 3], 104, 0.15],
  ]);
  return imageModel([16, 6, 6], [valueInfo('out', ['batch', 16, 6, 6]), valueInfo('side', ['batch', 16, 6, 6])], [
    node('Conv', ['input', 'convA.weight'], ['ca'], conv3x3, 'convA'),
    node('Relu', ['ca'], ['ra'], {}, 'reluA'),
    node('Conv', ['ra', 'convP.weight'], ['p'], conv3x3, 'convP'),
    node('Conv', ['p', 'convE.weight'], ['side'], conv3x3, 'convE'),
    node('Conv', ['input', 'convQ.weight'], ['q'], { kernel_shape: [1, 1] }, 'convQ'),
    node('Add', ['p', 'q'], ['out'], {}, 'residual_add'),
  ], weights);
}

/** The constants a decomposed hard-swish reads (decomposedHardSwish): three, six, zero. */
function addHardSwishConstants(weights: Map<string, { dims: number[]; values: Float32Array }>): void {
  for (const [name, value] of [['three', 3], ['six', 6], ['zero', 0]] as const) weights.set(name, { dims: [], values: Float32Array.of(value) });
}

/** `out = x * clip(x + 3, 0, 6) / 6` as exporters write HardSwish: nodes hs_add, hs_clip, hs_mul, hs_div; tensors <tag>3, <tag>c, <tag>m. */
function decomposedHardSwish(x: string, out: string, tag: string) {
  return [
    node('Add', [x, 'three'], [`${tag}3`], {}, 'hs_add'),
    node('Clip', [`${tag}3`, 'zero', 'six'], [`${tag}c`], {}, 'hs_clip'),
    node('Mul', [x, `${tag}c`], [`${tag}m`], {}, 'hs_mul'),
    node('Div', [`${tag}m`, 'six'], [out], {}, 'hs_div'),
  ];
}

/**
 * A PP-LCNet / MobileNetV3-style block: input -> conv1 (1x1) -> Relu -> dw (depthwise 3x3, group 16) -> then either a
 * per-channel affine (Mul, Add by constants) and a decomposed hard-swish (Add 3, Clip 0..6, Mul, Div 6), or a plain
 * Relu -> conv2 (1x1) -> out.
 */
export function depthwiseBlockModel(activation: 'affine-hardswish' | 'relu'): TestModel {
  const weights = weightSet([
    ['conv1.weight', [16, 16, 1, 1], 111, 0.3],
    ['dw.weight', [16, 1, 3, 3], 112, 0.4],
    ['conv2.weight', [16, 16, 1, 1], 113, 0.3],
    ['scale', [1, 16, 1, 1], 114, 1],
    ['shift', [1, 16, 1, 1], 115, 0.2],
  ]);
  if (activation === 'relu') for (const name of ['scale', 'shift']) weights.delete(name);
  else addHardSwishConstants(weights);
  const tail =
    activation === 'relu'
      ? [node('Relu', ['d'], ['h'], {}, 'dw_relu')]
      : [
          node('Mul', ['d', 'scale'], ['ds'], {}, 'affine_mul'),
          node('Add', ['ds', 'shift'], ['da'], {}, 'affine_add'),
          ...decomposedHardSwish('da', 'h', 'd'),
        ];
  return imageModel([16, 6, 6], [valueInfo('out', ['batch', 16, 6, 6])], [
    node('Conv', ['input', 'conv1.weight'], ['c1'], { kernel_shape: [1, 1] }, 'conv1'),
    node('Relu', ['c1'], ['r1'], {}, 'relu1'),
    node('Conv', ['r1', 'dw.weight'], ['d'], { ...conv3x3, group: 16 }, 'dw'),
    ...tail,
    node('Conv', ['h', 'conv2.weight'], ['out'], { kernel_shape: [1, 1] }, 'conv2'),
  ], weights);
}

/** A dense 1x1 convolution followed by a decomposed hard-swish (`c1 -> h`), then another: rule 6 splits them. */
export function denseHardSwishModel(): TestModel {
  const weights = weightSet([
    ['conv1.weight', [16, 16, 1, 1], 121, 0.3],
    ['conv2.weight', [16, 16, 1, 1], 122, 0.3],
  ]);
  addHardSwishConstants(weights);
  return imageModel([16, 6, 6], [valueInfo('out', ['batch', 16, 6, 6])], [
    node('Conv', ['input', 'conv1.weight'], ['c1'], { kernel_shape: [1, 1] }, 'conv1'),
    ...decomposedHardSwish('c1', 'h', 'c'),
    node('Conv', ['h', 'conv2.weight'], ['out'], { kernel_shape: [1, 1] }, 'conv2'),
  ], weights);
}

/**
 * `y<tag> = x + x * hardsigmoid(excite<tag>(relu(squeeze<tag>(gap(x)))))`, the detector's squeeze-and-excitation block;
 * weights `squeeze<tag>.weight` and `excite<tag>.weight`, tensors pooled, sq, sr, ex, s, xs, y (each + tag).
 */
function squeezeExciteNodes(x: string, tag: string) {
  return [
    node('GlobalAveragePool', [x], [`pooled${tag}`], {}, `gap${tag}`),
    node('Conv', [`pooled${tag}`, `squeeze${tag}.weight`], [`sq${tag}`], { kernel_shape: [1, 1] }, `squeeze${tag}`),
    node('Relu', [`sq${tag}`], [`sr${tag}`], {}, `squeeze_relu${tag}`),
    node('Conv', [`sr${tag}`, `excite${tag}.weight`], [`ex${tag}`], { kernel_shape: [1, 1] }, `excite${tag}`),
    node('HardSigmoid', [`ex${tag}`], [`s${tag}`], {}, `gate${tag}`),
    node('Mul', [x, `s${tag}`], [`xs${tag}`], {}, `scale_mul${tag}`),
    node('Add', [x, `xs${tag}`], [`y${tag}`], {}, `se_add${tag}`),
  ];
}

/**
 * A squeeze-and-excitation block as in the PP-OCRv4 detector's neck, with a squeeze conv smaller than
 * DEFAULT_MIN_CHANNELS: input -> conv_in (3x3, 24) = x; x -> GlobalAveragePool -> squeeze (24 -> 6) -> Relu ->
 * excite (6 -> 24) -> HardSigmoid = s; Mul(x, s) -> Add(x, .) -> conv_out (3x3) -> out.
 */
export function squeezeExciteModel(): TestModel {
  const weights = weightSet([
    ['conv_in.weight', [24, 16, 3, 3], 121, 0.15],
    ['squeeze.weight', [6, 24, 1, 1], 122, 0.3],
    ['excite.weight', [24, 6, 1, 1], 123, 0.3],
    ['conv_out.weight', [24, 24, 3, 3], 124, 0.1],
  ]);
  return imageModel([16, 6, 6], [valueInfo('out', ['batch', 24, 6, 6])], [
    node('Conv', ['input', 'conv_in.weight'], ['x'], conv3x3, 'conv_in'),
    ...squeezeExciteNodes('x', ''),
    node('Conv', ['y', 'conv_out.weight'], ['out'], conv3x3, 'conv_out'),
  ], weights);
}

/**
 * MobileNetV3-Small's first block in miniature: input -> conv1 (1x1) -> Relu -> dw (depthwise 3x3) -> Relu = r;
 * r -> GlobalAveragePool -> squeeze (16 -> 8) -> Relu -> excite (8 -> 16) -> HardSigmoid = s; Mul(r, s) -> conv2 -> out.
 */
export function depthwiseSqueezeExciteModel(): TestModel {
  const weights = weightSet([
    ['conv1.weight', [16, 16, 1, 1], 131, 0.3],
    ['dw.weight', [16, 1, 3, 3], 132, 0.4],
    ['squeeze.weight', [8, 16, 1, 1], 133, 0.3],
    ['excite.weight', [16, 8, 1, 1], 134, 0.3],
    ['conv2.weight', [16, 16, 1, 1], 135, 0.3],
  ]);
  return imageModel([16, 6, 6], [valueInfo('out', ['batch', 16, 6, 6])], [
    node('Conv', ['input', 'conv1.weight'], ['c1'], { kernel_shape: [1, 1] }, 'conv1'),
    node('Relu', ['c1'], ['r1'], {}, 'relu1'),
    node('Conv', ['r1', 'dw.weight'], ['d'], { ...conv3x3, group: 16 }, 'dw'),
    node('Relu', ['d'], ['r'], {}, 'dw_relu'),
    node('GlobalAveragePool', ['r'], ['pooled'], {}, 'gap'),
    node('Conv', ['pooled', 'squeeze.weight'], ['sq'], { kernel_shape: [1, 1] }, 'squeeze'),
    node('Relu', ['sq'], ['sr'], {}, 'squeeze_relu'),
    node('Conv', ['sr', 'excite.weight'], ['ex'], { kernel_shape: [1, 1] }, 'excite'),
    node('HardSigmoid', ['ex'], ['s'], {}, 'gate'),
    node('Mul', ['r', 's'], ['m'], {}, 'scale_mul'),
    node('Conv', ['m', 'conv2.weight'], ['out'], { kernel_shape: [1, 1] }, 'conv2'),
  ], weights);
}

/** A tensor read by a quantized conv, by ReduceMean and by Sub (a decomposed normalisation): x -> convA -> outA; Sub(x, ReduceMean(x)) -> convB -> outB. */
export function sharedFloatReaderModel(): TestModel {
  const weights = weightSet([
    ['conv_in.weight', [16, 16, 3, 3], 141, 0.15],
    ['convA.weight', [16, 16, 1, 1], 142, 0.3],
    ['convB.weight', [16, 16, 1, 1], 143, 0.3],
  ]);
  return imageModel([16, 6, 6], [valueInfo('outA', ['batch', 16, 6, 6]), valueInfo('outB', ['batch', 16, 6, 6])], [
    node('Conv', ['input', 'conv_in.weight'], ['x'], conv3x3, 'conv_in'),
    node('Conv', ['x', 'convA.weight'], ['outA'], { kernel_shape: [1, 1] }, 'convA'),
    node('ReduceMean', ['x'], ['mean'], { axes: [1], keepdims: 1 }, 'mean'),
    node('Sub', ['x', 'mean'], ['centered'], {}, 'center'),
    node('Conv', ['centered', 'convB.weight'], ['outB'], { kernel_shape: [1, 1] }, 'convB'),
  ], weights);
}

/**
 * The PP-OCRv4 detector's neck in miniature (RSEFPN): two squeeze-and-excitation blocks `x + x * hardsigmoid(gate)`.
 * The first adds the upsampled upper map (a Resize of a quantized tensor) and feeds a conv; the second's output is
 * upsampled by a Resize before the conv that reads it.
 *   input[N,16,8,8] -> conv_low (3x3, 24) = x;  input -> conv_up (3x3 stride 2, 24) = u -> conv_side -> side
 *   up = Resize(u, x2); p = x + x * hardsigmoid(excite(relu(squeeze(gap(x))))) + up; p -> conv_out (3x3) -> out
 *   q = conv_q(p) (1x1); v = q + q * hardsigmoid(excite2(relu(squeeze2(gap(q))))); Resize(v, x2) -> conv_v -> out2
 */
export function neckModel(): TestModel {
  const weights = weightSet([
    ['conv_low.weight', [24, 16, 3, 3], 151, 0.15],
    ['conv_up.weight', [24, 16, 3, 3], 152, 0.15],
    ['conv_side.weight', [24, 24, 1, 1], 153, 0.3],
    ['squeeze.weight', [8, 24, 1, 1], 154, 0.3],
    ['excite.weight', [24, 8, 1, 1], 155, 0.3],
    ['conv_out.weight', [24, 24, 3, 3], 156, 0.1],
    ['conv_q.weight', [24, 24, 1, 1], 157, 0.3],
    ['squeeze2.weight', [8, 24, 1, 1], 158, 0.3],
    ['excite2.weight', [24, 8, 1, 1], 159, 0.3],
    ['conv_v.weight', [24, 24, 1, 1], 160, 0.3],
    ['scales', [4], 161],
  ]);
  weights.get('scales')!.values.set([1, 1, 2, 2]);
  return imageModel([16, 8, 8], [valueInfo('out', ['batch', 24, 8, 8]), valueInfo('side', ['batch', 24, 4, 4]), valueInfo('out2', ['batch', 24, 16, 16])], [
    node('Conv', ['input', 'conv_low.weight'], ['x'], conv3x3, 'conv_low'),
    node('Conv', ['input', 'conv_up.weight'], ['u'], { ...conv3x3, strides: [2, 2] }, 'conv_up'),
    node('Conv', ['u', 'conv_side.weight'], ['side'], { kernel_shape: [1, 1] }, 'conv_side'),
    node('Resize', ['u', '', 'scales'], ['up'], { mode: 'nearest' }, 'upsample'),
    ...squeezeExciteNodes('x', ''),
    node('Add', ['y', 'up'], ['p'], {}, 'top_down_add'),
    node('Conv', ['p', 'conv_out.weight'], ['out'], conv3x3, 'conv_out'),
    node('Conv', ['p', 'conv_q.weight'], ['q'], { kernel_shape: [1, 1] }, 'conv_q'),
    ...squeezeExciteNodes('q', '2'),
    node('Resize', ['y2', '', 'scales'], ['v_up'], { mode: 'nearest' }, 'upsample2'),
    node('Conv', ['v_up', 'conv_v.weight'], ['out2'], { kernel_shape: [1, 1] }, 'conv_v'),
  ], weights);
}

/**
 * A segmentation head in miniature, as the PP-OCRv4 detector's: input -> conv (3x3, 16) -> Relu = r -> ConvTranspose
 * (16 -> `outChannels` (default 1), kernel 2, stride 2, bias) = d -> Sigmoid -> out [batch, outChannels, 12, 12].
 * `weightConstant`: the ConvTranspose's weight comes from a Constant node named 'up_weight_constant'.
 */
export function segmentationHeadModel(options: { readonly outChannels?: number; readonly weightConstant?: boolean } = {}): TestModel {
  const outChannels = options.outChannels ?? 1;
  const weights = weightSet([
    ['conv.weight', [16, 16, 3, 3], 131, 0.15],
    ['up.weight', [16, outChannels, 2, 2], 132, 0.4],
    ['up.bias', [outChannels], 133, 0.1],
  ]);
  const nodes = [
    node('Conv', ['input', 'conv.weight'], ['c'], conv3x3, 'conv'),
    node('Relu', ['c'], ['r'], {}, 'relu'),
    node('ConvTranspose', ['r', 'up.weight', 'up.bias'], ['d'], { kernel_shape: [2, 2], strides: [2, 2] }, 'up'),
    node('Sigmoid', ['d'], ['out'], {}, 'sigmoid'),
  ];
  const test = imageModel([16, 6, 6], [valueInfo('out', ['batch', outChannels, 12, 12])], nodes, weights);
  if (!options.weightConstant) return test;
  const upWeight = weights.get('up.weight')!;
  const initializersBut = new Map([...weights].filter(([name]) => name !== 'up.weight'));
  const constant = node('Constant', [], ['up.weight'], { value: initializer('up.weight', upWeight.dims, upWeight.values) }, 'up_weight_constant');
  return { ...imageModel([16, 6, 6], [valueInfo('out', ['batch', outChannels, 12, 12])], [constant, ...nodes], initializersBut), weights };
}

/**
 * A classifier head of two layers, as MobileNetV3's: input [16, 4, 4] -> conv (3x3, 16) -> Relu -> GlobalAveragePool
 * -> Flatten -> fc1 (Gemm 16 -> 32) -> Relu = h -> fc2 (Gemm 32 -> 10) -> logits.
 */
export function twoLayerHeadModel(): TestModel {
  const weights = weightSet([
    ['conv.weight', [16, 16, 3, 3], 141, 0.15],
    ['fc1.weight', [32, 16], 142, 0.3],
    ['fc2.weight', [10, 32], 143, 0.3],
  ]);
  return imageModel([16, 4, 4], [valueInfo('logits', ['batch', 10])], [
    node('Conv', ['input', 'conv.weight'], ['c'], conv3x3, 'conv'),
    node('Relu', ['c'], ['r'], {}, 'relu'),
    node('GlobalAveragePool', ['r'], ['pooled'], {}, 'gap'),
    node('Flatten', ['pooled'], ['flat'], { axis: 1 }, 'flatten'),
    node('Gemm', ['flat', 'fc1.weight'], ['f1'], { transB: 1 }, 'fc1'),
    node('Relu', ['f1'], ['h'], {}, 'fc1_relu'),
    node('Gemm', ['h', 'fc2.weight'], ['logits'], { transB: 1 }, 'fc2'),
  ], weights);
}
