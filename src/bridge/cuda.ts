/**
 * CUDA memory for JS: DeviceBuffer (cuMemAlloc) and PinnedBuffer (cuMemHostAlloc), owned by native RAII objects,
 * reported to V8 as external memory, freed by dispose() / `using` or, failing that, by the garbage collector.
 * CUDA is loaded at run time, so these throw ERR_CUDA_UNAVAILABLE (with the driver's reason) where it is missing.
 */
import { TrtInt8Error } from '../core/errors.js';
import { callNative, nativeModule, type NativeDeviceBuffer, type NativePinnedBuffer } from '../native/index.js';

type HostBytes = ArrayBufferView | ArrayBuffer;

function checkByteLength(byteLength: unknown, input: string): number {
  if (typeof byteLength !== 'number' || !Number.isSafeInteger(byteLength) || byteLength < 0) {
    throw new TrtInt8Error('ERR_BAD_OPTION', `${input} must be a non-negative integer number of bytes.`, {
      input,
      expected: 'a non-negative safe integer',
      actual: byteLength,
    });
  }
  return byteLength;
}

function checkOffset(offset: number | undefined, count: number, capacity: number, input: string): number {
  const at = offset === undefined ? 0 : checkByteLength(offset, `${input} byteOffset`);
  if (at + count > capacity) {
    throw new TrtInt8Error('ERR_BAD_OPTION', `${input}: ${count} bytes at offset ${at} do not fit in a ${capacity}-byte buffer.`, {
      input,
      expected: `at most ${capacity - at} bytes`,
      actual: count,
      fixes: ['Pass a smaller view (subarray) or a larger buffer.'],
    });
  }
  return at;
}

function assertLive(buffer: { readonly disposed: boolean }, input: string): void {
  if (buffer.disposed) {
    throw new TrtInt8Error('ERR_BAD_OPTION', `${input}: the buffer was disposed.`, {
      input,
      expected: 'a live buffer',
      actual: 'disposed',
      fixes: ['Keep the buffer until the last copy; dispose() (or `using`) only at the end.'],
    });
  }
}

function byteCount(value: HostBytes | PinnedBuffer, input: string): number {
  if (value instanceof PinnedBuffer) return value.byteLength;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value.byteLength;
  throw new TrtInt8Error('ERR_BAD_OPTION', `${input} expects a TypedArray, DataView, ArrayBuffer or PinnedBuffer.`, {
    input,
    expected: 'TypedArray | DataView | ArrayBuffer | PinnedBuffer',
    actual: value === null ? 'null' : typeof value,
  });
}

/** Page-locked host memory: the source of full-speed (DMA) copies to the GPU. */
export class PinnedBuffer implements Disposable {
  readonly #native: NativePinnedBuffer;

  constructor(byteLength: number, options: { device?: number } = {}) {
    checkByteLength(byteLength, 'PinnedBuffer byteLength');
    const { PinnedBuffer: Native } = nativeModule('cuda');
    this.#native = callNative('PinnedBuffer', () => new Native(byteLength, options.device));
  }

  get byteLength(): number {
    return this.#native.byteLength;
  }
  get disposed(): boolean {
    return this.#native.disposed;
  }
  /** @internal the native object, for DeviceBuffer's DMA path. */
  get native(): NativePinnedBuffer {
    return this.#native;
  }

  /** A zero-copy Uint8Array over the pinned memory (keeps it alive after dispose()), or null where refused. */
  view(): Uint8Array | null {
    const buffer = callNative('PinnedBuffer.view', () => this.#native.arrayBuffer());
    return buffer ? new Uint8Array(buffer) : null;
  }

  copyFrom(source: HostBytes, byteOffset?: number): void {
    assertLive(this, 'PinnedBuffer.copyFrom');
    const count = byteCount(source, 'PinnedBuffer.copyFrom');
    checkOffset(byteOffset, count, this.byteLength, 'PinnedBuffer.copyFrom');
    callNative('PinnedBuffer.copyFrom', () => this.#native.copyFrom(source, byteOffset));
  }

  copyTo(target: HostBytes, byteOffset?: number): void {
    assertLive(this, 'PinnedBuffer.copyTo');
    const count = byteCount(target, 'PinnedBuffer.copyTo');
    checkOffset(byteOffset, count, this.byteLength, 'PinnedBuffer.copyTo');
    callNative('PinnedBuffer.copyTo', () => this.#native.copyTo(target, byteOffset));
  }

  dispose(): void {
    this.#native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * GPU memory. copyFrom/copyTo are synchronous cuMemcpy calls on the calling thread: meant for setup, checks and
 * small transfers; calibration batches reach the GPU on the bridge's own thread instead.
 */
export class DeviceBuffer implements Disposable {
  readonly #native: NativeDeviceBuffer;

  constructor(byteLength: number, options: { device?: number } = {}) {
    checkByteLength(byteLength, 'DeviceBuffer byteLength');
    const { DeviceBuffer: Native } = nativeModule('cuda');
    this.#native = callNative('DeviceBuffer', () => new Native(byteLength, options.device));
  }

  get byteLength(): number {
    return this.#native.byteLength;
  }
  get disposed(): boolean {
    return this.#native.disposed;
  }
  get device(): number {
    return this.#native.device;
  }
  /** The raw CUdeviceptr (0n once disposed). */
  get address(): bigint {
    return this.#native.address;
  }

  /** Host -> device. A PinnedBuffer source is copied by DMA; other memory is staged by the driver. */
  copyFrom(source: HostBytes | PinnedBuffer, byteOffset?: number): void {
    assertLive(this, 'DeviceBuffer.copyFrom');
    const count = byteCount(source, 'DeviceBuffer.copyFrom');
    checkOffset(byteOffset, count, this.byteLength, 'DeviceBuffer.copyFrom');
    const from = source instanceof PinnedBuffer ? source.native : source;
    callNative('DeviceBuffer.copyFrom', () => this.#native.copyFrom(from, byteOffset));
  }

  /** Device -> host, filling all of `target`. */
  copyTo(target: HostBytes | PinnedBuffer, byteOffset?: number): void {
    assertLive(this, 'DeviceBuffer.copyTo');
    const count = byteCount(target, 'DeviceBuffer.copyTo');
    checkOffset(byteOffset, count, this.byteLength, 'DeviceBuffer.copyTo');
    const to = target instanceof PinnedBuffer ? target.native : target;
    callNative('DeviceBuffer.copyTo', () => this.#native.copyTo(to, byteOffset));
  }

  dispose(): void {
    this.#native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
