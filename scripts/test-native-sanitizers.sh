#!/usr/bin/env bash
# The native part of the test suite under AddressSanitizer + UBSan, with LeakSanitizer on (run by CI).
#  1. the bridge and stats vitest suites against an ASan build of the whole core addon: any ASan/UBSan error fails;
#  2. test/bridge/leak-stress.mjs (every job ending, never-run jobs, terminated workers) with leak detection: any leak
#     allocated by our code fails. Node and V8 leak a little at exit by design (they skip
#     heap teardown), so leaks allocated entirely outside trt_int8_core.node are listed but not counted.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$root/build/asan"
logs="$(mktemp -d)"
scripts/dev-build-addon.sh "$out" --asan $(ls cpp/core/*.cc | grep -v '/addon.cc$') >/dev/null
addon="$out/trt_int8_core.node"
libasan="$(g++ -print-file-name=libasan.so)"
libubsan="$(g++ -print-file-name=libubsan.so)"
preload="$libasan:$libubsan"

echo "== vitest (bridge, stats) under ASan/UBSan, leak detection off (Node's own exit-time leaks would fail every child)"
LD_PRELOAD="$preload" ASAN_OPTIONS="detect_leaks=0:log_path=$logs/vitest-asan:detect_odr_violation=0" \
  UBSAN_OPTIONS="print_stacktrace=1:log_path=$logs/vitest-ubsan" TRT_INT8_ADDON_PATH="$addon" \
  npx vitest run test/bridge test/stats --reporter=dot

echo "== bridge leak stress under LeakSanitizer"
LD_PRELOAD="$preload" ASAN_OPTIONS="detect_leaks=1:log_path=$logs/leak:detect_odr_violation=0" \
  UBSAN_OPTIONS="print_stacktrace=1:log_path=$logs/leak-ubsan" \
  node --expose-gc test/bridge/leak-stress.mjs "$addon" host || true   # LSan's exit code reflects Node's own leaks too

status=0
if grep -l -E "ERROR: AddressSanitizer|runtime error:" "$logs"/* >/dev/null 2>&1; then
  echo "sanitizer errors:"; grep -h -A12 -E "ERROR: AddressSanitizer|runtime error:" "$logs"/* | head -80; status=1
fi
# One leak record = a "Direct/Indirect leak" line and its stack. It is ours when, walking up from the allocator, a
# frame in our sources comes before the first frame inside the node binary; a record whose allocation happens inside
# node (e.g. napi_create_external's bookkeeping for an External still alive at exit) is Node's.
ours=$(awk '/^(Direct|Indirect) leak/{rec=$0; inrec=1; done=0; mine=0; next}
  inrec && /^ *#[1-9]/ && !done { if ($0 ~ /\(\/usr\/(local\/)?bin\/node\+/) done=1; else if ($0 ~ /(\/cpp\/core\/|trt_int8_core\.node|trt_int8::)/) { mine=1; done=1 } }
  inrec && /^$/{if (mine) print rec; inrec=0; next}
  inrec{rec=rec "\n" $0}' "$logs"/leak* 2>/dev/null || true)
total=$(cat "$logs"/leak* 2>/dev/null | grep -c -E "^(Direct|Indirect) leak" || true)
if [ -n "$ours" ]; then echo "leaks allocated by trt_int8_core.node:"; echo "$ours" | head -60; status=1; fi
echo "leak records: ${total:-0} in all, $( [ -n "$ours" ] && echo some || echo none ) from our addon"
rm -rf "$logs"
[ $status -eq 0 ] && echo "native sanitizer checks: passed" || echo "native sanitizer checks: FAILED"
exit $status
