"""Converts an ONNX model to opset 13 with onnx.version_converter (Q/DQ with per-channel weights needs 13).

    python3 scripts/evidence/upgrade_opset.py IN.onnx OUT.onnx

Used for PP-OCR's text-direction classifier (opset 9: Clip with min/max attributes, Slice with attributes), which
trt-int8's own upgrade (11/12 -> 13 only) does not take. Both tools then quantize the same converted model; the
evidence script checks that the converted model's FP32 outputs match the original's on the test inputs.
"""
import sys

import onnx
from onnx import version_converter


def main():
    src, dst = sys.argv[1], sys.argv[2]
    model = onnx.load(src)
    converted = version_converter.convert_version(model, 13)
    onnx.checker.check_model(converted)
    onnx.save(converted, dst)
    print(f"{src}: opset {[o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')][0]} -> 13: {dst}")


if __name__ == "__main__":
    main()
