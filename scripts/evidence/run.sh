#!/usr/bin/env bash
# Reproduces docs/accuracy-evidence.md and docs/accuracy-evidence.json: trt-int8's default vs onnxruntime's
# quantize_static on real models, same model, same calibration and test data, all Q/DQ models run in onnxruntime (CPU).
#
#   pip install onnxruntime numpy onnx pypdfium2      # evidence only; not in requirements-dev.txt, CI never needs them
#   scripts/evidence/run.sh                            # all models (about 15 minutes on 2 cores)
#   MODELS=fashion-mnist scripts/evidence/run.sh       # some of them (comma-separated: fashion-mnist, ppocr-det, ppocr-cls)
#
# Work files (data as .npy, every Q/DQ model, the ranges of both tools) go to build/evidence/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODELS="${MODELS:-fashion-mnist,ppocr-det,ppocr-cls}"
# trt-int8's own percentile-99.99 as a reference row next to the default and entropy2 (EVIDENCE_EXTRA_PERCENTILE= for none).
export EVIDENCE_EXTRA_PERCENTILE="${EVIDENCE_EXTRA_PERCENTILE-99.99}"
if ! python3 -c 'import onnxruntime, onnx, numpy, pypdfium2' 2>/dev/null; then
  echo "scripts/evidence/run.sh needs Python packages: pip install onnxruntime numpy onnx pypdfium2" >&2
  exit 1
fi
[[ ",$MODELS," == *",fashion-mnist,"* ]] && npm run --silent setup:example
[[ ",$MODELS," == *",ppocr-"* ]] && npm run --silent setup:ocr
[[ ",$MODELS," == *",ppocr-cls,"* ]] && python3 scripts/evidence/render_pages.py
scripts/evidence/build.sh
node build/evidence-bin/prepare.js --models "$MODELS"
python3 scripts/evidence/ort_evidence.py --models "$MODELS" 2> build/evidence/ort_evidence.log
