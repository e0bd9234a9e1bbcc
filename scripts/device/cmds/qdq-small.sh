# #11: MobileNetV3-Large (random weights) and the Fashion-MNIST model, Q/DQ speed at level 2 (level 3 took 92 s for
# MobileNetV3 FP32 and 162 s for FP16 on 2026-11-30, and the command ran out of its 300 s).
source scripts/device/cmds/common.sh
python3 bench/gpu/export_models.py --model mobilenetv3 || exit 1
node .device/run/js/qdq-speed.mjs --model mobilenetv3,fashion --level 2 --variants "${VARIANTS:-fp16,best,qdq-placed}" \
  --out $OUT/qdq-speed-small.json 2>&1 | tee $OUT/qdq-speed-small.log; rc=$?; echo "exit status: $rc"; keep_timing_caches; exit $rc
