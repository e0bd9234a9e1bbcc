# #9: every acceptance row but ocr-dynamic (~250 s), then trt-int8 build / inspect on the Fashion-MNIST model (~20 s).
source scripts/device/cmds/common.sh
rows=fp32,fp16,int8,best,int8-entropy2,int8-entropy,int8-minmax,int8-legacy,int8-percentile,cache-reuse,cache-reuse-legacy,stale-cache,exclude-gemm,exclude-names,timing-cache,save-load,qdq-strongly-typed,int8-cache-route,async-getbatch,abort-calibration,getbatch-throws,getbatch-rejects,bad-batch,abort-build
node .device/run/js/acceptance.mjs --level 1 --only "$rows" --out $OUT/acceptance.json 2>&1 | tee $OUT/acceptance.log
echo "acceptance exit status: $?" | tee -a $OUT/acceptance.log
python3 - <<'PY'
import gzip, numpy as np
raw = gzip.open('.device/run/data/fashion/calibration-images-idx3-ubyte.gz').read()[16:]
x = np.frombuffer(raw, np.uint8).reshape(-1, 1, 28, 28)[:512].astype(np.float32)
np.save('/tmp/calib.npy', ((x / 255 - 0.2860) / 0.3530).astype(np.float32))
PY
{ echo '$ trt-int8 build examples/fashion-mnist/model.onnx -o /tmp/f.engine --int8 --data /tmp/calib.npy --batch 32 --profile input:1x1x28x28,32x1x28x28,64x1x28x28 --opt-level 1'
  node .device/run/js/cli.mjs build examples/fashion-mnist/model.onnx -o /tmp/f.engine --int8 --data /tmp/calib.npy --batch 32 \
    --profile input:1x1x28x28,32x1x28x28,64x1x28x28 --opt-level 1; echo "build exit status: $?";
  echo '$ trt-int8 inspect /tmp/f.engine'; node .device/run/js/cli.mjs inspect /tmp/f.engine; echo "inspect exit status: $?"; } 2>&1 | tee $OUT/cli-build-inspect.log | tail -40
