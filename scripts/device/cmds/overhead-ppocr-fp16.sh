# #15: detector FP16 build overhead, level 1, after a warm-up build (337 s on 2026-11-30).
source scripts/device/cmds/common.sh
node .device/run/js/build-overhead.mjs --model ppocr --precisions fp16 --level 1 --repeat 1 --abort-after 0 --out $OUT/build-overhead-ppocr-fp16.json 2>&1 | tee $OUT/build-overhead-ppocr-fp16.log; echo "exit status: $?"
