/**
 * Issue #11.1: how fast are our Q/DQ INT8 engines? For each model, in one run on one GPU: FP32, FP16, implicit
 * INT8 'best' (TensorRT's calibration through the bridge, INT8 + FP16) and our Q/DQ INT8 (calibrate() on the CPU
 * with onnxruntime-node, insertQdq, built with FP16 allowed elsewhere). Median and p90 GPU latency at batch 1 and 32
 * (engine.infer: CUDA events around enqueue on the stream, copies excluded, after warm-up), engine size, build
 * time, layers in INT8, agreement with FP32; ratios Q/DQ / implicit and Q/DQ / FP16; and where the largest batch's time
 * goes, by TensorRT's per-layer profiler (separate runs: INT8 / FP16 / FP32 layers and reformats). JSON to $OUT or --out.
 *
 *   python3 bench/gpu/export_models.py --model resnet50      # ResNet-50 / MobileNetV3-Large, random weights
 *   node .device/run/js/qdq-speed.mjs --model resnet50 [--level 3] [--variants fp32,fp16,best,qdq] [--profile-runs 10] [--out FILE]
 *   node .device/run/js/qdq-speed.mjs --model fashion,ppocr --prepare-only    # the CPU half only, no TensorRT
 *
 * Inputs. fashion: the real Fashion-MNIST calibration and test images. ppocr: the real photos of `setup:ocr`,
 * stretched to 640x640. resnet50 / mobilenetv3: random weights, so their calibration and evaluation inputs are
 * synthetic but structured images (a few smooth sinusoids per channel plus noise, ImageNet-normalised): right
 * for speed, meaningless for accuracy; their "agreement" only says how far INT8 moves the logits.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Calibrator, DEFAULT_MIN_CHANNELS, OnnxModel, buildEngine, type CalibrationResult, calibrate, calibratorFromBatches, convertToFp16, insertQdq, type Batch, type BuildEngineOptions, type Engine, type OnnxNode, type Precision } from '../../src/index.js';
import { nodeIntAttribute } from '../../src/onnx/model.js';
import { tensorRtGraph } from '../../src/onnx/placement.js';
import { createSession, loadOnnxRuntime } from '../../src/calibrate/onnxruntime.js';
import { mulberry32 } from '../../examples/fashion-mnist/dataset.js';
import { loadFashionData } from '../../test/tensorrt/gpu/lib/fashion.js';
import { engineLayerPrecisions, layerSummary, type LayerPrecisionCounts } from '../../test/tensorrt/gpu/lib/layers.js';
import { fasterInFp16 } from '../../test/tensorrt/gpu/lib/profiles.js';
import { loadOcrImages, mapAgreement, ocrModelAtOpset13 } from '../../test/tensorrt/gpu/lib/ocr.js';
import { DEFAULT_PATHS, scratchDir } from '../../test/tensorrt/gpu/lib/paths.js';
import { describeError, resultPath, runEnvironment, splitList, tensorRTFound, writeJson, exitWith } from '../../test/tensorrt/gpu/lib/rows.js';
import { agreement, argmaxRows, ratio, seconds, summarizeLatency, type LatencySummary } from '../../test/tensorrt/gpu/lib/stats.js';

/**
 * Variants. fp32 / fp16: plain builds. best: TensorRT's implicit INT8 + FP16 with its own EntropyCalibrator2.
 * best-cache: the same build with our default ('auto') ranges for every activation handed to TensorRT as its
 * calibration cache (int8Route 'cache'). qdq / qdq-placed: our default ranges as Q/DQ nodes ('layer-inputs' /
 * 'tensorrt' placement), FP16 allowed elsewhere (kINT8 + kFP16). qdq-placed-fp16: 'tensorrt' placement, the rest of
 * the model converted to FP16 (convertToFp16), built strongly typed: the route TensorRT 11 takes.
 * qdq-placed-floatstem: 'tensorrt' placement with the convolutions that read a graph input with fewer than
 * DEFAULT_MIN_CHANNELS input channels kept in float, as the placement measured on 2026-11-30 did: the effect of the
 * stem rule, in the same run. qdq-placed-as-best: 'tensorrt' placement with the weighted layers that the 'best' engine
 * of the same run did not put in INT8 kept in float (TensorRT's own timing decides where INT8 pays); needs 'best'
 * earlier in --variants. qdq-placed-as-faster: 'tensorrt' placement with the weighted layers kept in float whose
 * profiled time in the 'fp16' engine of the same run is under FASTER_IN_FP16 (lib/profiles.ts) of their time in the 'qdq-placed'
 * engine (the per-layer choice TensorRT's implicit INT8 makes by timing, made here from the two profiles); needs
 * 'fp16' and 'qdq-placed' earlier in --variants. qdq-placed-fused: 'tensorrt' placement with `fusedEpilogues` on every
 * dense convolution (their pointwise ops stay in their epilogue: rule 6 before 2026-11-30's seventh lease).
 * qdq-placed-min1: 'tensorrt' placement with minChannels 1 (no layer too small for INT8). fp16-rewritten /
 * best-rewritten: fp16 / best on the graph the 'tensorrt' placement plans on (tensorRtGraph: affines folded, small
 * upsampling transposed convolutions as Conv + DepthToSpace), to tell what those rewrites are worth to the baselines.
 */
