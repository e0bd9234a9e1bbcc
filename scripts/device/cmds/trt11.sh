# #9: TensorRT 11.2 from /tmp/trt11: detection, capabilities, the missing-builder-resource error (2 s).
export TENSORRT_ROOT=/tmp/trt11
source scripts/device/cmds/common.sh
node .device/run/js/trt11-check.mjs --out $OUT/trt11-check.json 2>&1 | tee $OUT/trt11-check.log; echo "exit status: $?"
