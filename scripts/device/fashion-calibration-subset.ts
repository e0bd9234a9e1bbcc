/**
 * Writes the 1,024 Fashion-MNIST calibration images (examples/fashion-mnist/dataset.ts calibrationIndices(), in
 * that order) as one gzipped IDX file, so the GPU machine gets 0.8 MB instead of the 26 MB training file.
 * test/tensorrt/gpu/lib/fashion.ts reads it back with the same IDX reader.
 *   node fashion-calibration-subset.mjs DATA_DIR OUT_FILE
 */
import { gzipSync } from 'node:zlib';
import { writeFileAtomic } from '../../src/index.js';
import { calibrationIndices } from '../../examples/fashion-mnist/dataset.js';
import { readIdx } from '../../examples/fashion-mnist/idx.js';

const IDX_UNSIGNED_BYTE_3D = [0, 0, 0x08, 3];

async function main(): Promise<void> {
  const [dataDir, outFile] = process.argv.slice(2);
  if (!dataDir || !outFile) throw new Error('usage: fashion-calibration-subset DATA_DIR OUT_FILE');
  const train = await readIdx(`${dataDir}/train-images-idx3-ubyte.gz`);
  const [, rows, cols] = train.dims as [number, number, number];
  const indices = calibrationIndices();
  const header = new DataView(new ArrayBuffer(16));
  IDX_UNSIGNED_BYTE_3D.forEach((b, i) => header.setUint8(i, b));
  [indices.length, rows, cols].forEach((d, i) => header.setUint32(4 + 4 * i, d, false));
  const body = new Uint8Array(indices.length * rows * cols);
  indices.forEach((index, k) => body.set(train.data.subarray(index * rows * cols, (index + 1) * rows * cols), k * rows * cols));
  const bytes = new Uint8Array(16 + body.length);
  bytes.set(new Uint8Array(header.buffer), 0);
  bytes.set(body, 16);
  await writeFileAtomic(outFile, gzipSync(bytes, { level: 9 }));
  console.log(`wrote ${indices.length} calibration images to ${outFile}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
