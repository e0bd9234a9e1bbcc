"""Evidence for issue #10 item 9, the onnxruntime side, and the evaluation of both tools.

    python3 scripts/evidence/ort_evidence.py [--work build/evidence] [--models a,b] [--threads 1]
                                             [--json docs/accuracy-evidence.json] [--markdown docs/accuracy-evidence.md]

Reads what scripts/evidence/prepare.ts wrote per model (<work>/<model>/manifest.json: the FP32 model, the
calibration and test inputs as .npy, the labels, trt-int8's Q/DQ models), then:

1. quantizes the same model with onnxruntime's quantize_static, once per calibration method (MinMax, Entropy with
   its defaults, Entropy with TensorRT's 2048 bins / 128 quantized bins, Percentile 99.999 / 99.99 / 99.9), on the
   same calibration inputs, with TensorRT-style settings: QDQ format, QInt8 activations and weights, symmetric
   (ActivationSymmetric, WeightSymmetric), per-channel weights; the same nodes trt-int8 quantizes
   (nodes_to_quantize), Q/DQ on their inputs only (OpTypesToExcludeOutputQuantization) and no INT32 bias (TensorRT
   places Q/DQ this way, and so does trt-int8): the placement is the same, only the ranges differ;
2. runs the FP32 model and every Q/DQ model (onnxruntime's and trt-int8's) with onnxruntime on the CPU on the same
   test inputs, and scores them the same way: classification -> accuracy against the labels and top-1 agreement with
   FP32; text-map (the detector) -> IoU and F1 of the text masks (p > 0.3) against FP32's, pooled over the images;
3. writes the raw results (JSON) and the table in the markdown file (between the evidence-table markers).

Calibration runs the way quantize_static runs it (create_calibrator, collect_data, compute_data; the ranges then
handed to quantize_static through its calibration cache, which quantize_static offers for this). One difference,
where it must: onnxruntime's histogram calibrators stack all batches into one array, which fails when the
calibration images differ in shape (the detector: each photo at its own size), so there collect_data is called
once per batch; the histograms are merged across calls by onnxruntime's own collector.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import multiprocessing
import os
import platform
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.calibrate import create_calibrator, load_tensors_data, save_tensors_data
from onnxruntime.quantization.shape_inference import quant_pre_process

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# name -> (CalibrationMethod, calibrator options passed to create_calibrator)
METHODS = {
    "minmax": (CalibrationMethod.MinMax, {}),
    "entropy": (CalibrationMethod.Entropy, {}),
    "entropy-2048": (CalibrationMethod.Entropy, {"num_bins": 2048, "num_quantized_bins": 128}),
    "percentile-99.999": (CalibrationMethod.Percentile, {"percentile": 99.999}),
    "percentile-99.99": (CalibrationMethod.Percentile, {"percentile": 99.99}),
    "percentile-99.9": (CalibrationMethod.Percentile, {"percentile": 99.9}),
}

TEXT_THRESHOLD = 0.3
TABLE_START = "<!-- evidence-table:start (written by scripts/evidence/ort_evidence.py) -->"
TABLE_END = "<!-- evidence-table:end -->"


class ListReader(CalibrationDataReader):
    def __init__(self, input_name: str, arrays: list[np.ndarray]):
        self.input_name = input_name
        self.arrays = arrays
        self.position = 0

    def get_next(self):
        if self.position >= len(self.arrays):
            return None
        self.position += 1
        return {self.input_name: self.arrays[self.position - 1]}

    def rewind(self):
        self.position = 0

    def __len__(self):
        return len(self.arrays)


def session(model_path: str | bytes, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])


class Work:
    """One model's evidence folder (written by prepare.ts): its manifest and metric; its inputs and labels, read when
    first used (a calibration child process never reads the test inputs, an evaluation of the test set never the
    calibration inputs)."""

    def __init__(self, folder: str):
        self.dir = folder
        self.manifest = json.load(open(os.path.join(self.dir, "manifest.json")))
        self.metric = self.manifest["metric"]

    @functools.cached_property
    def calibration(self) -> list[np.ndarray]:
        return [self.load(f) for f in self.manifest["calibration"]]

    @functools.cached_property
    def test(self) -> list[np.ndarray]:
        return [self.load(f) for f in self.manifest["test"]]

    @functools.cached_property
    def labels(self) -> np.ndarray | None:
        return self.load(self.manifest["labels"]).astype(np.int64) if "labels" in self.manifest else None

    def load(self, rel: str) -> np.ndarray:
        return np.load(os.path.join(self.dir, rel))

    def read(self, rel: str) -> bytes:
        return open(os.path.join(self.dir, rel), "rb").read()

    def runner(self, threads: int):
        """run(model) -> the model's first output on every test input; model is a path or the model's bytes."""
        return lambda model: run_model(model, self.manifest["input"], self.test, threads)


def run_model(model_path: str | bytes, input_name: str, batches: list[np.ndarray], threads: int) -> list[np.ndarray]:
    s = session(model_path, threads)
    output = s.get_outputs()[0].name
    return [s.run([output], {input_name: b})[0] for b in batches]


def score(metric: str, outputs: list[np.ndarray], fp32: list[np.ndarray], labels: np.ndarray | None) -> dict:
    if metric == "classification":
        preds = np.concatenate([o.argmax(-1) for o in outputs])
        ref = np.concatenate([o.argmax(-1) for o in fp32])
        result = {"top1_agreement": float((preds == ref).mean()), "samples": int(len(preds))}
        # Output error against FP32: sum (q - f)^2 / sum f^2 over the first output (trt-int8's model check takes this
        # ratio per graph output and averages it; the same number for these single-output classifiers).
        noise = sum(float(((o.astype(np.float64) - f) ** 2).sum()) for o, f in zip(outputs, fp32))
        energy = sum(float((f.astype(np.float64) ** 2).sum()) for f in fp32)
        result["output_error"] = noise / energy if energy > 0 else noise
        if labels is not None:
            result["accuracy"] = float((preds == labels).mean())
            result["correct"] = int((preds == labels).sum())
        return result
    if metric == "text-map":
        both = only_ref = only_q = 0
        abs_sum = 0.0
        pixels = 0
        per_image_f1 = []
        for p, q in zip(fp32, outputs):
            a = p > TEXT_THRESHOLD
            b = q > TEXT_THRESHOLD
            i_both = int(np.logical_and(a, b).sum())
            i_ref = int(np.logical_and(a, ~b).sum())
            i_q = int(np.logical_and(~a, b).sum())
            both, only_ref, only_q = both + i_both, only_ref + i_ref, only_q + i_q
            abs_sum += float(np.abs(p.astype(np.float64) - q).sum())
            pixels += p.size
            denom = 2 * i_both + i_ref + i_q
            per_image_f1.append(1.0 if denom == 0 else 2 * i_both / denom)
        union = both + only_ref + only_q
        return {
            "iou": 1.0 if union == 0 else both / union,
            "f1": 1.0 if union == 0 else 2 * both / (2 * both + only_ref + only_q),
            "mean_image_f1": float(np.mean(per_image_f1)),
            "mean_abs_diff": abs_sum / pixels,
            "text_pixels_fp32": both + only_ref,
            "text_pixels_int8": both + only_q,
            "images": len(outputs),
        }
    raise ValueError(f"unknown metric {metric}")


def primary(metric: str, scores: dict) -> float:
    """The number the verdict compares: accuracy against the labels, or F1 of the text masks against FP32."""
    return scores["accuracy"] if metric == "classification" else scores["f1"]


def ort_calibrate(model_path: str, manifest: dict, calib: list[np.ndarray], method: str, work: str):
    calibrate_method, options = METHODS[method]
    calibrator = create_calibrator(
        model_path, manifest["quantizedOpTypes"], augmented_model_path=os.path.join(work, "augmented_model.onnx"),
        calibrate_method=calibrate_method, extra_options=dict(options),
    )
    same_shape = len({a.shape for a in calib}) == 1
    if same_shape:
        calibrator.collect_data(ListReader(manifest["input"], calib))
    else:
        for a in calib:
            calibrator.collect_data(ListReader(manifest["input"], [a]))
    ranges = calibrator.compute_data()
    del calibrator
    return ranges, same_shape


def calibrate_to_cache(model_path: str, work_dir: str, method: str, cache: str) -> None:
    """ort_calibrate in a child process: reads the manifest and the calibration inputs itself, writes the ranges."""
    work = Work(work_dir)
    with contextlib.redirect_stdout(sys.stderr):
        ranges, _ = ort_calibrate(model_path, work.manifest, work.calibration, method, work_dir)
    save_tensors_data(ranges, cache)


def ort_quantize(model_path: str, output: str, manifest: dict, method: str, cache: str) -> None:
    quantize_static(
        model_path, output, None,
        quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
        calibrate_method=METHODS[method][0], calibration_cache_path=cache,
        nodes_to_quantize=manifest["quantizedNodes"], op_types_to_quantize=manifest["quantizedOpTypes"],
        extra_options={
            "ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
            "OpTypesToExcludeOutputQuantization": manifest["quantizedOpTypes"],
        },
    )


def paired_test(ours: np.ndarray, theirs: np.ndarray, labels: np.ndarray) -> dict:
    """Exact McNemar test on the samples where exactly one of the two models is right (two-sided binomial, p = 1/2)."""
    only_ours = int(np.sum((ours == labels) & (theirs != labels)))
    only_theirs = int(np.sum((ours != labels) & (theirs == labels)))
    n = only_ours + only_theirs
    k = min(only_ours, only_theirs)
    p = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n > 0 else 1.0
    return {"only_trt_int8_right": only_ours, "only_onnxruntime_right": only_theirs, "mcnemar_exact_p": p}


def range_comparison(ours: dict, theirs, top: int = 12) -> list[dict]:
    """Per tensor calibrated by both: trt-int8's amax vs onnxruntime's symmetric range, largest ratios first."""
    rows = []
    for name, r in ours["ranges"].items():
        if name not in theirs.data:
            continue
        lo, hi = theirs.data[name].range_value
        amax_ort = float(max(abs(np.ravel(lo)[0]), abs(np.ravel(hi)[0])))
        amax = float(r["amax"])
        ratio = amax / amax_ort if amax_ort > 0 else math.inf
        rows.append({"tensor": name, "trt_int8_amax": amax, "trt_int8_method": r.get("method"), "ort_amax": amax_ort, "ratio": ratio})
    rows.sort(key=lambda r: -abs(math.log(r["ratio"])) if 0 < r["ratio"] < math.inf else -math.inf)
    return rows[:top]


def evaluate_model(work_dir: str, args) -> dict:
    work = Work(work_dir)
    manifest, metric, calib, test, labels = work.manifest, work.metric, work.calibration, work.test, work.labels
    name = manifest["name"]
    model_path = os.path.join(work_dir, manifest["model"])
    print(f"[{name}] {len(calib)} calibration batches, {len(test)} test batches", file=sys.stderr)

    fp32 = run_model(model_path, manifest["input"], test, args.threads)
    fp32_scores = score(metric, fp32, fp32, labels)
    if "subsets" in manifest and metric == "classification":
        ref = np.concatenate(fp32)
        fp32_scores["subsets"] = {k: score(metric, [ref[a:b]], [ref[a:b]], None if labels is None else labels[a:b])
                                  for k, (a, b) in manifest["subsets"].items()}
    result = {"model": name, "metric": metric, "description": manifest["description"], "quantized_nodes": len(manifest["quantizedNodes"]),
              "quantized_op_types": manifest["quantizedOpTypes"], "fp32": fp32_scores, "runs": []}

    predictions = {}

    def add(tool: str, method: str, qdq: str, extra: dict):
        started = time.perf_counter()
        out = run_model(qdq, manifest["input"], test, args.threads)
        scores = score(metric, out, fp32, labels)
        if "subsets" in manifest and metric == "classification":
            flat = np.concatenate(out)
            ref = np.concatenate(fp32)
            scores["subsets"] = {k: score(metric, [flat[a:b]], [ref[a:b]], None if labels is None else labels[a:b])
                                 for k, (a, b) in manifest["subsets"].items()}
        if metric == "classification":
            predictions[(tool, method)] = np.concatenate([o.argmax(-1) for o in out])
        row = {"tool": tool, "method": method, **scores, "primary": primary(metric, scores), "qdq_model": os.path.relpath(qdq, ROOT),
               "eval_seconds": round(time.perf_counter() - started, 2), **extra}
        result["runs"].append(row)
        print(f"  {tool:10s} {method:18s} " + " ".join(f"{k}={v:.4f}" for k, v in scores.items() if isinstance(v, float)), file=sys.stderr)

    for label, run in manifest["trtInt8"].items():
        extra = {"calibration_seconds": run["calibrationSeconds"]}
        if "methods" in run:
            extra["chosen_methods"] = run["methods"]
        if "modelCheck" in run:
            extra["model_check"] = run["modelCheck"]
        add("trt-int8", label, os.path.join(work_dir, run["qdq"]), extra)

    # onnxruntime's tools on the same graph: shape inference only, no graph optimisation (node names and graph kept).
    pre = os.path.join(work_dir, "model.ort-pre.onnx")
    with contextlib.redirect_stdout(sys.stderr):
        quant_pre_process(model_path, pre, skip_optimization=True, skip_symbolic_shape=True)
    ort_ranges = {}
    timed_out = {}
    previous_runs, previous_stopped = {}, {}
    if args.reuse_onnxruntime and os.path.exists(args.json):
        for r in json.load(open(args.json)).get("models", []):
            if r["model"] == name:
                previous_runs = {x["method"]: x for x in r["runs"] if x["tool"] == "onnxruntime"}
                previous_stopped = r.get("onnxruntime_methods_stopped", {})
    for method in args.methods:
        started = time.perf_counter()
        cache = os.path.join(work_dir, f"ort-{method}.ranges.json")
        output = os.path.join(work_dir, f"ort-{method}.qdq.onnx")
        if args.reuse_onnxruntime and method in previous_stopped:
            result.setdefault("onnxruntime_methods_stopped", {})[method] = previous_stopped[method]
            continue
        if args.reuse_onnxruntime and os.path.exists(cache) and os.path.exists(output) and method in previous_runs:
            # onnxruntime's side does not change with trt-int8: its Q/DQ model and ranges from an earlier run, re-evaluated.
            ort_ranges[method] = load_tensors_data(cache)
            old = previous_runs[method]
            add("onnxruntime", method, output, {"calibration_seconds": old.get("calibration_seconds"), "collect": old.get("collect"), "reused": True})
            continue
        if os.path.exists(cache):
            os.remove(cache)
        # Calibration in a child process, so that a method that runs past --method-timeout can be stopped.
        ctx = multiprocessing.get_context("spawn")
        child = ctx.Process(target=calibrate_to_cache, args=(pre, work_dir, method, cache))
        child.start()
        child.join(args.method_timeout if args.method_timeout > 0 else None)
        if child.is_alive():
            child.terminate()
            child.join()
            timed_out[method] = round(time.perf_counter() - started)
            print(f"  onnxruntime {method}: calibration stopped after {timed_out[method]} s (--method-timeout)", file=sys.stderr)
            continue
        if child.exitcode != 0:
            raise RuntimeError(f"onnxruntime {method} calibration failed (exit code {child.exitcode})")
        with contextlib.redirect_stdout(sys.stderr):
            output = os.path.join(work_dir, f"ort-{method}.qdq.onnx")
            ort_quantize(pre, output, manifest, method, cache)
        ort_ranges[method] = load_tensors_data(cache)
        seconds = round(time.perf_counter() - started, 2)
        same_shape = len({a.shape for a in calib}) == 1
        add("onnxruntime", method, output, {"calibration_seconds": seconds, "collect": "one call, all batches" if same_shape else "one call per batch (shapes differ)"})
    if timed_out:
        result["onnxruntime_methods_stopped"] = {**result.get("onnxruntime_methods_stopped", {}), **{m: f"calibration still running after {s} s; stopped (--method-timeout)" for m, s in timed_out.items()}}

    ours = [r for r in result["runs"] if r["tool"] == "trt-int8" and r["method"] == "default"][0]
    theirs = [r for r in result["runs"] if r["tool"] == "onnxruntime"]
    best = max(theirs, key=lambda r: r["primary"])
    result["verdict"] = {
        "metric": "accuracy" if metric == "classification" else f"F1 of text masks (p > {TEXT_THRESHOLD}) vs FP32",
        "trt_int8_default": ours["primary"],
        "onnxruntime_best": best["primary"],
        "onnxruntime_best_method": best["method"],
        "default_at_least_as_accurate": ours["primary"] >= best["primary"],
    }
    if metric == "classification" and labels is not None:
        result["verdict"]["paired"] = paired_test(predictions[("trt-int8", "default")], predictions[("onnxruntime", best["method"])], labels)
    if metric == "classification":
        # Accuracy against FP32 (what the INT8 model is for: FP32's answers), onnxruntime's best chosen by the same measure.
        faithful = max(theirs, key=lambda r: r["top1_agreement"])  # ties: the first of METHODS' order
        least_error = min(theirs, key=lambda r: r["output_error"])
        result["verdict"]["by_agreement_with_fp32"] = {
            "trt_int8_default": ours["top1_agreement"],
            "onnxruntime_best": faithful["top1_agreement"],
            "onnxruntime_best_method": faithful["method"],
            "default_at_least_as_faithful": ours["top1_agreement"] >= faithful["top1_agreement"],
            "trt_int8_default_output_error": ours["output_error"],
            "onnxruntime_least_output_error": least_error["output_error"],
            "onnxruntime_least_output_error_method": least_error["method"],
        }
    our_ranges = json.load(open(os.path.join(work_dir, manifest["trtInt8"]["default"]["ranges"])))
    result["largest_range_differences_vs_ort_best"] = range_comparison(our_ranges, ort_ranges[best["method"]])

    # The classifier was converted from opset 9: its FP32 outputs must not have moved.
    if "original" in manifest:
        original = run_model(manifest["original"], manifest["input"], test, args.threads)
        result["opset_conversion_max_abs_diff"] = float(max(np.abs(a - b).max() for a, b in zip(original, fp32)))
    return result


def merge_into(path: str, key: str, value: dict) -> None:
    """Adds value under key to the JSON object in path (created if missing); keeps the other keys."""
    data = json.load(open(path)) if os.path.exists(path) else {}
    data[key] = value
    with open(path + ".tmp", "w") as f:
        json.dump(dict(sorted(data.items())), f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)


def git_commit() -> str:
    """HEAD, with ' (+ uncommitted changes)' when tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        return head + (" (+ uncommitted changes)" if dirty else "")
    except Exception:  # noqa: BLE001
        return "unknown"


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def table(results: list[dict]) -> str:
    lines = []
    for r in results:
        cls = r["metric"] == "classification"
        head = f"**{r['model']}** ({r['verdict']['metric']}; FP32 "
        head += (f"accuracy {pct(r['fp32']['accuracy'])} % on {r['fp32']['samples']} samples"
                 + "".join(f", {pct(v['accuracy'])} % on the {v['samples']} of {k}" for k, v in r["fp32"].get("subsets", {}).items()) + ")"
                 if cls and "accuracy" in r["fp32"]
                 else f"on {r['fp32'].get('images', r['fp32'].get('samples'))} inputs)")
        lines += ["", head, ""]
        subsets = list(r["fp32"].get("subsets", {}))
        if cls:
            lines += ["| tool | ranges | accuracy % | drop (points) | top-1 agreement with FP32 % | output error vs FP32 |" + "".join(f" accuracy % ({k}) |" for k in subsets),
                      "|---|---|---:|---:|---:|---:|" + "---:|" * len(subsets)]
        else:
            lines += ["| tool | ranges | F1 vs FP32 | IoU vs FP32 | mean image F1 | mean abs diff |", "|---|---|---:|---:|---:|---:|"]
        best = r["verdict"]["onnxruntime_best_method"]
        for run in r["runs"]:
            label = run["method"] + (" (default)" if run["tool"] == "trt-int8" and run["method"] == "default" else "") + (" (best)" if run["tool"] == "onnxruntime" and run["method"] == best else "")
            if run["tool"] == "trt-int8" and run["method"] == "default":
                label = "**default ('auto')**"
            if cls:
                error = f"{run['output_error']:.2e}" if "output_error" in run else "-"  # rows of an older JSON lack it
                lines.append(f"| {run['tool']} | {label} | {pct(run['accuracy'])} | {100 * (r['fp32']['accuracy'] - run['accuracy']):.2f} | {pct(run['top1_agreement'])} | {error} |"
                             + "".join(f" {pct(run['subsets'][k]['accuracy'])} |" for k in subsets))
            else:
                lines.append(f"| {run['tool']} | {label} | {run['f1']:.4f} | {run['iou']:.4f} | {run['mean_image_f1']:.4f} | {run['mean_abs_diff']:.2e} |")
        v = r["verdict"]
        ok = "yes" if v["default_at_least_as_accurate"] else "**no**"
        fmt = pct if cls else (lambda x: f"{x:.4f}")
        paired = ""
        if "paired" in v:
            t = v["paired"]
            paired = (f" Samples only the default gets right: {t['only_trt_int8_right']}; only onnxruntime's {best}: "
                      f"{t['only_onnxruntime_right']} (exact McNemar p = {t['mcnemar_exact_p']:.3g}).")
        for m, why in r.get("onnxruntime_methods_stopped", {}).items():
            lines += ["", f"onnxruntime {m}: not in the table, its {why}."]
        lines += ["", f"Default at least as accurate as onnxruntime's best ({best}): {ok} ({fmt(v['trt_int8_default'])} vs {fmt(v['onnxruntime_best'])}).{paired}"]
        if "by_agreement_with_fp32" in v:
            f = v["by_agreement_with_fp32"]
            lines += ["", f"Against FP32 (top-1 agreement), onnxruntime's best by that measure ({f['onnxruntime_best_method']}): "
                      f"{'yes' if f['default_at_least_as_faithful'] else '**no**'} ({pct(f['trt_int8_default'])} vs {pct(f['onnxruntime_best'])} %); "
                      f"output error vs FP32 {f['trt_int8_default_output_error']:.2e}, onnxruntime's least {f['onnxruntime_least_output_error']:.2e}"
                      + (f" ({f['onnxruntime_least_output_error_method']})." if "onnxruntime_least_output_error_method" in f else ".")]
    return "\n".join(lines).lstrip("\n")