const VARIANTS = ['fp32', 'fp16', 'best', 'fp16-rewritten', 'best-rewritten', 'best-cache', 'qdq', 'qdq-placed', 'qdq-placed-fp16', 'qdq-placed-floatstem', 'qdq-placed-as-best', 'qdq-placed-as-faster', 'qdq-placed-fused', 'qdq-placed-min1'] as const;
type Variant = (typeof VARIANTS)[number];
const DEFAULT_VARIANTS: readonly Variant[] = ['fp16', 'best', 'best-cache', 'qdq', 'qdq-placed', 'qdq-placed-fp16'];

interface Sample {
  readonly data: Float32Array;
  /** With the batch dimension. */
  readonly shape: readonly number[];
}

interface BenchModel {
  readonly name: string;
  readonly onnx: () => Promise<OnnxModel>;
  readonly input: string;
  /** One sample's shape, without the batch dimension. */
  readonly sample: readonly number[];
  readonly calibrationBatch: number;
  /** Calibration batches of exactly calibrationBatch samples. */
  readonly calibration: () => Promise<Sample[]>;
  /** Evaluation batches (any batch size within the profile). */
  readonly evaluation: () => Promise<Sample[]>;
  readonly compare: (reference: Float32Array[], other: Float32Array[]) => Record<string, number>;
  readonly inputs: string;
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/** Smooth, image-like tensors: per channel three sinusoids of random frequency and phase plus noise, normalised. */
function structuredImages(count: number, size: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  const u = () => next() / 2 ** 32;
  const out = new Float32Array(count * 3 * size * size);
  for (let n = 0; n < count; n++) {
    for (let c = 0; c < 3; c++) {
      const waves = Array.from({ length: 3 }, () => ({ fx: u() * 8, fy: u() * 8, phase: u() * 6.283, amp: 0.1 + u() * 0.25 }));
      const base = 0.2 + u() * 0.6;
      const offset = (n * 3 + c) * size * size;
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          let v = base + (u() - 0.5) * 0.1;
          for (const w of waves) v += w.amp * Math.sin((w.fx * x + w.fy * y) / size * 6.283 + w.phase);
          out[offset + y * size + x] = (Math.min(1, Math.max(0, v)) - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!;
        }
      }
    }
  }
  return out;
}

/** Splits [count, ...sample] data into batches of `batch` samples (the last may be smaller unless `full`). */
function batchesOf(data: Float32Array, sample: readonly number[], batch: number, full = false): Sample[] {
  const size = sample.reduce((a, b) => a * b, 1);
  const count = data.length / size;
  const out: Sample[] = [];
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    if (full && n < batch) break;
    out.push({ data: data.subarray(start * size, (start + n) * size), shape: [n, ...sample] });
  }
  return out;
}

function top1(reference: Float32Array[], other: Float32Array[], classes: number): Record<string, number> {
  const a = reference.flatMap((r) => [...argmaxRows(r, classes)]);
  const b = other.flatMap((r) => [...argmaxRows(r, classes)]);
  let dot = 0;
  let na = 0;
  let nb = 0;
  reference.forEach((r, k) => r.forEach((v, i) => {
    const w = other[k]![i]!;
    dot += v * w;
    na += v * v;
    nb += w * w;
  }));
  return { top1Agreement: agreement(a, b), outputCosine: dot / Math.sqrt(na * nb || 1) };
}

