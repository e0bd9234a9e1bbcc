# #11: the PP-OCRv4 detector at 640x640, Q/DQ speed at level 2 (one heavy model: ~100-150 s per variant).
source scripts/device/cmds/common.sh
node .device/run/js/qdq-speed.mjs --model ppocr --level 2 --variants "${VARIANTS:-fp16,best,qdq-placed}" \
  --out $OUT/qdq-speed-ppocr.json 2>&1 | tee $OUT/qdq-speed-ppocr.log; rc=$?; echo "exit status: $rc"; keep_timing_caches; exit $rc
