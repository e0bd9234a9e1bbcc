#!/usr/bin/env bash
# Development build of the core addon from a chosen subset of cpp/core files, into a folder of your
# choice, so that several people (or a sanitizer build) can build side by side without touching build/.
# Usage: scripts/dev-build-addon.sh OUTDIR [--asan] cpp/core/foo.cc ...   (addon.cc is always added)
# Then: TRT_INT8_ADDON_PATH=OUTDIR/trt_int8_core.node npx vitest run ...
set -euo pipefail
out="$1"; shift
san=()
if [ "${1:-}" = "--asan" ]; then san=(-fsanitize=address,undefined -fno-omit-frame-pointer -g -O1); shift; fi
root="$(cd "$(dirname "$0")/.." && pwd)"
node_inc="$(dirname "$(dirname "$(command -v node)")")/include/node"
napi_inc="$(node -p "require('node-addon-api').include_dir")"
mkdir -p "$out"
g++ -std=c++17 -O2 -fPIC -shared -pthread -Wall -Wextra -Wno-unused-parameter "${san[@]}" \
  -DNAPI_VERSION=8 -DNODE_ADDON_API_DISABLE_DEPRECATED -DNAPI_CPP_EXCEPTIONS \
  -I"$node_inc" -I"$root/$napi_inc" -I"$napi_inc" -I"$root/cpp/core" \
  "$root/cpp/core/addon.cc" "$@" -o "$out/trt_int8_core.node" -ldl
echo "built $out/trt_int8_core.node"
