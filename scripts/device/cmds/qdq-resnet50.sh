# #11: ResNet-50 Q/DQ speed at level 3 (332 s for 5 variants on 2026-11-30 with a cold timing cache;
# split them over two calls if needed, the JSON is rewritten after each variant).
source scripts/device/cmds/common.sh
python3 bench/gpu/export_models.py --model resnet50 || exit 1
node .device/run/js/qdq-speed.mjs --model resnet50 --level 3 --variants "${VARIANTS:-fp16,best,qdq-placed,qdq-placed-fp16}" \
  --out $OUT/qdq-speed-resnet50.json 2>&1 | tee $OUT/qdq-speed-resnet50.log; rc=$?; echo "exit status: $rc"; keep_timing_caches; exit $rc
