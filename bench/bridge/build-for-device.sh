#!/usr/bin/env bash
# Builds what the GPU machine needs for the bridge checks into .device/bridge (git-ignored): the core addon (bridge +
# cuda modules) and the two scripts bundled into single files (the GPU machine has node but no node_modules).
# Then run there, carrying .device/node and .device/bridge (docs/bridge.md has the command).
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/dev-build-addon.sh .device/bridge/addon cpp/core/bridge*.cc cpp/core/cuda*.cc
for name in bench gpu-check; do
  npx esbuild "bench/bridge/$name.ts" --bundle --platform=node --format=cjs --target=node20 \
    --outfile=".device/bridge/${name/bench/bench-bridge}.cjs" --log-level=warning
done
ls -la .device/bridge .device/bridge/addon
