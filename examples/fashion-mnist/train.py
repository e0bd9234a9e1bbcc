"""Trains the trt-int8 example CNN on Fashion-MNIST and exports it to ONNX.

    python3 examples/fashion-mnist/train.py --epochs 8 --seed 0 --out examples/fashion-mnist/model.onnx

The architecture is small but holds the patterns INT8 Q/DQ placement has to handle: Conv+ReLU chains
(BatchNorm folded into the Conv at export, as deployment exports do), MaxPool, a residual Add whose two
inputs need one shared scale, and two Gemm layers. Input "input" [batch,1,28,28] float32, normalised as in
fashion_mnist.py; output "logits" [batch,10]. Writes a JSON summary (accuracies, versions) next to --out.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_mnist  # noqa: E402


class ConvBnRelu(nn.Module):
    def __init__(self, cin: int, cout: int, relu: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(cout)
        self.relu = relu

    def forward(self, x):
        x = self.bn(self.conv(x))
        return F.relu(x) if self.relu else x

    def fold_batch_norm(self):
        """Folds BN into the conv (eval statistics) so the exported graph has Conv -> Relu, as deployed."""
        self.conv = torch.nn.utils.fusion.fuse_conv_bn_eval(self.conv, self.bn)
        self.bn = nn.Identity()


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.a = ConvBnRelu(channels, channels)
        self.b = ConvBnRelu(channels, channels, relu=False)

    def forward(self, x):
        return F.relu(x + self.b(self.a(x)))


class FashionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem1 = ConvBnRelu(1, 32)
        self.stem2 = ConvBnRelu(32, 32)
        self.conv3 = ConvBnRelu(32, 64)
        self.res = ResidualBlock(64)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)
        self.dropout = nn.Dropout(0.3)

    def forward(self, x):
        x = F.max_pool2d(self.stem2(self.stem1(x)), 2)  # 14x14
        x = F.max_pool2d(self.conv3(x), 2)  # 7x7
        x = self.res(x)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)

    def fold_batch_norm(self):
        for m in (self.stem1, self.stem2, self.conv3, self.res.a, self.res.b):
            m.fold_batch_norm()


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and a random shift of up to 2 pixels, on the GPU, from a seeded generator."""
    n = x.shape[0]
    flip = torch.rand(n, generator=gen, device=x.device) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    background = (0.0 - fashion_mnist.MEAN) / fashion_mnist.STD
    padded = F.pad(x, (2, 2, 2, 2), value=background)
    dx = torch.randint(0, 5, (n,), generator=gen, device=x.device)
    dy = torch.randint(0, 5, (n,), generator=gen, device=x.device)
    rows = (dy[:, None] + torch.arange(28, device=x.device)[None, :])  # [n, 28]
    cols = (dx[:, None] + torch.arange(28, device=x.device)[None, :])
    idx_n = torch.arange(n, device=x.device)[:, None, None]
    return padded[idx_n, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 2000) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, x.shape[0], batch)])


def export_onnx(model: nn.Module, path: str, opset: int) -> str:
    """Exports with the TorchScript exporter (exact opset, named dynamic axis); falls back to dynamo."""
    import onnx

    example = torch.zeros(2, 1, 28, 28)
    tmp = path + ".tmp"
    try:
        torch.onnx.export(
            model, (example,), tmp, input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=opset, do_constant_folding=True, dynamo=False,
        )
        exporter = "torchscript"
    except Exception as error:  # the TorchScript exporter may be gone in a later torch
        print(f"TorchScript export failed ({error!r}); trying the dynamo exporter", flush=True)
        batch = torch.export.Dim("batch", min=1, max=65536)
        torch.onnx.export(
            model, (example,), tmp, input_names=["input"], output_names=["logits"],
            dynamic_shapes={"x": {0: batch}}, opset_version=opset, dynamo=True, external_data=False,
        )
        exporter = "dynamo"
    # (the dynamo exporter converts its opset-18 graph down to --opset itself; a failure there raises)
    m = onnx.load(tmp)
    # Name the dynamic axis "batch" whatever the exporter called it.
    for value in list(m.graph.input) + list(m.graph.output):
        dim0 = value.type.tensor_type.shape.dim[0]
        dim0.ClearField("dim_value")
        dim0.dim_param = "batch"
    m.producer_name = "trt-int8 examples/fashion-mnist/train.py"
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, tmp)
    os.replace(tmp, path)
    return exporter


def onnx_accuracy(path: str, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    preds = np.concatenate([sess.run(["logits"], {"input": x[i : i + 1000]})[0].argmax(1) for i in range(0, len(x), 1000)])
    return float((preds == y).mean()), preds


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=fashion_mnist.DEFAULT_DATA_DIR)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.onnx"))
    p.add_argument("--summary", help="JSON summary path (default: <out>.train.json)")
    args = p.parse_args()

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    x_train, y_train = fashion_mnist.load_split("train", args.data_dir)
    x_test, y_test = fashion_mnist.load_split("test", args.data_dir)
    xt = torch.from_numpy(x_train).to(device)
    yt = torch.from_numpy(y_train.astype(np.int64)).to(device)
    xv = torch.from_numpy(x_test).to(device)
    yv = torch.from_numpy(y_test.astype(np.int64)).to(device)

    model = FashionNet().to(device)
    steps_per_epoch = (len(xt) + args.batch_size - 1) // args.batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)
    gen = torch.Generator(device=device).manual_seed(args.seed)

    started = time.time()
    history = []
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(xt), generator=gen, device=device)
        total_loss = 0.0
        for s in range(steps_per_epoch):
            idx = order[s * args.batch_size : (s + 1) * args.batch_size]
            xb = augment(xt[idx], gen)
            loss = F.cross_entropy(model(xb), yt[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item() * len(idx)
        acc = (predict(model, xv) == yv).float().mean().item()
        history.append({"epoch": epoch + 1, "loss": total_loss / len(xt), "test_accuracy": acc})
        print(json.dumps(history[-1]), flush=True)
    train_seconds = time.time() - started

    model.eval()
    torch_acc = (predict(model, xv) == yv).float().mean().item()
    model = model.cpu()
    model.fold_batch_norm()
    folded_acc = (predict(model, xv.cpu()) == yv.cpu()).float().mean().item()
    exporter = export_onnx(model, args.out, args.opset)
    onnx_acc, onnx_preds = onnx_accuracy(args.out, x_test, y_test)
    torch_preds = predict(model, xv.cpu()).numpy()

    import onnx
    import onnxruntime

    with open(args.out, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    summary = {
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "seed": args.seed, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "cpu",
        "train_seconds": round(train_seconds, 1),
        "test_accuracy_torch": torch_acc,
        "test_accuracy_torch_bn_folded": folded_acc,
        "test_accuracy_onnxruntime_fp32": onnx_acc,
        "torch_onnx_top1_agreement": float((onnx_preds == torch_preds).mean()),
        "exporter": exporter, "opset": args.opset,
        "sha256": digest, "bytes": os.path.getsize(args.out),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "onnx": onnx.__version__,
                     "onnxruntime": onnxruntime.__version__, "numpy": np.__version__},
        "history": history,
    }
    summary_path = args.summary or args.out + ".train.json"
    with open(summary_path + ".tmp", "w") as f:
        json.dump(summary, f, indent=2)
    os.replace(summary_path + ".tmp", summary_path)
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=2))


if __name__ == "__main__":
    main()
