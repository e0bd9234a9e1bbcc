"""Baseline: INT8 Q/DQ quantization of the example model with onnxruntime's quantize_static.

    python3 examples/fashion-mnist/ort_quantize_static.py     # minmax, entropy, entropy-2048; N=1024, seed 0

Calibrates on the same images as the trt-int8 example (fashion_mnist.calibration_indices: the first N
training images of the seeded shuffle, fed in batches of 32), with TensorRT-style settings: QDQ format,
signed INT8 activations and weights, symmetric ranges, per-channel weights. Then evaluates FP32 and each
INT8 model with onnxruntime (CPU) on the 10,000 test images and prints one JSON object.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry
from onnxruntime.quantization.shape_inference import quant_pre_process

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fashion_mnist  # noqa: E402

# "entropy" is what quantize_static does when asked for Entropy: its histogram has 128 bins and it searches
# thresholds from 128 quantized bins up, so the search has one candidate, the full range (same as MinMax for
# symmetric ranges), and quantize_static offers no option to change that. "entropy-2048" runs onnxruntime's
# EntropyCalibrater itself with TensorRT's 2048 bins / 128 quantized bins and hands the ranges to
# quantize_static through its calibration cache.
METHODS = {
    "minmax": (CalibrationMethod.MinMax, None),
    "entropy": (CalibrationMethod.Entropy, None),
    "entropy-2048": (CalibrationMethod.Entropy, {"num_bins": 2048, "num_quantized_bins": 128}),
}

# TensorRT consumes symmetric signed INT8 (zero point 0); ask onnxruntime for the same.
TENSORRT_STYLE_OPTIONS = {"ActivationSymmetric": True, "WeightSymmetric": True}


class BatchReader(CalibrationDataReader):
    """Feeds [batch, 1, 28, 28] float32 slices of the calibration images, like the TypeScript example."""

    def __init__(self, images: np.ndarray, batch_size: int, input_name: str = "input"):
        self.images = images
        self.batch_size = batch_size
        self.input_name = input_name
        self.position = 0

    def get_next(self):
        if self.position >= len(self.images):
            return None
        batch = self.images[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return {self.input_name: batch}

    def rewind(self):
        self.position = 0

    def __len__(self):
        return (len(self.images) + self.batch_size - 1) // self.batch_size


def calibrate_ranges(model_path: str, reader: CalibrationDataReader, method: CalibrationMethod, calibrator_options: dict,
                     work_dir: str):
    """onnxruntime's calibration as quantize_static runs it (same op types, same model), alone: returns the
    ranges (TensorsData) and the seconds spent in create_calibrator + collect_data + compute_data."""
    op_types = list(set(QLinearOpsRegistry.keys()) | set(QDQRegistry.keys()))
    started = time.perf_counter()
    calibrator = create_calibrator(
        model_path, op_types, augmented_model_path=os.path.join(work_dir, "augmented_model.onnx"),
        calibrate_method=method, extra_options=dict(calibrator_options),
    )
    calibrator.collect_data(reader)
    ranges = calibrator.compute_data()
    seconds = time.perf_counter() - started
    del calibrator
    return ranges, seconds


def predict(model_path: str, images: np.ndarray, threads: int) -> np.ndarray:
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    return np.concatenate(
        [session.run(["logits"], {"input": images[i : i + 1000]})[0].argmax(1) for i in range(0, len(images), 1000)]
    )


def calibration_images(n: int, seed: int, data_dir: str) -> np.ndarray:
    train_images, _ = fashion_mnist.load_split("train", data_dir)
    return np.ascontiguousarray(train_images[fashion_mnist.calibration_indices(n, seed, len(train_images))])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=os.path.join(HERE, "model.onnx"))
    p.add_argument("--data-dir", default=fashion_mnist.DEFAULT_DATA_DIR)
    p.add_argument("--methods", default="minmax,entropy,entropy-2048", help="comma-separated subset of " + ", ".join(METHODS))
    p.add_argument("--calibration-count", type=int, default=fashion_mnist.CALIBRATION_COUNT)
    p.add_argument("--seed", type=int, default=fashion_mnist.CALIBRATION_SEED)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out-dir", default=os.path.join(HERE, "out"), help="where the INT8 models are written")
    p.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads for evaluation (0: default)")
    args = p.parse_args()

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        p.error(f"--methods: expected a comma-separated subset of {sorted(METHODS)}, got {args.methods!r}")

    if args.calibration_count % args.batch_size:
        # onnxruntime's Entropy/Percentile collectors stack all batches into one array and fail on a short last batch.
        p.error(f"--calibration-count ({args.calibration_count}) must be a multiple of --batch-size ({args.batch_size})")
    calib = calibration_images(args.calibration_count, args.seed, args.data_dir)
    test_images, test_labels = fashion_mnist.load_split("test", args.data_dir)
    os.makedirs(args.out_dir, exist_ok=True)

    fp32_preds = predict(args.model, test_images, args.threads)
    fp32_acc = float((fp32_preds == test_labels).mean())
    result = {
        "model": os.path.relpath(args.model),
        "calibration": {"images": len(calib), "seed": args.seed, "batch_size": args.batch_size,
                        "rule": "first N of mulberry32(seed) Fisher-Yates shuffle of the 60,000 training images"},
        "settings": {"quant_format": "QDQ", "activation_type": "QInt8", "weight_type": "QInt8", "per_channel": True,
                     **TENSORRT_STYLE_OPTIONS},
        "test_images": int(len(test_labels)),
        "fp32_accuracy": fp32_acc,
        "onnxruntime": ort.__version__,
        "methods": {},
    }

    # onnxruntime prints calibration progress to stdout: send it to stderr so that stdout is the JSON alone.
    with tempfile.TemporaryDirectory(prefix="fm-ort-") as tmp, contextlib.redirect_stdout(sys.stderr):
        preprocessed = os.path.join(tmp, "model.pre.onnx")
        quant_pre_process(args.model, preprocessed, skip_symbolic_shape=True)
        for method in methods:
            output = os.path.join(args.out_dir, f"fashion-mnist.ort-{method}.qdq.onnx")
            calibrate_method, calibrator_options = METHODS[method]
            cache_path = None
            if calibrator_options is not None:
                ranges, _ = calibrate_ranges(preprocessed, BatchReader(calib, args.batch_size), calibrate_method,
                                             calibrator_options, tmp)
                cache_path = os.path.join(tmp, f"{method}.ranges.json")
                save_tensors_data(ranges, cache_path)
            started = time.perf_counter()
            quantize_static(
                preprocessed, output + ".tmp", BatchReader(calib, args.batch_size),
                quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                calibrate_method=calibrate_method, extra_options=dict(TENSORRT_STYLE_OPTIONS),
                calibration_cache_path=cache_path,
            )
            seconds = time.perf_counter() - started
            os.replace(output + ".tmp", output)
            preds = predict(output, test_images, args.threads)
            acc = float((preds == test_labels).mean())
            result["methods"][method] = {
                "int8_accuracy": acc,
                "drop_points": round((fp32_acc - acc) * 100, 2),
                "top1_agreement": float((preds == fp32_preds).mean()),
                "calibrator": {"method": calibrate_method.name, **(calibrator_options or {"defaults": "quantize_static"})},
                "quantize_static_seconds": round(seconds, 3),
                "output": os.path.relpath(output),
            }
    text = json.dumps(result, indent=2)
    # The example (run.ts) reads this to compare itself with onnxruntime's quantize_static.
    summary_path = os.path.join(args.out_dir, "ort-baseline.json")
    with open(summary_path + ".tmp", "w") as f:
        f.write(text + "\n")
    os.replace(summary_path + ".tmp", summary_path)
    print(text)


if __name__ == "__main__":
    main()
