"""Which tensor's range makes the difference between trt-int8's default and one of onnxruntime's methods?

    python3 scripts/evidence/swap_ranges.py --model ppocr-cls --method percentile-99.99 [--work build/evidence]

Starts from trt-int8's default Q/DQ model of <work>/<model>/ (written by prepare.ts) and onnxruntime's ranges for
the method (written by ort_evidence.py), and evaluates, on the same test inputs and in the same way as
ort_evidence.py:
  - trt-int8's Q/DQ model with every activation scale set to onnxruntime's range (the placement check: this should
    score as onnxruntime's own Q/DQ model does, if only the ranges differ);
  - trt-int8's Q/DQ model with ONE tensor's scale set to onnxruntime's range, for every calibrated tensor;
  - the same with the tensors grouped by the method 'auto' chose for them.
Prints the tensors whose swap moves the score most, and writes <work>/<model>/swap-<method>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from onnxruntime.quantization.calibrate import load_tensors_data

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ort_evidence import ROOT, Work, git_commit, merge_into, primary, score  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=os.path.join(ROOT, "build/evidence"))
    p.add_argument("--model", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--into", default=None, help="also add the result to this JSON file (e.g. docs/accuracy-evidence.investigation.json)")
    args = p.parse_args()
    work = Work(os.path.join(args.work, args.model))
    work_dir, manifest, metric, labels = work.dir, work.manifest, work.metric, work.labels
    ours = json.load(open(os.path.join(work_dir, manifest["trtInt8"]["default"]["ranges"])))["ranges"]
    theirs = load_tensors_data(os.path.join(work_dir, f"ort-{args.method}.ranges.json")).data
    run = work.runner(args.threads)

    fp32 = run(work.read(manifest["model"]))
    base = onnx.load(os.path.join(work_dir, manifest["trtInt8"]["default"]["qdq"]))
    inits = {i.name: i for i in base.graph.initializer}

    def ort_amax(name: str) -> float:
        lo, hi = theirs[name].range_value
        return float(max(abs(np.ravel(lo)[0]), abs(np.ravel(hi)[0])))

    def variant(swaps: dict[str, float]) -> dict:
        model = onnx.ModelProto()
        model.CopyFrom(base)
        by_name = {i.name: i for i in model.graph.initializer}
        for tensor, amax in swaps.items():
            init = by_name[f"{tensor}_scale"]
            init.CopyFrom(numpy_helper.from_array(np.array(amax / 127, dtype=np.float32), init.name))
        return score(metric, run(model.SerializeToString()), fp32, labels)

    swappable = [t for t in ours if t in theirs and f"{t}_scale" in inits]
    baseline = score(metric, run(base.SerializeToString()), fp32, labels)
    all_swapped = variant({t: ort_amax(t) for t in swappable})
    print(f"trt-int8 default: {primary(metric, baseline):.4f}; with all {len(swappable)} activation ranges from onnxruntime {args.method}: {primary(metric, all_swapped):.4f}", file=sys.stderr)

    rows = []
    for i, t in enumerate(swappable):
        s = variant({t: ort_amax(t)})
        rows.append({"tensor": t, "method": ours[t].get("method"), "trt_int8_amax": ours[t]["amax"], "ort_amax": ort_amax(t),
                     "primary": primary(metric, s), "delta": primary(metric, s) - primary(metric, baseline), **s})
        print(f"  [{i + 1}/{len(swappable)}] {t}: {primary(metric, s):.4f}", file=sys.stderr)
    rows.sort(key=lambda r: -r["delta"])
    groups = {}
    for m in sorted({r["method"] for r in rows if r["method"]}):
        members = [r["tensor"] for r in rows if r["method"] == m]
        groups[m] = {"tensors": len(members), **variant({t: ort_amax(t) for t in members})}
    result = {"model": args.model, "method": args.method, "baseline": baseline, "all_swapped": all_swapped, "by_auto_method": groups, "per_tensor": rows}
    result["commit"] = git_commit()
    if args.into:
        merge_into(args.into, f"swap_ranges {args.model} {args.method}", result)
    out = os.path.join(work_dir, f"swap-{args.method}.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({"baseline": primary(metric, baseline), "all_swapped": primary(metric, all_swapped),
                      "by_auto_method": {k: primary(metric, v) for k, v in groups.items()},
                      "top": [(r["tensor"], r["method"], round(r["trt_int8_amax"], 4), round(r["ort_amax"], 4), round(r["delta"], 4)) for r in rows[:10]],
                      "bottom": [(r["tensor"], r["method"], round(r["delta"], 4)) for r in rows[-5:]]}, indent=1))


if __name__ == "__main__":
    main()
