# #15: detector INT8 build overhead, level 1, after a calibrating warm-up build (400 s on 2026-11-30).
source scripts/device/cmds/common.sh
node .device/run/js/build-overhead.mjs --model ppocr --precisions int8 --level 1 --repeat 1 --abort-after 0 --out $OUT/build-overhead-ppocr-int8.json 2>&1 | tee $OUT/build-overhead-ppocr-int8.log; echo "exit status: $?"
