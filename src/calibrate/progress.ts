/** Throughput and ETA bookkeeping shared by calibrate() and evaluate(). */

export interface CalibrationProgress {
  readonly batchesDone: number;
  readonly samplesDone: number;
  /** Samples per second since the first batch was asked for. */
  readonly samplesPerSecond: number;
  /** Known only when the number of batches is (calibrator.batchCount). */
  readonly etaSeconds?: number;
  readonly batchCount?: number;
  /** During 'auto''s whole-model check, after the batches: model evaluations done, and planned so far. */
  readonly modelCheck?: { readonly evaluations: number; readonly planned: number };
}

export class ProgressTracker {
  private readonly started: number;
  private batches = 0;
  private samples = 0;

  constructor(
    private readonly batchCount?: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.started = now();
  }

  /** Records one finished batch of `samples` samples and returns the progress so far. */
  batchDone(samples: number): CalibrationProgress {
    this.batches++;
    this.samples += samples;
    return this.snapshot();
  }

  get seconds(): number {
    return (this.now() - this.started) / 1000;
  }

  snapshot(): CalibrationProgress {
    const seconds = this.seconds;
    const progress: { -readonly [K in keyof CalibrationProgress]: CalibrationProgress[K] } = {
      batchesDone: this.batches,
      samplesDone: this.samples,
      samplesPerSecond: seconds > 0 ? this.samples / seconds : 0,
    };
    if (this.batchCount !== undefined) {
      progress.batchCount = this.batchCount;
      if (this.batches > 0) progress.etaSeconds = Math.max(0, this.batchCount - this.batches) * (seconds / this.batches);
    }
    return progress;
  }
}

/** The number of samples in a batch: the leading dimension of its first input (1 for a scalar). */
export function samplesInBatch(shapes: Iterable<readonly number[]>): number {
  for (const shape of shapes) return shape.length > 0 ? shape[0]! : 1;
  return 0;
}
