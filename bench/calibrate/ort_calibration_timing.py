"""The Python half of bench/calibrate: times onnxruntime's own calibrators on the Fashion-MNIST example.

    python3 bench/calibrate/ort_calibration_timing.py --repeats 3 [--methods minmax,entropy,entropy-2048]

What is timed, per run: create_calibrator (augmenting the model with extra outputs, creating the
InferenceSession) + collect_data (running the N calibration images in batches of 32, histogramming) +
compute_data (ranges). That is quantize_static minus its model loading/pre-processing and minus writing the
quantized model. Not timed: reading the images (already in memory as float32), quant_pre_process (done once).
Prints one JSON object: per method, every run's seconds and the median.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile

import onnxruntime as ort
from onnxruntime.quantization.shape_inference import quant_pre_process

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples", "fashion-mnist"))
import fashion_mnist  # noqa: E402
from ort_quantize_static import METHODS, BatchReader, calibrate_ranges, calibration_images  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=os.path.join(ROOT, "examples", "fashion-mnist", "model.onnx"))
    p.add_argument("--data-dir", default=fashion_mnist.DEFAULT_DATA_DIR)
    p.add_argument("--methods", default="minmax,entropy,entropy-2048")
    p.add_argument("--calibration-count", type=int, default=fashion_mnist.CALIBRATION_COUNT)
    p.add_argument("--seed", type=int, default=fashion_mnist.CALIBRATION_SEED)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        p.error(f"--methods: expected a subset of {', '.join(METHODS)}, got {args.methods!r}")
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    if args.calibration_count % args.batch_size:
        p.error("--calibration-count must be a multiple of --batch-size (onnxruntime's histogram collectors need equal batches)")

    images = calibration_images(args.calibration_count, args.seed, args.data_dir)
    result = {
        "onnxruntime": ort.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "images": len(images),
        "batch_size": args.batch_size,
        "timed": "create_calibrator + collect_data + compute_data",
        "methods": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-ort-") as tmp:
        model = os.path.join(tmp, "model.pre.onnx")
        quant_pre_process(args.model, model, skip_symbolic_shape=True)
        for method in methods:
            calibrate_method, options = METHODS[method]
            runs = []
            for _ in range(args.repeats):
                # onnxruntime prints progress to stdout; keep stdout for the JSON result.
                with contextlib.redirect_stdout(sys.stderr):
                    _, seconds = calibrate_ranges(model, BatchReader(images, args.batch_size), calibrate_method, options or {}, tmp)
                runs.append(round(seconds, 4))
            result["methods"][method] = {
                "calibrator": f"{calibrate_method.name}Calibrater",
                "options": options if options is not None else ({} if method == "minmax" else "quantize_static defaults: 128 bins, 128 quantized bins"),
                "runs_seconds": runs,
                "median_seconds": statistics.median(runs),
            }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
