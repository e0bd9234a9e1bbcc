"""Would the model's output error on the CALIBRATION data have picked the better set of ranges?

    python3 scripts/evidence/output_error.py --model ppocr-cls [--work build/evidence]

For every Q/DQ model of <work>/<model>/ (trt-int8's default and entropy2, onnxruntime's methods), measures the
error of the model's output against FP32 on the calibration inputs (mean squared error of the outputs, and for a
classifier top-1 agreement), next to the same on the test inputs and the test score of ort_evidence.py. A
calibration-time selection by output error (issue #10 item 1: "confirm by the model's output error on a few
batches") picks the model with the least calibration output error; this shows whether that choice is also the best
on the test data; the same for a selection by agreement with FP32 on the calibration data (top-1 agreement for a
classifier, mask F1 for the detector). Writes <work>/<model>/output-error.json.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ort_evidence import ROOT, Work, git_commit, merge_into, primary, run_model, score  # noqa: E402


def output_mse(outputs: list[np.ndarray], fp32: list[np.ndarray]) -> float:
    return float(sum(((o.astype(np.float64) - f) ** 2).sum() for o, f in zip(outputs, fp32)) / sum(f.size for f in fp32))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=os.path.join(ROOT, "build/evidence"))
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--into", default=None, help="also add the result to this JSON file (e.g. docs/accuracy-evidence.investigation.json)")
    args = p.parse_args()
    work = Work(os.path.join(args.work, args.model))
    work_dir, manifest, metric, calib, test, labels = work.dir, work.manifest, work.metric, work.calibration, work.test, work.labels
    model_path = os.path.join(work_dir, manifest["model"])
    fp32_calib = run_model(model_path, manifest["input"], calib, args.threads)
    fp32_test = run_model(model_path, manifest["input"], test, args.threads)
    models = {f"trt-int8 {k}": os.path.join(work_dir, v["qdq"]) for k, v in manifest["trtInt8"].items()}
    for f in sorted(glob.glob(os.path.join(work_dir, "ort-*.qdq.onnx"))):
        models["onnxruntime " + os.path.basename(f)[len("ort-"):-len(".qdq.onnx")]] = f
    rows = []
    for name, path in models.items():
        out_calib = run_model(path, manifest["input"], calib, args.threads)
        out_test = run_model(path, manifest["input"], test, args.threads)
        row = {"model": name, "calibration_output_mse": output_mse(out_calib, fp32_calib), "test_output_mse": output_mse(out_test, fp32_test),
               "test_primary": primary(metric, score(metric, out_test, fp32_test, labels))}
        if metric == "classification":
            row["calibration_top1_agreement"] = score(metric, out_calib, fp32_calib, None)["top1_agreement"]
        else:
            row["calibration_f1"] = score(metric, out_calib, fp32_calib, None)["f1"]
        rows.append(row)
        print(f"  {name:30s} " + " ".join(f"{k}={v:.6g}" for k, v in row.items() if k != "model"), file=sys.stderr)
    picked = min(rows, key=lambda r: r["calibration_output_mse"])
    best = max(rows, key=lambda r: r["test_primary"])
    # Agreement with FP32 on the calibration data (top-1, or the detector's mask F1); ties keep the first row, the default.
    agreement_key = "calibration_top1_agreement" if metric == "classification" else "calibration_f1"
    by_agreement = max(rows, key=lambda r: r[agreement_key])
    result = {"model": args.model, "rows": rows, "picked_by_calibration_output_mse": picked["model"], "best_on_test": best["model"],
              "picked_by_calibration_agreement": by_agreement["model"]}
    result["commit"] = git_commit()
    if args.into:
        merge_into(args.into, f"output_error {args.model}", result)
    with open(os.path.join(work_dir, "output-error.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({"picked_by_calibration_output_mse": (picked["model"], picked["test_primary"]),
                      "picked_by_calibration_agreement": (by_agreement["model"], by_agreement["test_primary"]),
                      "best_on_test": (best["model"], best["test_primary"])}))


if __name__ == "__main__":
    main()
