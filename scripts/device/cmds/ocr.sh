# #9: the acceptance row ocr-dynamic alone (PP-OCRv4 detector, 2 profiles; 341 s on 2026-11-30).
source scripts/device/cmds/common.sh
node .device/run/js/acceptance.mjs --level 1 --only ocr-dynamic --out $OUT/acceptance-ocr.json 2>&1 | tee $OUT/acceptance-ocr.log; echo "exit status: $?" | tee -a $OUT/acceptance-ocr.log
