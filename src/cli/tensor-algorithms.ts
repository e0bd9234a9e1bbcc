/**
 * `--tensor-algorithm NAME=ALGO` (repeatable): per-tensor algorithm overrides for calibrate()'s
 * `tensorAlgorithms`. NAME is a calibrated tensor, or `input` for every graph input (and the tensors
 * that only pass one through layout ops). Names are checked against the model before any work.
 */
import { ALGORITHM_KINDS, type AlgorithmKind } from '../core/algorithm.js';
import type { TensorAlgorithms } from '../calibrate/calibrate.js';
import { UsageError, choiceFlag, nearestNames } from './args.js';

/** The NAME that stands for every graph input. */
export const ALL_INPUTS = 'input';

export interface TensorAlgorithmFlags {
  /** Overrides by tensor name. */
  readonly byName: ReadonlyMap<string, AlgorithmKind>;
  /** The override for every graph input, from `input=ALGO`. */
  readonly inputs?: AlgorithmKind;
}

function parseOne(entry: string): [string, AlgorithmKind] {
  const at = entry.lastIndexOf('=');
  const name = at > 0 ? entry.slice(0, at).trim() : '';
  if (!name || at === entry.length - 1) {
    throw new UsageError(`--tensor-algorithm needs NAME=ALGO, got "${entry}".`, {
      input: '--tensor-algorithm',
      expected: `NAME=ALGO with ALGO one of ${ALGORITHM_KINDS.join(', ')} (NAME "${ALL_INPUTS}" for every graph input)`,
      actual: entry,
    });
  }
  return [name, choiceFlag(entry.slice(at + 1).trim(), '--tensor-algorithm', ALGORITHM_KINDS)!];
}

/** The repeated flag's values, each NAME=ALGO; a NAME given twice is a mistake. */
export function parseTensorAlgorithms(entries: readonly string[] | undefined): TensorAlgorithmFlags | undefined {
  if (!entries || entries.length === 0) return undefined;
  const byName = new Map<string, AlgorithmKind>();
  let inputs: AlgorithmKind | undefined;
  for (const entry of entries) {
    const [name, algorithm] = parseOne(entry);
    if (byName.has(name) || (name === ALL_INPUTS && inputs)) {
      throw new UsageError(`--tensor-algorithm names "${name}" twice.`, { input: '--tensor-algorithm', expected: 'each NAME once', actual: entries });
    }
    if (name === ALL_INPUTS) inputs = algorithm;
    else byName.set(name, algorithm);
  }
  return { byName, ...(inputs ? { inputs } : {}) };
}

/** Every NAME must be a tensor being calibrated; an unknown one is a command-line mistake with the nearest names suggested. */
export function checkTensorNames(flags: TensorAlgorithmFlags, calibrated: readonly string[]): void {
  const known = new Set(calibrated);
  for (const name of flags.byName.keys()) {
    if (known.has(name)) continue;
    const near = nearestNames(name, calibrated);
    throw new UsageError(`--tensor-algorithm: "${name}" is not a calibrated tensor of the model.${near.length ? ` Did you mean ${near.map((n) => `"${n}"`).join(', ')}?` : ''}`, {
      input: '--tensor-algorithm',
      expected: near.length ? near : `one of the ${calibrated.length} calibrated tensors (list them: trt-int8 inspect model.onnx), or "${ALL_INPUTS}"`,
      actual: name,
    });
  }
}

/** The calibrate() option: named tensors first, then every graph input (or view of one) for `input=ALGO`. */
export function toTensorAlgorithms(flags: TensorAlgorithmFlags): TensorAlgorithms {
  return ({ name, isGraphInput }) => flags.byName.get(name) ?? (isGraphInput ? flags.inputs : undefined);
}
