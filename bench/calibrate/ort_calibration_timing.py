"""The Python half of bench/calibrate: one timed calibration with onnxruntime's own calibrators, in this process.

    python3 bench/calibrate/ort_calibration_timing.py --spec SPEC.json --method minmax|entropy|entropy-2048 \
        [--tensors equal|default]

SPEC.json (written by calibrate-bench.ts) names the model, the raw float32 file of the calibration batches (the very
tensors trt-int8 calibrates on), the batch shape, and trt-int8's tensors to calibrate. --tensors equal calibrates
exactly those tensors (onnxruntime's tensor selection is replaced by that list); --tensors default keeps
onnxruntime's own choice, as quantize_static makes it (inputs and outputs of every quantizable op type).

Timed, as quantize_static runs them: create_calibrator (the model augmented with extra outputs, saved, and its
InferenceSession created: "model loading") + collect_data (the batches run, statistics collected) + compute_data
(ranges). Not timed: reading the batches (np.fromfile before), shape inference of the model (once, before). Prints
one JSON object: the three phases in seconds, their total, the peak resident memory of this process (MiB) and the
number of tensors calibrated. onnxruntime runs with its default thread count on the CPU execution provider.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod
from onnxruntime.quantization.calibrate import CalibraterBase, create_calibrator
from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

METHODS = {
    "minmax": (CalibrationMethod.MinMax, {}),
    # quantize_static's Entropy: 128 bins, 128 quantized bins.
    "entropy": (CalibrationMethod.Entropy, {}),
    # TensorRT's (and trt-int8's) 2048 bins, 128 quantized bins.
    "entropy-2048": (CalibrationMethod.Entropy, {"num_bins": 2048, "num_quantized_bins": 128}),
}


class Batches(CalibrationDataReader):
    def __init__(self, data: np.ndarray, input_name: str):
        self.data = data
        self.input_name = input_name
        self.position = 0

    def get_next(self):
        if self.position >= len(self.data):
            return None
        batch = self.data[self.position]
        self.position += 1
        return {self.input_name: batch}

    def rewind(self):
        self.position = 0


def peak_rss_mib() -> float:
    """VmHWM: this process's peak resident memory since exec (getrusage's maxrss includes the parent's on Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spec", required=True)
    p.add_argument("--method", required=True, choices=sorted(METHODS))
    p.add_argument("--tensors", default="equal", choices=["equal", "default"])
    p.add_argument("--threads", type=int, default=0,
                   help="onnxruntime intra-op threads of the calibrator's session (0: onnxruntime's default, one per core)")
    args = p.parse_args()
    if args.threads > 0:
        # The calibrator builds its own SessionOptions (ORT_DISABLE_ALL); only the thread count is changed here.
        import onnxruntime.quantization.calibrate as calibrate_module
        original_session = calibrate_module.onnxruntime.InferenceSession

        def session_with_threads(model, sess_options=None, **kwargs):
            sess_options = sess_options or ort.SessionOptions()
            sess_options.intra_op_num_threads = args.threads
            return original_session(model, sess_options=sess_options, **kwargs)

        calibrate_module.onnxruntime.InferenceSession = session_with_threads
    with open(args.spec) as f:
        spec = json.load(f)
    batch_shape = spec["batchShape"]
    data = np.fromfile(spec["data"], dtype=np.float32).reshape([spec["batches"], *batch_shape])

    with tempfile.TemporaryDirectory(prefix="bench-ort-") as tmp:
        model_path = os.path.join(tmp, "model.inferred.onnx")
        onnx.save(onnx.shape_inference.infer_shapes(onnx.load(spec["model"])), model_path)
        calibrated = []
        if args.tensors == "equal":
            wanted = set(spec["tensors"])
            original = CalibraterBase.select_tensors_to_calibrate

            def select(self, model):
                _, value_infos = original(self, model)
                tensors = {t for t in wanted if t in value_infos}
                calibrated.append(len(tensors))
                return tensors, value_infos

            CalibraterBase.select_tensors_to_calibrate = select
        method, options = METHODS[args.method]
        op_types = list(set(QLinearOpsRegistry.keys()) | set(QDQRegistry.keys()))
        with contextlib.redirect_stdout(sys.stderr):  # onnxruntime prints progress; stdout is the JSON alone
            started = time.perf_counter()
            cpu_started = time.process_time()
            calibrator = create_calibrator(model_path, op_types, augmented_model_path=os.path.join(tmp, "augmented.onnx"),
                                           calibrate_method=method, extra_options=dict(options))
            loaded = time.perf_counter()
            cpu_loaded = time.process_time()
            calibrator.collect_data(Batches(data, spec["input"]))
            collected = time.perf_counter()
            cpu_collected = time.process_time()
            ranges = calibrator.compute_data()
            computed = time.perf_counter()
            cpu_computed = time.process_time()
        count = len(ranges.data) if hasattr(ranges, "data") else len(ranges)
    print(json.dumps({
        "tool": "onnxruntime-python",
        "onnxruntime": ort.__version__,
        "method": args.method,
        "tensorsMode": args.tensors,
        "tensors": count,
        "tensorsRequested": calibrated[0] if calibrated else None,
        "loadSeconds": loaded - started,
        "collectSeconds": collected - loaded,
        "computeSeconds": computed - collected,
        "totalSeconds": computed - started,
        "threads": args.threads,
        # CPU time of all threads (user + system): onnxruntime's idle threads spin by default, which counts here.
        "cpuSeconds": cpu_computed - cpu_started,
        "collectCpuSeconds": cpu_collected - cpu_loaded,
        "peakRssMiB": peak_rss_mib(),
    }))


if __name__ == "__main__":
    main()
