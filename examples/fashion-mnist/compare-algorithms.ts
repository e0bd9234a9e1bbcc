/**
 * Compares calibration algorithms (and layer exclusions) on the Fashion-MNIST example; the data behind
 * docs/study-entropy-input-range.md. Each argument is ALGORITHM[:NODE_TO_EXCLUDE...], e.g.
 *
 *   npx tsup examples/fashion-mnist/compare-algorithms.ts --no-config --format esm --shims --target node20 \
 *     --out-dir examples/fashion-mnist/out --silent
 *   node examples/fashion-mnist/out/compare-algorithms.js minmax entropy2 entropy2:/stem1/conv/Conv percentile
 *
 * For each: calibrate on the shared 1,024 training images, write out/compare-<n>.qdq.onnx, evaluate FP32 vs
 * INT8 on the 10,000 test images (outputs only), print one JSON line with accuracies and every tensor's amax.
 */
import path from 'node:path';
import { ALGORITHM_KINDS, calibrate, calibratorFromBatches, evaluate, type AlgorithmKind, type Batch } from '../../src/index.js';
import { EXAMPLE_DIR, IMAGE_SIZE, calibrationIndices, loadFashionMnist } from './dataset.js';

function* batches(images: Float32Array, count: number, size: number): Generator<Batch> {
  for (let start = 0; start < count; start += size) {
    const n = Math.min(size, count - start);
    yield { input: { data: images.subarray(start * IMAGE_SIZE, (start + n) * IMAGE_SIZE), shape: [n, 1, 28, 28] } };
  }
}

async function main(): Promise<void> {
  const specs = process.argv.slice(2);
  if (specs.length === 0) throw new Error('usage: compare-algorithms ALGORITHM[:EXCLUDED_NODE...] ...');
  const modelPath = path.join(EXAMPLE_DIR, 'model.onnx');
  const calibration = await loadFashionMnist('train', { indices: calibrationIndices() });
  const test = await loadFashionMnist('test');
  for (const [n, spec] of specs.entries()) {
    const [algorithm, ...excluded] = spec.split(':') as [AlgorithmKind, ...string[]];
    if (!ALGORITHM_KINDS.includes(algorithm)) throw new Error(`unknown algorithm ${algorithm}: expected one of ${ALGORITHM_KINDS.join(', ')}`);
    const calibrator = calibratorFromBatches(batches(calibration.images, calibration.count, 32), { algorithm });
    const result = await calibrate(modelPath, calibrator, { exclude: { names: excluded } });
    const qdqPath = path.join(EXAMPLE_DIR, 'out', `compare-${n}.qdq.onnx`);
    await result.writeQdqModel(qdqPath);
    const evaluation = await evaluate(modelPath, qdqPath, batches(test.images, test.count, 1000), { labels: test.labels, compareLayers: false });
    console.log(
      JSON.stringify({
        algorithm,
        excluded,
        calibrationSeconds: +result.summary.seconds.toFixed(3),
        fp32Accuracy: evaluation.accuracy!.float,
        int8Accuracy: evaluation.accuracy!.quantized,
        top1Agreement: evaluation.top1Agreement,
        amax: Object.fromEntries([...result.amax()].map(([name, amax]) => [name, +amax.toFixed(3)])),
      }),
    );
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