/**
 * Synthetic calibration images per ImageNet model: 4 batches of 8. calibrate() on the CPU collects every
 * activation of ResNet-50 for each batch, so more images cost device minutes and change no latency.
 */
const IMAGENET_CALIBRATION_IMAGES = 32;
/**
 * Synthetic evaluation images per ImageNet model. With random weights the top logits of many inputs are nearly tied,
 * so top-1 agreement moves by whole inputs: 64 left one input (1.6 points) between implicit INT8 and Q/DQ on
 * ResNet-50 (2026-11-30). 256 resolve 0.4 points; the output cosine is reported beside it.
 */
const IMAGENET_EVALUATION_IMAGES = 256;

function imagenetModel(name: string, seed: number): BenchModel {
  const sample = [3, 224, 224];
  return {
    name,
    onnx: () => OnnxModel.load(path.join(DEFAULT_PATHS.exportedModels(), `${name}.onnx`)),
    input: 'input',
    sample,
    calibrationBatch: 8,
    calibration: async () => batchesOf(structuredImages(IMAGENET_CALIBRATION_IMAGES, 224, seed), sample, 8, true),
    evaluation: async () => batchesOf(structuredImages(IMAGENET_EVALUATION_IMAGES, 224, seed + 1), sample, 32),
    compare: (r, o) => top1(r, o, 1000),
    inputs: `random weights; synthetic structured images (${IMAGENET_CALIBRATION_IMAGES} calibration, ${IMAGENET_EVALUATION_IMAGES} evaluation)`,
  };
}

function buildModels(): Record<string, BenchModel> {
  const fashionSample = [1, 28, 28];
  const ocrSample = [3, 640, 640];
  return {
    resnet50: imagenetModel('resnet50', 50),
    mobilenetv3: imagenetModel('mobilenetv3', 3),
    ppocr: {
      name: 'ppocr',
      onnx: async () => ocrModelAtOpset13(await OnnxModel.load(DEFAULT_PATHS.ocrModel())),
      input: 'x',
      sample: ocrSample,
      calibrationBatch: 8,
      calibration: async () => {
        const images = await loadOcrImages(DEFAULT_PATHS.ocrPhotos(), 'calibration', { fixed: { width: 640, height: 640 } });
        const all = new Float32Array(images.length * 3 * 640 * 640);
        images.forEach((img, i) => all.set(img.data, i * img.data.length));
        return batchesOf(all, ocrSample, 8, true);
      },
      evaluation: async () => (await loadOcrImages(DEFAULT_PATHS.ocrPhotos(), 'held-out', { fixed: { width: 640, height: 640 } })).map((i) => ({ data: i.data, shape: i.shape })),
      compare: (r, o) => {
        const m = mapAgreement(r, o);
        return { mapIoU: m.iou, meanAbsDiff: m.meanAbsDiff };
      },
      inputs: 'real photos (setup:ocr) stretched to 640x640: 24 calibration, 8 held-out',
    },
    fashion: {
      name: 'fashion',
      onnx: () => OnnxModel.load(DEFAULT_PATHS.fashionModel),
      input: 'input',
      sample: fashionSample,
      calibrationBatch: 32,
      calibration: async () => batchesOf((await loadFashionData(DEFAULT_PATHS.fashionData())).calibration, fashionSample, 32, true),
      evaluation: async () => batchesOf((await loadFashionData(DEFAULT_PATHS.fashionData())).test.images, fashionSample, 32),
      compare: (r, o) => top1(r, o, 10),
      inputs: 'real Fashion-MNIST: 1,024 calibration images, 10,000 test images',
    },
  };
}

interface VariantResult {
  readonly variant: Variant;
  readonly buildSeconds?: number;
  readonly engineBytes?: number;
  readonly layers?: LayerPrecisionCounts;
  readonly latency?: Record<string, LatencySummary & { readonly cudaGraph: boolean }>;
  readonly vsFp32?: Record<string, number>;
  /** Where the largest batch's GPU time goes, by TensorRT's per-layer profiler. */
  readonly profile?: LayerProfile | { readonly error: Record<string, unknown> };
  readonly error?: Record<string, unknown>;
}

