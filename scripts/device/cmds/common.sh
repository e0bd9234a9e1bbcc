# Sourced by the other commands: TensorRT 10.6 from /tmp/trt (TENSORRT_ROOT alone), node, onnxruntime, $OUT.
set -o pipefail; export TRT_INT8_NO_LD_PATH=1; source .device/run/env.sh
# Timing caches of an earlier lease (same TensorRT 10.6, same H200), carried gzipped as ".device/cache/*.timing.gz"
# (2 MB instead of 12, so they fit beside .device/run in one carry), seed the benches' builds: a build that finds its
# layers timed takes seconds instead of minutes. A cache already on the machine (an earlier command of this lease) is
# kept. The qdq scripts hand theirs back, gzipped, in $OUT.
cache_dir=/tmp/trt-int8-gpu/qdq-speed
mkdir -p "$cache_dir"
for packed in .device/cache/*.timing.gz; do
  [ -f "$packed" ] || continue
  unpacked="$cache_dir/$(basename "$packed" .gz)"
  [ -f "$unpacked" ] || gunzip -c "$packed" > "$unpacked"
done
ls -l "$cache_dir"
keep_timing_caches() { for cache in "$cache_dir"/*.timing; do [ -f "$cache" ] && gzip -c "$cache" > "$OUT/$(basename "$cache").gz"; done; true; }
