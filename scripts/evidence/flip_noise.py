"""Is a gap between trt-int8's default and one of onnxruntime's methods more than the noise of the test set?

    python3 scripts/evidence/flip_noise.py --model ppocr-cls --method percentile-99.99 [--work build/evidence]
                                           [--into docs/accuracy-evidence.investigation.json]

Two measurements, on the test inputs of <work>/<model>/ (written by prepare.ts and, for --method, ort_evidence.py),
scored the same way as ort_evidence.py (onnxruntime, CPU):

1. The null spread: trt-int8's default Q/DQ model (and onnxruntime's --method, and trt-int8's percentile reference
   row if prepare.ts wrote it) with EVERY activation scale multiplied by one factor close to 1 (0.99 ... 1.01),
   scored like the others; the mean over the nine (the ranges as chosen, and x each factor) is a comparison of two
   sets of ranges less at the mercy of a few borderline inputs than one score each. A 0.1-1 % change of every range is one no range criterion can tell
   apart (the quantization MSE of a tensor is flat around its optimum, and the candidates 'auto' weighs differ by
   more than that); the spread of the scores is what the test metric does under such immaterial changes. A gap
   between two tools inside it is not evidence for either tool's ranges. Needs only prepare.ts's output.
2. For a labelled classifier, where the accuracy difference comes from: for every Q/DQ model (trt-int8's, and
   onnxruntime's --method if ort_evidence.py wrote it), the inputs whose top-1 differs from FP32's, split into
   "breaks" (FP32 right, INT8 wrong) and "fixes" (FP32 wrong, INT8 right), so that accuracy = FP32's correct -
   breaks + fixes; per label, and the mean shift of the output against FP32's. A quantized model gains accuracy over
   another either by staying closer to FP32 (fewer breaks) or by flipping inputs FP32 gets wrong (fixes), which is
   luck, not fidelity.
Writes <work>/<model>/flip-noise.json (and, with --into, adds it to that JSON file under "flip_noise <model>").
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ort_evidence import ROOT, Work, git_commit, merge_into, primary, score  # noqa: E402

FACTORS = [0.99, 0.995, 0.998, 0.999, 1.001, 1.002, 1.005, 1.01]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=os.path.join(ROOT, "build/evidence"))
    p.add_argument("--model", required=True)
    p.add_argument("--method", default=None, help="onnxruntime's method to compare with (e.g. percentile-99.99), if ort_evidence.py ran")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--into", default=None)
    args = p.parse_args()
    work = Work(os.path.join(args.work, args.model))
    work_dir, manifest, metric, labels = work.dir, work.manifest, work.metric, work.labels
    run, read = work.runner(args.threads), work.read
    fp32 = run(read(manifest["model"]))
    classes = lambda outs: np.concatenate([o.reshape(o.shape[0], -1) for o in outs]).astype(np.float64)  # noqa: E731

    def flips(outs: list[np.ndarray]) -> dict:
        out, ref_out = classes(outs), classes(fp32)
        pred, ref = out.argmax(-1), ref_out.argmax(-1)
        right, ref_right, differs = pred == labels, ref == labels, pred != ref
        per_label = {}
        for c in sorted(set(labels.tolist())):
            m = labels == c
            per_label[str(c)] = {"samples": int(m.sum()), "correct": int(right[m].sum()),
                                 "breaks": int((differs & ref_right & ~right & m).sum()), "fixes": int((differs & ~ref_right & right & m).sum())}
        return {
            "correct": int(right.sum()),
            "differs_from_fp32": int(differs.sum()),
            "breaks": int((differs & ref_right & ~right).sum()),
            "fixes": int((differs & ~ref_right & right).sum()),
            "per_label": per_label if len(per_label) <= 10 else None,
            "mean_output_shift_vs_fp32": [round(float(x), 6) for x in (out - ref_out).mean(0)] if out.shape[1] <= 10 else None,
        }

    models = {"trt-int8 default": read(manifest["trtInt8"]["default"]["qdq"])}
    if args.method:
        models[f"onnxruntime {args.method}"] = read(f"ort-{args.method}.qdq.onnx")
    for label, run_info in manifest["trtInt8"].items():
        if label != "default":
            models[f"trt-int8 {label}"] = read(run_info["qdq"])
    result: dict = {"model": args.model, "metric": metric, **({"method": args.method} if args.method else {})}
    compared = {}
    outputs = {}
    for name, b in models.items():
        outs = outputs[name] = run(b)
        s = score(metric, outs, fp32, labels)
        row = {"primary": primary(metric, s), "scores": s}
        if metric == "classification" and labels is not None:
            row["flips"] = flips(outs)
        compared[name] = row
        print(f"{name}: {primary(metric, s):.4f} {json.dumps(row.get('flips', {}))}", file=sys.stderr)
    result["models"] = compared
    if metric == "classification" and labels is not None:
        ref_right = classes(fp32).argmax(-1) == labels
        result["fp32_correct"] = int(ref_right.sum())
        result["samples"] = int(len(labels))
        if args.method:
            # The inputs exactly one of the two gets right: how sure FP32 itself is of them (its top-class probability).
            ref_out = classes(fp32)
            if not np.allclose(ref_out.sum(-1), 1, atol=1e-3) or (ref_out < 0).any():
                ref_out = np.exp(ref_out - ref_out.max(-1, keepdims=True))
                ref_out /= ref_out.sum(-1, keepdims=True)
            confidence = ref_out.max(-1)
            right = {k: classes(outputs[k]).argmax(-1) == labels for k in ("trt-int8 default", f"onnxruntime {args.method}")}
            discordant = right["trt-int8 default"] != right[f"onnxruntime {args.method}"]
            result["discordant"] = {
                "inputs": int(discordant.sum()),
                "fp32_top_probability_median": float(np.median(confidence[discordant])) if discordant.any() else None,
                "below_0.75": int((confidence[discordant] < 0.75).sum()),
                "all_inputs_below_0.75": int((confidence < 0.75).sum()),
            }
            print(f"inputs exactly one of the two gets right: {json.dumps(result['discordant'])}", file=sys.stderr)

    ranges = json.load(open(os.path.join(work_dir, manifest["trtInt8"]["default"]["ranges"])))["ranges"]
    scale_names = {f"{t}_scale" for t in ranges}  # activation scales; both tools name them <tensor>_scale
    spreads = {}
    for name in [n for n in models if n == "trt-int8 default" or n.startswith("onnxruntime ") or "percentile" in n]:
        base = onnx.load_from_string(models[name])
        null = []
        for factor in FACTORS:
            model = onnx.ModelProto()
            model.CopyFrom(base)
            swapped = 0
            for init in model.graph.initializer:
                if init.name in scale_names:
                    value = numpy_helper.to_array(init).astype(np.float64) * factor
                    init.CopyFrom(numpy_helper.from_array(value.astype(np.float32), init.name))
                    swapped += 1
            if swapped == 0:
                raise RuntimeError(f"{name}: no activation scale named <tensor>_scale")
            outs = run(model.SerializeToString())
            s = score(metric, outs, fp32, labels)
            row = {"factor": factor, "primary": primary(metric, s), "scores": s}
            if "flips" in compared[name]:
                row["flips"] = flips(outs)
            null.append(row)
            print(f"  {name}, every activation range x {factor}: {primary(metric, s):.4f} {json.dumps(row.get('flips', {}))}", file=sys.stderr)
        values = [r["primary"] for r in null] + [compared[name]["primary"]]
        spreads[name] = {"activation_scales": swapped, "rows": null, "primary_min": min(values), "primary_max": max(values), "primary_mean": float(np.mean(values)),
                         "primary_sd": float(np.std(values, ddof=1))}
        print(f"null spread of {name} (its ranges, and x {FACTORS[0]}..{FACTORS[-1]}): {min(values):.4f}..{max(values):.4f}, "
              f"mean {np.mean(values):.4f}, sd {np.std(values, ddof=1):.4f}; as measured {compared[name]['primary']:.4f}", file=sys.stderr)
    result["null_spread"] = {"factors": FACTORS, "models": spreads}
    result["commit"] = git_commit()
    with open(os.path.join(work_dir, "flip-noise.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    if args.into:
        merge_into(args.into, f"flip_noise {args.model}" + (f" {os.path.basename(os.path.normpath(args.work))}" if os.path.basename(os.path.normpath(args.work)) != "evidence" else ""), result)


if __name__ == "__main__":
    main()