interface LayerProfile {
  readonly batch: number;
  readonly runs: number;
  /** Sum of the layers' mean times (the profiled runs are synchronous: this is not the timed latency). */
  readonly totalMs: number;
  /** Milliseconds by kind: reformat layers apart, the others by the precision the inspector gives them. */
  readonly msByKind: Record<string, number>;
  readonly slowest: readonly { readonly name: string; readonly kind: string; readonly ms: number }[];
  readonly layers: readonly { readonly name: string; readonly ms: number }[];
}

/** Reformats (TensorRT's copies between formats or precisions, "Reformat" / "NoOp" layers) or the layer's precision. */
function layerKind(row: { type: string; precision: string } | undefined): string {
  if (!row) return 'unknown';
  return row.type === 'Reformat' || row.type === 'NoOp' ? 'reformat' : row.precision;
}

/** TensorRT's per-layer profile of `runs` runs at one batch, summed by kind: where the time goes, and why. */
async function layerProfile(engine: Engine, input: string, batch: Sample, runs: number): Promise<LayerProfile> {
  const { layerTimes = [] } = await engine.infer({ [input]: batch }, { profileRuns: runs });
  const rows = new Map(engine.layerPrecisions().layers.map((row) => [row.name, row]));
  const msByKind: Record<string, number> = {};
  const kinds = layerTimes.map((layer) => layerKind(rows.get(layer.name)));
  layerTimes.forEach((layer, i) => (msByKind[kinds[i]!] = (msByKind[kinds[i]!] ?? 0) + layer.ms));
  const slowest = layerTimes.map((layer, i) => ({ name: layer.name, kind: kinds[i]!, ms: layer.ms })).sort((a, b) => b.ms - a.ms).slice(0, 10);
  const totalMs = layerTimes.reduce((sum, layer) => sum + layer.ms, 0);
  return { batch: batch.shape[0]!, runs, totalMs, msByKind, slowest, layers: layerTimes };
}

function profileSummary(p: LayerProfile): string {
  const kinds = Object.entries(p.msByKind).sort((a, b) => b[1] - a[1]).map(([k, ms]) => `${k} ${ms.toFixed(3)}`);
  return `profile batch${p.batch}: ${p.totalMs.toFixed(3)} ms = ${kinds.join(' + ')}; slowest ${p.slowest.slice(0, 3).map((l) => `${l.kind} ${l.ms.toFixed(3)} ${l.name.slice(0, 60)}`).join('; ')}`;
}

async function outputsOf(engine: Engine, inputs: readonly Sample[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const s of inputs) out.push((await engine.infer({ [engine.inputs[0]!.name]: s })).outputs[engine.outputs[0]!.name]!.data as Float32Array);
  return out;
}

/** A batch of n samples for timing: the first evaluation samples, repeated if there are fewer than n. */
function timingBatch(inputs: readonly Sample[], sample: readonly number[], n: number): Sample {
  const size = sample.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n * size);
  const pool = inputs.flatMap((s) => Array.from({ length: s.shape[0]! }, (_, i) => s.data.subarray(i * size, (i + 1) * size)));
  for (let i = 0; i < n; i++) data.set(pool[i % pool.length]!, i * size);
  return { data, shape: [n, ...sample] };
}

interface Settings {
  readonly level: number;
  readonly batches: readonly number[];
  readonly warmup: number;
  readonly repeat: number;
  readonly timingCache: string;
  /** Runs under TensorRT's per-layer profiler at the largest batch (0: none). */
  readonly profileRuns: number;
}

/** The ONNX bytes and build options of one variant (Q/DQ variants use our ranges, computed once on the CPU). */
const weightedOps = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

/** Convolutions that read a graph input and have fewer than DEFAULT_MIN_CHANNELS input channels (a stem). */
function floatStem(model: OnnxModel): (node: OnnxNode) => boolean {
  const inputs = model.inputNames();
  // By name, from the model given: the placement calls the predicate on a copy whose folded weights may be renamed.
  const stem = new Set(
    model.nodes
      .filter((node) => {
        if (node.opType !== 'Conv' || !inputs.has(node.inputs[0] ?? '')) return false;
        const perGroup = model.constantTensor(node.inputs[1] ?? '')?.dims[1];
        return perGroup !== undefined && perGroup * nodeIntAttribute(node, 'group', 1) < DEFAULT_MIN_CHANNELS;
      })
      .map((node) => node.name),
  );
  return (node) => stem.has(node.name);
}

