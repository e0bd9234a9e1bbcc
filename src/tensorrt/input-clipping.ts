/**
 * TensorRT's own calibrators pick ranges we cannot change, and EntropyCalibrator2 cuts a normalised image input at its
 * background spike (Fashion-MNIST on an H200: 84.4 % instead of 93.6 %, issue #10). This wrapper lets buildEngine see
 * the graph inputs of the batches the user's calibrator hands TensorRT, and the cache TensorRT writes, so that a range
 * clipping a large share of an input's values is said out loud (the engine's buildWarnings and the logger).
 */
import { Calibrator, wrappedCalibratorOptions } from '../calibrators/calibrator.js';
import { watchInputClipping, type InputClippingWatch } from '../calibrators/input-clipping.js';
import { parseCalibrationCache } from '../cache/calibration-cache.js';
import type { Batch, BatchContext } from '../core/batch.js';

/** Forwards everything to the user's calibrator; records the graph inputs of each batch and the cache TensorRT writes. */
export class ClippingWatchCalibrator extends Calibrator {
  readonly inner: Calibrator;
  readonly #watch: InputClippingWatch;
  #written: Uint8Array | undefined;

  constructor(inner: Calibrator, inputNames: readonly string[]) {
    super(inner.algorithm, wrappedCalibratorOptions(inner));
    this.inner = inner;
    this.#watch = watchInputClipping(inputNames);
  }

  async getBatch(ctx: BatchContext): Promise<Batch | null> {
    const batch = await this.inner.getBatch(ctx);
    if (batch) {
      try {
        this.#watch.observe(batch);
      } catch {
        // A batch the watch cannot read (e.g. device memory) only goes unwatched; the bridge validates it as always.
      }
    }
    return batch;
  }

  override readCache(): Promise<Uint8Array | null> {
    return this.inner.readCache();
  }

  override async writeCache(bytes: Uint8Array): Promise<void> {
    this.#written = bytes;
    await this.inner.writeCache(bytes);
  }

  override close(): Promise<void> {
    return Promise.resolve(this.inner.close());
  }

  /** The warnings for the cache TensorRT wrote in this build (none when it calibrated nothing or wrote no cache). */
  warnings(): string[] {
    if (!this.#written) return [];
    try {
      return this.#watch.clippingWarnings(parseCalibrationCache(this.#written).scales);
    } catch {
      return []; // a cache we cannot parse is TensorRT's business; the build itself succeeded
    }
  }
}
