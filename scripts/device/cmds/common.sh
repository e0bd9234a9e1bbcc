# Sourced by the other commands: TensorRT 10.6 from /tmp/trt (TENSORRT_ROOT alone), node, onnxruntime, $OUT.
set -o pipefail; export TRT_INT8_NO_LD_PATH=1; source .device/run/env.sh
# Timing caches of an earlier lease (same TensorRT 10.6, same H200), carried as ".device/cache", seed the benches'
# builds: a build that finds its layers timed takes seconds instead of minutes. The qdq scripts hand theirs back in $OUT.
mkdir -p /tmp/trt-int8-gpu/qdq-speed
if [ -d .device/cache ]; then cp -n .device/cache/*.timing /tmp/trt-int8-gpu/qdq-speed/ 2>/dev/null; ls -l /tmp/trt-int8-gpu/qdq-speed; fi
keep_timing_caches() { cp /tmp/trt-int8-gpu/qdq-speed/*.timing "$OUT"/ 2>/dev/null || true; }