/** A variant's layer profile from earlier in the run, or an error saying which variant must come first. */
function profileOf(earlier: readonly VariantResult[], variant: Variant, needed: Variant): LayerProfile {
  const profile = earlier.find((r) => r.variant === variant)?.profile;
  if (!profile || 'error' in profile) throw new Error(`${needed} needs the '${variant}' variant profiled earlier in the same run (list it before it in --variants, --profile-runs > 0)${profile ? `; its profile failed: ${JSON.stringify(profile.error)}` : ''}`);
  return profile;
}

/** The ONNX node names inside an engine's INT8 layers (a fused layer is named by its nodes joined with ' + '). */
function int8NodeNames(int8Layers: readonly string[]): Set<string> {
  return new Set(int8Layers.flatMap((layer) => layer.split(' + ').map((name) => name.trim())));
}

async function variantBuild(variant: Variant, model: OnnxModel, spec: BenchModel, calibration: Sample[], ours: () => Promise<CalibrationResult>, earlier: readonly VariantResult[]): Promise<{ onnx: Uint8Array; options: BuildEngineOptions }> {
  const bestInt8Layers = earlier.find((r) => r.variant === 'best')?.layers?.int8Layers;
  const plain = model.toBytes();
  const batches = () => calibration.map((s): Batch => ({ [spec.input]: s }));
  const calibrationProfile = { [spec.input]: [spec.calibrationBatch, ...spec.sample] };
  switch (variant) {
    case 'fp32':
    case 'fp16':
      return { onnx: plain, options: { precision: variant as Precision } };
    case 'best':
      return { onnx: plain, options: { precision: 'best', calibrator: calibratorFromBatches(batches(), { algorithm: 'entropy2' }), calibrationProfile } };
    case 'fp16-rewritten':
      return { onnx: tensorRtGraph(model, {}).model.toBytes(), options: { precision: 'fp16' } };
    case 'best-rewritten':
      return { onnx: tensorRtGraph(model, {}).model.toBytes(), options: { precision: 'best', calibrator: calibratorFromBatches(batches(), { algorithm: 'entropy2' }), calibrationProfile } };
    case 'best-cache': {
      // The ranges computed once for all variants, served as the calibrator's cache (all-zero tensors get the smallest
      // scale, as every cache of calibrate() does).
      const bytes = new TextEncoder().encode((await ours()).toTensorRTCache('10.6.0', { algorithm: 'entropy2' }));
      const calibrator = new (class extends Calibrator {
        getBatch(): null {
          return null;
        }
        override async readCache(): Promise<Uint8Array> {
          return bytes;
        }
        override async writeCache(): Promise<void> {}
      })();
      return { onnx: plain, options: { precision: 'best', calibrator, int8Route: 'cache', calibrationProfile } };
    }
    case 'qdq':
      return { onnx: insertQdq(model, { amax: (await ours()).amax() }).toBytes(), options: { precision: 'best' } };
    case 'qdq-placed':
      return { onnx: insertQdq(model, { amax: (await ours()).amax(), placement: 'tensorrt' }).toBytes(), options: { precision: 'best' } };
    case 'qdq-placed-floatstem':
      return { onnx: insertQdq(model, { amax: (await ours()).amax(), placement: 'tensorrt', exclude: floatStem(model) }).toBytes(), options: { precision: 'best' } };
    case 'qdq-placed-as-best': {
      if (!bestInt8Layers) throw new Error("qdq-placed-as-best needs the 'best' variant built earlier in the same run (list it before it in --variants)");
      const int8 = int8NodeNames(bestInt8Layers);
      const exclude = (node: OnnxNode) => weightedOps.has(node.opType) && !int8.has(node.name);
      return { onnx: insertQdq(model, { amax: (await ours()).amax(), placement: 'tensorrt', exclude }).toBytes(), options: { precision: 'best' } };
    }
    case 'qdq-placed-as-faster': {
      const faster = fasterInFp16(model, profileOf(earlier, 'fp16', variant), profileOf(earlier, 'qdq-placed', variant));
      console.log(`   qdq-placed-as-faster: ${faster.size} weighted layers faster in FP16 kept in float: ${[...faster].join(', ')}`);
      return { onnx: insertQdq(model, { amax: (await ours()).amax(), placement: 'tensorrt', exclude: (node) => faster.has(node.name) }).toBytes(), options: { precision: 'best' } };
    }
    case 'qdq-placed-min1':
      return { onnx: insertQdq(model, { amax: (await ours()).amax(), placement: 'tensorrt', minChannels: 1 }).toBytes(), options: { precision: 'best' } };
    case 'qdq-placed-fused':
      return { onnx: insertQdq(model, { amax: (await ours()).amax(), placement: 'tensorrt', fusedEpilogues: { opTypes: ['Conv'] } }).toBytes(), options: { precision: 'best' } };
    case 'qdq-placed-fp16': {
      const qdq = insertQdq(model, { amax: (await ours()).amax(), placement: 'tensorrt' });
      return { onnx: convertToFp16(qdq).model.toBytes(), options: { precision: 'int8', stronglyTyped: true } };
    }
  }
}

