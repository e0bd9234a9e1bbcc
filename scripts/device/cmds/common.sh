# Sourced by the other commands: TensorRT 10.6 from /tmp/trt (TENSORRT_ROOT alone), node, onnxruntime, $OUT.
set -o pipefail; export TRT_INT8_NO_LD_PATH=1; source .device/run/env.sh
