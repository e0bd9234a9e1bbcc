/** Shape flags of `trt-int8 build`: --profile input:MIN,OPT,MAX (repeatable) and --calibration-profile input:SHAPE. */
import type { OptimizationProfile, ShapeRange } from '../tensorrt/types.js';
import { UsageError } from './args.js';

const PROFILE_EXAMPLE = '--profile input:1x3x224x224,8x3x224x224,32x3x224x224';

/** "1x3x224x224" as [1, 3, 224, 224]; every dimension a positive integer. */
export function parseShape(text: string, flag: string): number[] {
  const dims = text.trim().split(/x/i);
  if (dims.length === 0 || dims.some((d) => !/^\d+$/.test(d) || Number(d) < 1)) {
    throw new UsageError(`${flag}: "${text}" is not a shape; write the dimensions as positive integers joined by x, e.g. 1x3x224x224.`, {
      input: flag,
      expected: 'a shape such as 1x3x224x224',
      actual: text,
    });
  }
  return dims.map(Number);
}

/** "name:shape..." split at the last colon (input names may contain colons, shapes never do). */
function splitNamed(value: string, flag: string, example: string): [string, string] {
  const at = value.lastIndexOf(':');
  if (at <= 0 || at === value.length - 1) {
    throw new UsageError(`${flag} needs <input>:<shapes>, e.g. ${example}, got "${value}".`, { input: flag, expected: example, actual: value });
  }
  return [value.slice(0, at), value.slice(at + 1)];
}

function parseRange(name: string, text: string, value: string): ShapeRange {
  const parts = text.split(',');
  if (parts.length !== 3) {
    throw new UsageError(`--profile ${value}: give three shapes MIN,OPT,MAX for input "${name}", got ${parts.length}.`, { input: '--profile', expected: PROFILE_EXAMPLE, actual: value });
  }
  const [min, opt, max] = parts.map((p) => parseShape(p, '--profile')) as [number[], number[], number[]];
  if (min.length !== opt.length || opt.length !== max.length) {
    throw new UsageError(`--profile ${value}: MIN, OPT and MAX must have the same rank.`, { input: '--profile', expected: 'three shapes of one rank', actual: value });
  }
  if (min.some((d, i) => d > opt[i]! || opt[i]! > max[i]!)) {
    throw new UsageError(`--profile ${value}: every dimension needs MIN <= OPT <= MAX.`, { input: '--profile', expected: 'MIN <= OPT <= MAX per dimension', actual: value });
  }
  return { min, opt, max };
}

/**
 * The --profile values as optimization profiles: each names one input; naming an input again starts the
 * next profile (so "--profile a:.. --profile b:.. --profile a:.. --profile b:.." gives two profiles).
 */
export function parseProfiles(values: readonly string[]): OptimizationProfile[] {
  const profiles: Record<string, ShapeRange>[] = [];
  for (const value of values) {
    const [name, text] = splitNamed(value, '--profile', PROFILE_EXAMPLE);
    const range = parseRange(name, text, value);
    let current = profiles.at(-1);
    if (!current || Object.hasOwn(current, name)) {
      current = {};
      profiles.push(current);
    }
    current[name] = range;
  }
  return profiles;
}

/** --calibration-profile input:SHAPE (repeatable, one per input). */
export function parseCalibrationProfile(values: readonly string[]): Record<string, number[]> | undefined {
  if (values.length === 0) return undefined;
  const shapes: Record<string, number[]> = {};
  for (const value of values) {
    const [name, text] = splitNamed(value, '--calibration-profile', '--calibration-profile input:8x3x224x224');
    if (Object.hasOwn(shapes, name)) {
      throw new UsageError(`--calibration-profile names input "${name}" twice.`, { input: '--calibration-profile', expected: 'one shape per input', actual: values });
    }
    shapes[name] = parseShape(text, '--calibration-profile');
  }
  return shapes;
}