/** FP32 reference outputs from onnxruntime on the CPU, so no device time goes into an FP32 engine. */
async function onnxruntimeOutputs(model: OnnxModel, spec: BenchModel, inputs: readonly Sample[]): Promise<Float32Array[]> {
  const ort = loadOnnxRuntime();
  const session = await createSession(ort, model.toBytes(), ['cpu'], spec.name);
  try {
    const out: Float32Array[] = [];
    for (const s of inputs) {
      const result = await session.run({ [spec.input]: new ort.Tensor('float32', s.data, s.shape) });
      out.push(Float32Array.from(result[session.outputNames[0]!]!.data as Float32Array));
    }
    return out;
  } finally {
    await session.release();
  }
}

async function benchVariant(variant: Variant, model: OnnxModel, spec: BenchModel, settings: Settings, data: { calibration: Sample[]; evaluation: Sample[]; reference?: Float32Array[]; earlier: readonly VariantResult[] }, ours: () => Promise<CalibrationResult>): Promise<{ result: VariantResult; outputs?: Float32Array[] }> {
  const { onnx, options } = await variantBuild(variant, model, spec, data.calibration, ours, data.earlier);
  const maxBatch = Math.max(...settings.batches, ...data.evaluation.map((s) => s.shape[0]!));
  const started = performance.now();
  using engine = await buildEngine(onnx, {
    ...options,
    profiles: [{ [spec.input]: { min: [1, ...spec.sample], opt: [maxBatch, ...spec.sample], max: [maxBatch, ...spec.sample] } }],
    builderOptimizationLevel: settings.level,
    timingCache: settings.timingCache,
    logger: { error: (m) => console.error(`   [TRT error] ${m}`) },
  });
  const buildSeconds = seconds(started);
  const latency: Record<string, LatencySummary & { cudaGraph: boolean }> = {};
  for (const n of settings.batches) {
    const { gpuMs, cudaGraph } = await engine.infer({ [spec.input]: timingBatch(data.evaluation, spec.sample, n) }, { warmup: settings.warmup, repeat: settings.repeat, cudaGraph: true });
    latency[`batch${n}`] = { ...summarizeLatency(gpuMs), cudaGraph };
  }
  const outputs = await outputsOf(engine, data.evaluation);
  const largest = Math.max(...settings.batches);
  let profile: VariantResult['profile'];
  if (settings.profileRuns > 0) {
    // A profiler failure costs the profile, not the variant's latency and accuracy.
    profile = await layerProfile(engine, spec.input, timingBatch(data.evaluation, spec.sample, largest), settings.profileRuns).catch((error: unknown) => ({ error: describeError(error) }));
    console.log(`   ${variant.padEnd(10)} ${'error' in profile ? `profile FAILED: ${JSON.stringify(profile.error)}` : profileSummary(profile)}`);
  }
  const result: VariantResult = {
    variant,
    buildSeconds,
    engineBytes: engine.serialize().byteLength,
    layers: engineLayerPrecisions(engine),
    latency,
    ...(data.reference ? { vsFp32: spec.compare(data.reference, outputs) } : {}),
    ...(profile ? { profile } : {}),
  };
  return { result, outputs };
}

