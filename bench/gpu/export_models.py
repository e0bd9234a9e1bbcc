#!/usr/bin/env python3
"""Exports the torchvision models of the Q/DQ speed benchmark (issue #11) to ONNX on the GPU machine.

ResNet-50 and MobileNetV3-Large with random weights (seeded; speed does not depend on the weights, and the
machine has no network to fetch trained ones), BatchNorm statistics from four random batches, eval mode (BatchNorm folded into the convolutions by the
exporter's constant folding, as deployment exports are), opset 17, input "input" [batch, 3, 224, 224] with a
dynamic batch, output "logits". Usage:

    python3 bench/gpu/export_models.py [--out-dir /tmp/trt-int8-models] [--model resnet50] [--model mobilenetv3]

Prints one JSON line per model (file, bytes, seconds). Idempotent: an existing file is kept unless --force.
"""
import argparse
import json
import os
import sys
import time

MODELS = {
    "resnet50": "resnet50",
    "mobilenetv3": "mobilenet_v3_large",
}


def settle_batch_norm(model, torch) -> None:
    """Sets each BatchNorm's running statistics from a few random batches (train mode, no weight update).

    Freshly initialised BatchNorms have mean 0 and variance 1, so in eval mode they normalise nothing, and
    MobileNetV3's activations grew past FP16's range (its FP16 engine agreed with FP32 on no image, 2026-11-30).
    With statistics of real forward passes every layer sees values of a trained network's scale.
    """
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            # A plain average of the passes below (momentum None), not a 1 % step from the initial 0 / 1 per pass
            # (MobileNetV3 sets momentum 0.01).
            module.reset_running_stats()
            module.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(16, 3, 224, 224))


def export(name: str, out_dir: str, force: bool) -> dict:
    import torch
    import torchvision

    path = os.path.join(out_dir, f"{name}.onnx")
    if os.path.exists(path) and not force:
        return {"model": name, "file": path, "bytes": os.path.getsize(path), "kept": True}
    started = time.time()
    torch.manual_seed(0)
    model = getattr(torchvision.models, MODELS[name])(weights=None)
    settle_batch_norm(model, torch)
    model.eval()
    example = torch.randn(1, 3, 224, 224)
    tmp = f"{path}.tmp-{os.getpid()}"
    names = dict(input_names=["input"], output_names=["logits"], opset_version=17)
    exporter = "torchscript"
    with torch.no_grad():
        try:
            # The TorchScript exporter, as examples/fashion-mnist/train.py uses: folds BatchNorm, names the batch axis.
            torch.onnx.export(model, (example,), tmp, do_constant_folding=True, dynamo=False,
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **names)
        except Exception as error:  # the TorchScript exporter may be gone in a later torch
            print(f"TorchScript export failed ({error!r}); trying the dynamo exporter", file=sys.stderr, flush=True)
            batch = torch.export.Dim("batch", min=1, max=1024)
            torch.onnx.export(model, (example,), tmp, dynamic_shapes={"x": {0: batch}}, dynamo=True, external_data=False, **names)
            exporter = "dynamo"
    os.replace(tmp, path)  # atomic: a reader never sees half a model
    return {"model": name, "file": path, "bytes": os.path.getsize(path), "seconds": round(time.time() - started, 1), "opset": 17, "exporter": exporter}


def check(path: str) -> dict:
    """onnx's checker and the dynamic batch dimension, so a bad export fails here and not in TensorRT."""
    import onnx

    model = onnx.load(path)
    onnx.checker.check_model(model)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return {"input": [d.dim_param or d.dim_value for d in dims], "nodes": len(model.graph.node)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=os.environ.get("TRT_INT8_GPU_MODELS", "/tmp/trt-int8-models"))
    parser.add_argument("--model", action="append", choices=sorted(MODELS), help="default: all")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    for name in args.model or sorted(MODELS):
        info = export(name, args.out_dir, args.force)
        info.update(check(info["file"]))
        print(json.dumps(info), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
