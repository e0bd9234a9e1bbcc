// PaddleOCR's text-detector preprocessing constants and resize rule (tools/infer/predict_det.py:
// DetResizeForTest with limit_type 'max', then NormalizeImage), kept apart from run.mjs so tests can import it.
//
// PaddleOCR reads images with cv2.imread, i.e. BGR, and never converts them to RGB: MEAN and STD apply to the
// B, G, R channels in this order.
export const LIMIT_SIDE_LEN = 960;
export const MEAN = [0.485, 0.456, 0.406];
export const STD = [0.229, 0.224, 0.225];
/** PaddleOCR's det_db_thresh: pixels of the probability map above it are text. */
export const DB_THRESHOLD = 0.3;

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The input size PaddleOCR feeds the detector for an image of width x height: long side <= limit, multiples of 32. */
export function paddleDetSize(width, height, limit = LIMIT_SIDE_LEN) {
  const ratio = Math.max(width, height) > limit ? limit / Math.max(width, height) : 1;
  const h = Math.trunc(height * ratio);
  const w = Math.trunc(width * ratio);
  return { width: Math.max(roundHalfEven(w / 32) * 32, 32), height: Math.max(roundHalfEven(h / 32) * 32, 32) };
}