async function benchModel(spec: BenchModel, variants: readonly Variant[], settings: Settings, save: (partial: Record<string, unknown>) => Promise<void>): Promise<Record<string, unknown>> {
  console.log(`\n== ${spec.name} (${spec.inputs})`);
  const model = await spec.onnx();
  const calibration = await spec.calibration();
  const evaluation = await spec.evaluation();
  let computed: Promise<CalibrationResult> | undefined;
  // The library's default ranges ('auto') for every activation, computed once and shared by the variants.
  const ours = () =>
    (computed ??= (async () => {
      const started = performance.now();
      const result = await calibrate(model, calibratorFromBatches(calibration.map((s): Batch => ({ [spec.input]: s }))), { tensors: model.floatActivationNames() });
      console.log(`   calibrate() on the CPU: ${seconds(started)} s, ${result.tensors.size} tensors`);
      return result;
    })());
  const results: VariantResult[] = [];
  let reference: Float32Array[] | undefined;
  if (!variants.includes('fp32')) {
    const started = performance.now();
    reference = await onnxruntimeOutputs(model, spec, evaluation);
    console.log(`   FP32 reference: onnxruntime on the CPU, ${seconds(started)} s`);
  }
  // FP32 first: every other variant is compared with it.
  const ordered = [...variants].sort((a, b) => Number(b === 'fp32') - Number(a === 'fp32'));
  for (const variant of ordered) {
    try {
      const { result, outputs } = await benchVariant(variant, model, spec, settings, { calibration, evaluation, ...(reference ? { reference } : {}), earlier: results }, ours);
      if (variant === 'fp32') reference = outputs;
      results.push(result);
      const lat = Object.entries(result.latency ?? {}).map(([b, l]) => `${b} ${l.medianMs.toFixed(3)}/${l.p90Ms.toFixed(3)} ms`).join(', ');
      console.log(`   ${variant.padEnd(10)} build ${result.buildSeconds} s, ${(result.engineBytes! / 1e6).toFixed(1)} MB, ${layerSummary(result.layers!)}, ${lat} (median/p90)${result.vsFp32 ? `, vs fp32 ${JSON.stringify(result.vsFp32)}` : ''}`);
    } catch (error) {
      results.push({ variant, error: describeError(error) });
      console.log(`   ${variant.padEnd(10)} FAILED: ${JSON.stringify(describeError(error))}`);
    }
    // After every variant: a command that runs out of time still leaves what it measured.
    await save({ model: spec.name, inputs: spec.inputs, variants: results, partial: true });
  }
  return { model: spec.name, inputs: spec.inputs, variants: results, ratios: ratios(results, settings.batches) };
}

/** Each INT8 variant's median GPU latency over implicit INT8 ('best') and over FP16, per batch size. */
function ratios(results: readonly VariantResult[], batches: readonly number[]): Record<string, Record<string, number | null>> {
  const median = (v: Variant, b: number) => results.find((r) => r.variant === v)?.latency?.[`batch${b}`]?.medianMs;
  const out: Record<string, Record<string, number | null>> = {};
  for (const b of batches) {
    const row: Record<string, number | null> = {};
    for (const v of ['best', 'fp16-rewritten', 'best-rewritten', 'best-cache', 'qdq', 'qdq-placed', 'qdq-placed-fp16', 'qdq-placed-floatstem', 'qdq-placed-as-best', 'qdq-placed-as-faster', 'qdq-placed-fused', 'qdq-placed-min1'] as const) {
      if (v !== 'best') row[`${v}/best`] = ratio(median(v, b), median('best', b));
      row[`${v}/fp16`] = ratio(median(v, b), median('fp16', b));
    }
    out[`batch${b}`] = row;
  }
  return out;
}

/**
 * --prepare-only: everything before TensorRT (inputs, calibrate() on the CPU, insertQdq for each Q/DQ variant),
 * so the CPU half can be checked where there is no GPU, and on the GPU machine before builds take device time.
 */
