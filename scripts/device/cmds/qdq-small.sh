# #11: MobileNetV3-Large (random weights) and the Fashion-MNIST model, Q/DQ speed at level 2 (level 3 took 92 s for
# MobileNetV3 FP32 and 162 s for FP16 on 2026-11-30, and the command ran out of its 300 s; level 2 with fp16, best and
# qdq-placed took 350 s in the fourth lease). qdq-placed-as-best keeps in float the layers implicit INT8 ran in FP16
# (MobileNetV3's late blocks), to show what TensorRT's own choice is worth to a Q/DQ model.
source scripts/device/cmds/common.sh
python3 bench/gpu/export_models.py --model mobilenetv3 || exit 1
node .device/run/js/qdq-speed.mjs --model mobilenetv3,fashion --level 2 --variants "${VARIANTS:-fp16,best,qdq-placed,qdq-placed-as-best}" \
  --out $OUT/qdq-speed-small.json 2>&1 | tee $OUT/qdq-speed-small.log; rc=$?; echo "exit status: $rc"; keep_timing_caches; exit $rc