def write_markdown(path: str, results: list[dict], meta: dict) -> None:
    when = "; ".join(f"{r['model']} {r['measured']['started']} at `{r['measured']['commit'][:12]}`" for r in results if "measured" in r)
    block = "\n".join([TABLE_START, "", f"Measured: {when}; onnxruntime {meta['onnxruntime']} (Python, CPU), "
                       f"onnx {meta['onnx']}, numpy {meta['numpy']}; raw numbers in docs/accuracy-evidence.json.", "", table(results), "", TABLE_END])
    if os.path.exists(path):
        text = open(path).read()
        if TABLE_START in text and TABLE_END in text:
            before = text.split(TABLE_START)[0]
            after = text.split(TABLE_END, 1)[1]
            text = before + block + after
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    else:
        text = "# Accuracy evidence\n\n" + block + "\n"
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=os.path.join(ROOT, "build/evidence"))
    p.add_argument("--models", default="fashion-mnist,ppocr-det,ppocr-cls")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (evaluation and calibration)")
    p.add_argument("--method-timeout", type=float, default=1800, help="stop an onnxruntime calibration method after this many seconds (0: never)")
    p.add_argument("--reuse-onnxruntime", action="store_true",
                   help="re-evaluate onnxruntime's Q/DQ models already in --work (ort-METHOD.qdq.onnx and .ranges.json, from an earlier run "
                        "with the same data) instead of calibrating again; their calibration times are taken from --json")
    p.add_argument("--json", default=os.path.join(ROOT, "docs/accuracy-evidence.json"))
    p.add_argument("--markdown", default=os.path.join(ROOT, "docs/accuracy-evidence.md"))
    args = p.parse_args()
    args.methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        p.error(f"unknown method(s) {unknown}; known: {list(METHODS)}")

    commit = git_commit()
    results = []
    for name in [m for m in args.models.split(",") if m]:
        work_dir = os.path.join(args.work, name)
        if not os.path.exists(os.path.join(work_dir, "manifest.json")):
            p.error(f"{work_dir}/manifest.json is missing: run scripts/evidence/run.sh (or prepare.js --models {name}) first")
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        result = evaluate_model(work_dir, args)
        result["measured"] = {"started": started, "commit": commit, "onnxruntime": ort.__version__, "threads": args.threads}
        results.append(result)

    meta = {"date": time.strftime("%Y-%m-%d", time.gmtime()), "commit": commit, "onnxruntime": ort.__version__, "onnx": onnx.__version__,
            "numpy": np.__version__, "python": platform.python_version(), "threads": args.threads, "methods": args.methods}
    if os.path.exists(args.json):
        # Keep the other models' results when only some are re-run.
        previous = json.load(open(args.json))
        names = {r["model"] for r in results}
        results = [r for r in previous.get("models", []) if r["model"] not in names] + results
        order = ["fashion-mnist", "ppocr-det", "ppocr-cls"]
        results.sort(key=lambda r: order.index(r["model"]) if r["model"] in order else len(order))
    with open(args.json + ".tmp", "w") as f:
        json.dump({"meta": meta, "models": results}, f, indent=1)
        f.write("\n")
    os.replace(args.json + ".tmp", args.json)
    write_markdown(args.markdown, results, meta)
    print(table(results))


if __name__ == "__main__":
    main()