async function prepareOnly(spec: BenchModel, variants: readonly Variant[]): Promise<Record<string, unknown>> {
  const started = performance.now();
  const model = await spec.onnx();
  const calibration = await spec.calibration();
  const evaluation = await spec.evaluation();
  const result = await calibrate(model, calibratorFromBatches(calibration.map((s): Batch => ({ [spec.input]: s }))), { tensors: model.floatActivationNames() });
  const ours = async () => result;
  const quantizeNodes: Record<string, number> = {};
  // qdq-placed-as-best / -as-faster need earlier engines' layers: nothing to prepare without TensorRT.
  const needsEngines = (v: Variant) => v.startsWith('qdq-placed-as-');
  for (const variant of variants.filter((v) => (v.startsWith('qdq') && !needsEngines(v)) || v === 'best-cache')) {
    const { onnx } = await variantBuild(variant, model, spec, calibration, ours, []);
    quantizeNodes[variant] = OnnxModel.fromBytes(onnx).nodes.filter((n) => n.opType === 'QuantizeLinear').length;
  }
  const reference = await onnxruntimeOutputs(model, spec, evaluation.slice(0, 1));
  const summary = { model: spec.name, calibrationBatches: calibration.length, evaluationBatches: evaluation.length, calibratedTensors: result.tensors.size, quantizeNodes, referenceOutputs: reference[0]!.length, seconds: seconds(started) };
  console.log(JSON.stringify(summary));
  return summary;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'resnet50,mobilenetv3,ppocr,fashion' },
      variants: { type: 'string', default: DEFAULT_VARIANTS.join(',') },
      level: { type: 'string', default: '3' },
      batches: { type: 'string', default: '1,32' },
      warmup: { type: 'string', default: '20' },
      repeat: { type: 'string', default: '100' },
      'profile-runs': { type: 'string', default: '10' },
      out: { type: 'string' },
      'prepare-only': { type: 'boolean', default: false },
    },
  });
  const models = buildModels();
  const names = splitList(values.model);
  const unknownModels = names.filter((n) => !(n in models));
  const variants = splitList(values.variants) as Variant[];
  const unknownVariants = variants.filter((v) => !VARIANTS.includes(v));
  if (unknownModels.length || unknownVariants.length) {
    console.error(`unknown ${unknownModels.length ? `model(s) ${unknownModels.join(', ')} (known: ${Object.keys(models).join(', ')})` : `variant(s) ${unknownVariants.join(', ')} (known: ${VARIANTS.join(', ')})`}`);
    return 2;
  }
  const out = resultPath(values.out, `qdq-speed-${names.join('-')}.json`);
  if (values['prepare-only']) {
    const prepared = [];
    for (const name of names) prepared.push(await prepareOnly(models[name]!, variants));
    await writeJson(out, { environment: runEnvironment(), prepareOnly: true, models: prepared });
    return 0;
  }
  if (!(await tensorRTFound(out))) return 2;
  const settings: Settings = {
    level: Number(values.level),
    batches: splitList(values.batches).map(Number),
    warmup: Number(values.warmup),
    repeat: Number(values.repeat),
    timingCache: path.join(scratchDir('qdq-speed'), `level${values.level}.timing`),
    profileRuns: Number(values['profile-runs']),
  };
  console.log(`Q/DQ speed: ${names.join(', ')}; variants ${variants.join(', ')}; builderOptimizationLevel ${settings.level}; batches ${settings.batches.join(', ')}; ${settings.warmup} warm-up + ${settings.repeat} timed runs; ${settings.profileRuns} profiled runs`);
  const started = performance.now();
  const results: Record<string, unknown>[] = [];
  for (const name of names) {
    const save = (partial: Record<string, unknown>) => writeJson(out, { environment: runEnvironment(), settings, totalSeconds: seconds(started), models: [...results, partial] });
    const result = await benchModel(models[name]!, variants, settings, save);
    results.push(result);
    console.log(`   ratios (median GPU ms): ${JSON.stringify(result.ratios)}`);
    // Written after every model, so a command that runs out of time still leaves the models it finished.
    await writeJson(out, { environment: runEnvironment(), settings, totalSeconds: seconds(started), models: results });
  }
  console.log(`\nwrote ${out} (${seconds(started)} s)`);
  return 0;
}

exitWith(main);
