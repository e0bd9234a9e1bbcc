# #11: MobileNetV3-Large (random weights) and the Fashion-MNIST model, Q/DQ speed at level 3 (~30 s per variant).
source scripts/device/cmds/common.sh
python3 bench/gpu/export_models.py --model mobilenetv3 || exit 1
node .device/run/js/qdq-speed.mjs --model mobilenetv3,fashion --level 3 --variants "${VARIANTS:-fp32,fp16,best,qdq-placed,qdq-placed-as-best,qdq-placed-fp16}" \
  --out $OUT/qdq-speed-small.json 2>&1 | tee $OUT/qdq-speed-small.log; echo "exit status: $?"
