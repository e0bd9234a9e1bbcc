/**
 * The per-tensor step of 'auto''s whole-model check (issue #10 item 1: "where [the cheap proxies] disagree, confirm by
 * the model's output error"). The set check (model-check.ts) decides between whole-model sets: the per-tensor 'auto'
 * ranges and uniform percentile sets. Per tensor the two contenders can still disagree, and which one the network
 * prefers differs from tensor to tensor. So, starting from the kept set, each tensor whose two contenders differ by
 * more than TENSOR_STEP_MIN_DIFFERENCE gets the other one tried, in graph order, and keeps it where the model's output
 * error falls by more than TENSOR_STEP_MARGIN.
 *
 * Only the two ranges the set check already weighed are tried, never a search over more: on the direction classifier
 * of docs/accuracy-evidence.md, trying every 'auto' candidate within twice the least histogram MSE more than halved the
 * calibration output error and made the test output error worse (218 samples cannot pick 72 ranges out of up to 5
 * each), where the two-contender step lowered both.
 * Cost: one model evaluation per contested tensor, at most one per calibrated tensor.
 */
import { failureLine, throwIfAborted } from '../core/errors.js';
import type { TensorCalibration, TensorStep, TensorSteps } from './result.js';

/** Contenders closer than this share of the larger are not tried: such changes are below what the output error resolves. */
export const TENSOR_STEP_MIN_DIFFERENCE = 0.02;
/** A tried range is kept only when the output error falls by more than this share. */
export const TENSOR_STEP_MARGIN = 0.01;

export interface TensorStepInput {
  /** The per-tensor 'auto' ranges and the best uniform set's, index for index. */
  readonly perTensor: readonly TensorCalibration[];
  readonly uniform: readonly TensorCalibration[];
  /** The set the check kept, and its output error. */
  readonly start: readonly TensorCalibration[];
  readonly startError: number;
  /** The tensors to try, in order (contestedTensors). */
  readonly contested: readonly number[];
  /** The model's output error with these ranges (one evaluation). */
  readonly errorOf: (tensors: readonly TensorCalibration[]) => Promise<number>;
  /** Whether an error errorOf threw is a model run failing (the step stops and keeps its changes) rather than the caller's. */
  readonly isModelFailure: (error: unknown) => boolean;
  readonly signal: AbortSignal;
}

/** The tensors whose two contenders differ by more than TENSOR_STEP_MIN_DIFFERENCE, in graph order. */
export function contestedTensors(perTensor: readonly TensorCalibration[], uniform: readonly TensorCalibration[], order: ReadonlyMap<string, number>): number[] {
  const contested: number[] = [];
  perTensor.forEach((t, i) => {
    const a = t.amax;
    const b = uniform[i]!.amax;
    if (Math.abs(a - b) > TENSOR_STEP_MIN_DIFFERENCE * Math.max(a, b)) contested.push(i);
  });
  const position = (i: number) => order.get(perTensor[i]!.name) ?? Number.MAX_SAFE_INTEGER;
  return contested.sort((x, y) => position(x) - position(y) || x - y);
}

/** Runs the step: returns its record and the tensors it ends with. */
export async function confirmTensors(input: TensorStepInput): Promise<{ steps: TensorSteps; tensors: readonly TensorCalibration[] }> {
  const started = performance.now();
  const { perTensor, uniform, start, contested, errorOf, signal } = input;
  const current = [...start];
  let error = input.startError;
  const kept: TensorStep[] = [];
  let evaluations = 0;
  let stopped: string | undefined;
  for (const i of contested) {
    throwIfAborted(signal);
    const other = current[i]!.amax === perTensor[i]!.amax ? uniform[i]! : perTensor[i]!;
    const trial = current.slice();
    trial[i] = other;
    let trialError: number;
    try {
      trialError = await errorOf(trial);
    } catch (failure) {
      // An abort, or the caller's own callback failing, is the caller's; a model run that fails ends the step
      // with what it kept so far (each kept change was measured), rather than losing the set choice too.
      if (signal.aborted || !input.isModelFailure(failure)) throw failure;
      stopped = failureLine(failure);
      break;
    }
    evaluations++;
    if (trialError < error * (1 - TENSOR_STEP_MARGIN)) {
      kept.push({ tensor: other.name, from: current[i]!.amax, to: other.amax, outputError: trialError });
      current[i] = other;
      error = trialError;
    }
  }
  const steps: TensorSteps = {
    contested: contested.length,
    evaluations,
    ...(stopped !== undefined ? { stopped } : {}),
    minDifference: TENSOR_STEP_MIN_DIFFERENCE,
    margin: TENSOR_STEP_MARGIN,
    kept,
    outputError: error,
    seconds: (performance.now() - started) / 1000,
  };
  return { steps, tensors: current };
}
