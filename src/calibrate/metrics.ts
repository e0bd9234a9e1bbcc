/** Streaming comparison metrics between a float reference and its quantized counterpart. */

/** Accumulates cosine similarity and SQNR of `test` against `reference` over any number of chunks. */
export class SignalAgreement {
  private dot = 0;
  private referenceEnergy = 0;
  private testEnergy = 0;
  private errorEnergy = 0;
  private elements = 0;

  add(reference: ArrayLike<number>, test: ArrayLike<number>): void {
    if (reference.length !== test.length) throw new RangeError(`length mismatch: ${reference.length} vs ${test.length}`);
    // Float64 sums: float32 accumulation over millions of activations would lose the small error terms.
    let dot = 0;
    let rr = 0;
    let tt = 0;
    let ee = 0;
    for (let i = 0; i < reference.length; i++) {
      const r = reference[i]!;
      const t = test[i]!;
      const e = r - t;
      dot += r * t;
      rr += r * r;
      tt += t * t;
      ee += e * e;
    }
    this.dot += dot;
    this.referenceEnergy += rr;
    this.testEnergy += tt;
    this.errorEnergy += ee;
    this.elements += reference.length;
  }

  get count(): number {
    return this.elements;
  }

  /** Cosine similarity in [-1, 1]; 1 when both signals are all zero. */
  get cosine(): number {
    if (this.referenceEnergy === 0 && this.testEnergy === 0) return 1;
    if (this.referenceEnergy === 0 || this.testEnergy === 0) return 0;
    return this.dot / Math.sqrt(this.referenceEnergy * this.testEnergy);
  }

  /** Signal-to-quantization-noise ratio in dB; Infinity when the signals are identical. */
  get sqnr(): number {
    if (this.errorEnergy === 0) return Infinity;
    return 10 * Math.log10(this.referenceEnergy / this.errorEnergy);
  }
}

/** Index of the largest value of each row of a [rows, rowLength] row-major buffer (first one on ties). */
export function argmaxRows(data: ArrayLike<number>, rowLength: number): Int32Array {
  if (rowLength <= 0 || data.length % rowLength !== 0) throw new RangeError(`cannot split ${data.length} values into rows of ${rowLength}`);
  const rows = data.length / rowLength;
  const out = new Int32Array(rows);
  for (let row = 0; row < rows; row++) {
    let best = 0;
    let bestValue = -Infinity;
    const offset = row * rowLength;
    for (let j = 0; j < rowLength; j++) {
      const v = data[offset + j]!;
      if (v > bestValue) {
        bestValue = v;
        best = j;
      }
    }
    out[row] = best;
  }
  return out;
}
