/**
 * `calibrate --keep NODE` (repeatable) and `--max-drop <points>`: nodes kept out of INT8 by hand, and the
 * accuracy-driven search (keepInHigherPrecision) for the fewest nodes to keep in float so that the INT8 model stays
 * within a tolerance of the float one on held-out data (`--eval-data`, accuracy with `--labels`). The command prints
 * what it kept out of INT8, by ONNX node name, and why.
 */
import type { OnnxModel } from '../onnx/index.js';
import { keepInHigherPrecision, type MixedPrecisionResult } from '../calibrate/mixed-precision.js';
import type { CalibrationResult } from '../calibrate/result.js';
import type { Calibrator } from '../calibrators/calibrator.js';
import { UsageError, nearestNames, numberFlag } from './args.js';
import type { CliIO } from './io.js';

/** --max-drop in accuracy points (percent), as a fraction for keepInHigherPrecision; undefined when not given. */
export function parseMaxDrop(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const points = numberFlag(value, '--max-drop');
  if (points < 0 || points > 100) {
    throw new UsageError(`--max-drop is a number of points in [0, 100] (1 = at most one point of accuracy or top-1 agreement lost), got "${value}".`, {
      input: '--max-drop',
      expected: 'a number of points in [0, 100], e.g. --max-drop 1',
      actual: value,
    });
  }
  return points / 100;
}

/**
 * Every name must be an ONNX node name of the model: an unknown one is a command-line mistake (ERR_BAD_OPTION, exit 2)
 * naming the flag, the name given and the closest node names.
 */
export function checkNodeNames(flag: string, names: readonly string[], model: OnnxModel): void {
  const known = model.nodes.map((n) => n.name).filter((n) => n !== '');
  const present = new Set(known);
  for (const name of names) {
    if (present.has(name)) continue;
    const near = nearestNames(name, known);
    throw new UsageError(`${flag}: "${name}" is not a node name of ${model.displayName}.${near.length ? ` Did you mean ${near.map((n) => `"${n}"`).join(', ')}?` : ''}`, {
      input: flag,
      expected: near.length ? near : `one of the model's ${known.length} node names`,
      actual: name,
      fixes: ['List the node names with: trt-int8 inspect model.onnx'],
    });
  }
}

/** What the mixed-precision search needs from the command line. */
export interface MixedPrecisionPlan {
  /** The tolerance as a fraction (the flag is in points). */
  readonly maxDrop: number;
  /** Class index per held-out sample: the drop is of accuracy instead of top-1 agreement. */
  readonly labels?: Int32Array;
  readonly candidates?: number;
  /** Where the held-out data comes from, for the messages. */
  readonly evalSource: string;
}

/** Runs the search on the held-out data and prints what it kept and why. */
export async function runMixedPrecision(model: OnnxModel, result: CalibrationResult, evalData: Calibrator, plan: MixedPrecisionPlan, io: CliIO): Promise<MixedPrecisionResult> {
  const measure = plan.labels ? 'accuracy' : 'top-1 agreement with the float model';
  io.stderr(`Mixed precision: measuring ${measure} on ${plan.evalSource} (tolerance: a drop of at most ${points(plan.maxDrop)} points)...`);
  const mixed = await keepInHigherPrecision(model, result, evalData, {
    maxDrop: plan.maxDrop,
    ...(plan.labels ? { labels: plan.labels } : {}),
    ...(plan.candidates !== undefined ? { candidates: plan.candidates } : {}),
  });
  describeMixed(mixed, plan, io);
  return mixed;
}

const points = (fraction: number) => (fraction * 100).toFixed(2);

function describeMixed(mixed: MixedPrecisionResult, plan: MixedPrecisionPlan, io: CliIO): void {
  const what = plan.labels ? 'accuracy' : 'top-1 agreement';
  const evaluations = `${mixed.evaluations} evaluation${mixed.evaluations === 1 ? '' : 's'} of a model on ${plan.evalSource}`;
  if (mixed.kept.length === 0 && mixed.met) {
    io.stdout(`Mixed precision: plain INT8 loses ${points(mixed.initialDrop)} points of ${what}, within --max-drop ${points(plan.maxDrop)}: nothing kept out of INT8 (${evaluations}).`);
    return;
  }
  io.stdout(`Mixed precision: plain INT8 loses ${points(mixed.initialDrop)} points of ${what}; kept out of INT8 (${evaluations}):`);
  for (const k of mixed.kept) {
    for (const node of k.nodes) {
      io.stdout(`  ${node}  (reads "${k.tensor}": SQNR ${k.sqnrDb.toFixed(2)} dB in INT8; keeping its readers in float alone recovers ${points(k.measuredGain)} points)`);
    }
  }
  io.stdout(`  with these in float the drop is ${points(mixed.finalDrop)} points (--max-drop ${points(plan.maxDrop)}).`);
  if (!mixed.met) {
    io.stderr(
      `warning: --max-drop ${points(plan.maxDrop)} is not met: the best model found loses ${points(mixed.finalDrop)} points; it is written anyway. ` +
        `Measure more candidates (--candidates), keep nodes by hand (--keep NODE; see --report for the worst tensors), or try --algorithm auto.`,
    );
  }
}

/**
 * The lines that say which nodes were kept out of INT8 by hand, and how to keep them in FP32 on a TensorRT 10.x build.
 * `int8Readers`: the nodes that would read an INT8 tensor without --keep (a kept node outside it changes nothing).
 */
export function describeKept(byHand: readonly string[], searched: readonly string[], io: CliIO, wroteCache: boolean, int8Readers: ReadonlySet<string>): void {
  if (byHand.length > 0) {
    io.stdout(`Kept out of INT8 by --keep:`);
    for (const node of byHand) io.stdout(`  ${node}  (--keep${int8Readers.has(node) ? '' : '; it reads no INT8 tensor anyway, so nothing changes for it'})`);
  }
  const all = [...byHand, ...searched];
  if (all.length > 0 && wroteCache) {
    io.stdout(
      `The cache leaves out the tensors only these nodes read; to keep them in FP32 on a TensorRT 10.x build from it: ` +
        `trt-int8 build ... --cache <cache> --exclude ${all.join(',')} (API: buildEngine(..., { exclude: { names } })).`,
    );
  }
}
