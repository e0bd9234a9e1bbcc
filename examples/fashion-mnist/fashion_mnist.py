"""Fashion-MNIST for the trt-int8 example, the Python side (train.py, ort_quantize_static.py, bench/calibrate).

The TypeScript side (idx.ts, dataset.ts) implements the same three rules; keep them in step:
  1. IDX files, gzip-compressed as the Debian package ships them (`npm run setup:example`).
  2. Normalisation: x = (pixel / 255 - MEAN) / STD, float32, NCHW [N, 1, 28, 28].
  3. Calibration selection: the first N indices of a Fisher-Yates shuffle of range(60000) driven by
     mulberry32(seed); j = (u32 * (i + 1)) >> 32 for i from count-1 down to 1. Default seed 0, N 1024
     (32 batches of 32: onnxruntime's histogram calibrators need every batch the same size).
"""
from __future__ import annotations

import gzip
import os
import struct

import numpy as np

# Mean and standard deviation of the 60,000 training images' pixels scaled to [0, 1].
MEAN = 0.2860
STD = 0.3530
IMAGE_SIZE = 28
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CALIBRATION_SEED = 0
CALIBRATION_COUNT = 1024

_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

DEFAULT_DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

_IDX_DTYPES = {0x08: np.uint8}


def read_idx(path: str) -> np.ndarray:
    """Reads an IDX file (gzip or raw) into an array of its declared shape. Only unsigned bytes are needed here."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic {raw[:4].hex()})")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise ValueError(f"{path}: IDX element type 0x{type_code:02x} is not supported (expected 0x08, unsigned byte)")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    header = 4 + 4 * ndim
    expected = int(np.prod(dims)) if dims else 1
    if len(raw) - header != expected:
        raise ValueError(f"{path}: header says {dims} = {expected} bytes of data, file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def normalize(pixels: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28] as the model expects."""
    x = pixels.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return x.reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE).astype(np.float32, copy=False)


def load_split(split: str, data_dir: str = DEFAULT_DATA_DIR) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 [N,1,28,28] normalised, labels uint8 [N]) of 'train' (60,000) or 'test' (10,000)."""
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    image_file, label_file = (os.path.join(data_dir, name) for name in _FILES[split])
    for path in (image_file, label_file):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} is missing: run `npm run setup:example` first")
    pixels = read_idx(image_file)
    labels = read_idx(label_file)
    if pixels.ndim != 3 or pixels.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or labels.shape != (pixels.shape[0],):
        raise ValueError(f"{split}: images {pixels.shape} and labels {labels.shape} do not match")
    return normalize(pixels), labels.copy()


_M32 = 0xFFFFFFFF


def mulberry32(seed: int):
    """mulberry32 (Tommy Ettinger), written to match the usual JavaScript version bit for bit."""
    state = seed & _M32

    def next_u32() -> int:
        nonlocal state
        state = (state + 0x6D2B79F5) & _M32
        t = ((state ^ (state >> 15)) * (state | 1)) & _M32
        t = ((t + (((t ^ (t >> 7)) * (t | 61)) & _M32)) & _M32) ^ t
        return (t ^ (t >> 14)) & _M32

    return next_u32


def shuffled_indices(count: int, seed: int) -> np.ndarray:
    """Fisher-Yates permutation of range(count); integer arithmetic only, so every language agrees."""
    order = list(range(count))
    rand = mulberry32(seed)
    for i in range(count - 1, 0, -1):
        j = (rand() * (i + 1)) >> 32
        order[i], order[j] = order[j], order[i]
    return np.asarray(order, dtype=np.int64)


def calibration_indices(n: int = CALIBRATION_COUNT, seed: int = CALIBRATION_SEED, count: int = 60000) -> np.ndarray:
    """The training images every calibrator in this example sees: the first n of the seeded shuffle."""
    if not 1 <= n <= count:
        raise ValueError(f"n must be in [1, {count}], got {n}")
    return shuffled_indices(count, seed)[:n]


if __name__ == "__main__":
    # Prints the rule's first indices so the TypeScript implementation can be checked against it.
    import json
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else CALIBRATION_SEED
    print(json.dumps(calibration_indices(n, seed).tolist()))
