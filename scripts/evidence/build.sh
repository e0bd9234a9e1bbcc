#!/usr/bin/env bash
# Bundles scripts/evidence/prepare.ts (it imports the library from src/) into build/evidence-bin/.
set -euo pipefail
cd "$(dirname "$0")/../.."
npx tsup scripts/evidence/prepare.ts --no-config --format esm --shims --target node20 --out-dir build/evidence-bin --silent
