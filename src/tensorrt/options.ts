/**
 * Validation of buildEngine() options, in JS and before any native code runs (sharp style): every bad
 * option is an ERR_BAD_OPTION naming the option, what was expected and what was given.
 */
import type { TrtInt8Error } from '../core/errors.js';
import { badOption as coreBadOption } from '../core/is.js';
import type { InputSpec } from '../core/tensor.js';
import type { OnnxNode } from '../onnx/model.js';
import type { BuildEngineOptions, Int8Route, LayerPrecisionChoice, OptimizationProfile, Precision, PrecisionExclusion, ShapeRange } from './types.js';

const PRECISIONS: readonly Precision[] = ['fp32', 'fp16', 'int8', 'best'];
export const INT8_ROUTES: readonly Int8Route[] = ['calibrate', 'cache', 'qdq'];
const LAYER_PRECISIONS: readonly LayerPrecisionChoice[] = ['int8', 'fp16', 'fp32'];
/** Which build precisions let TensorRT run a layer in each layer precision. */
const ALLOWED_BY: Record<LayerPrecisionChoice, readonly Precision[]> = { int8: ['int8', 'best'], fp16: ['fp16', 'best'], fp32: PRECISIONS };
const LOGGER_LEVELS = ['error', 'warning', 'info', 'verbose'] as const;

/** core/is.ts's option error, with buildEngine's message ("buildEngine: <what is wrong>"). */
function badOption(input: string, message: string, expected: unknown, actual: unknown, fixes: readonly string[] = []): TrtInt8Error {
  return coreBadOption('buildEngine', input, expected, actual, fixes, `buildEngine: ${message}`);
}

function isDims(value: unknown): value is number[] {
  return Array.isArray(value) && value.length <= 8 && value.every((d) => Number.isInteger(d));
}

function checkRange(where: string, range: unknown): ShapeRange {
  if (range === null || typeof range !== 'object') throw badOption(where, `${where} must be { min, opt, max }.`, '{ min: number[], opt: number[], max: number[] }', range);
  const r = range as Record<string, unknown>;
  for (const key of ['min', 'opt', 'max'] as const) {
    const dims = r[key];
    if (!isDims(dims) || dims.some((d) => d < 1)) {
      throw badOption(`${where}.${key}`, `${where}.${key} must be a list of positive integers (at most 8).`, 'e.g. [1, 3, 224, 224]', dims);
    }
  }
  const { min, opt, max } = r as unknown as ShapeRange;
  if (min.length !== opt.length || opt.length !== max.length) {
    throw badOption(where, `${where}: min, opt and max must have the same rank.`, `rank ${opt.length} for all three`, { min, opt, max });
  }
  for (let i = 0; i < opt.length; i++) {
    if (min[i]! > opt[i]!) {
      throw badOption(`${where}.min`, `${where}: min exceeds opt in dimension ${i}.`, `min[${i}] <= opt[${i}] = ${opt[i]}`, `min[${i}] = ${min[i]}`, [
        'Order each dimension min <= opt <= max.',
      ]);
    }
    if (opt[i]! > max[i]!) {
      throw badOption(`${where}.max`, `${where}: opt exceeds max in dimension ${i}.`, `max[${i}] >= opt[${i}] = ${opt[i]}`, `max[${i}] = ${max[i]}`, [
        'Order each dimension min <= opt <= max.',
      ]);
    }
  }
  return { min: [...min], opt: [...opt], max: [...max] };
}

/** Structural checks that need no model: types, ranges, ordering. */
export function checkBuildOptions(options: BuildEngineOptions): void {
  if (options === null || typeof options !== 'object') throw badOption('options', 'options must be an object.', 'an object', options);
  const o = options;
  if (o.precision !== undefined && !PRECISIONS.includes(o.precision)) {
    throw badOption('precision', 'unknown precision.', PRECISIONS.join(' | '), o.precision);
  }
  if (o.int8Route !== undefined && !INT8_ROUTES.includes(o.int8Route)) {
    throw badOption('int8Route', 'unknown INT8 route.', INT8_ROUTES.join(' | '), o.int8Route);
  }
  if (o.stronglyTyped !== undefined && typeof o.stronglyTyped !== 'boolean') {
    throw badOption('stronglyTyped', 'stronglyTyped must be a boolean.', 'true | false', o.stronglyTyped);
  }
  if (o.stronglyTyped && (o.precision === 'fp16' || o.precision === 'best')) {
    throw badOption('precision', `a strongly typed build takes its precisions from the model, so precision '${o.precision}' has no meaning there.`, "'fp32' or 'int8'", o.precision, [
      "Convert the model to FP16 first (convertToFp16 from 'trt-int8', or onnxconverter_common in Python) and build it with precision 'fp32' (or 'int8' for its Q/DQ regions).",
      'Leave stronglyTyped out on TensorRT 10.x to let the builder choose FP16 kernels.',
    ]);
  }
  if (o.stronglyTyped && o.int8Route !== undefined && o.int8Route !== 'qdq') {
    throw badOption('int8Route', `a strongly typed build reads INT8 only from Q/DQ nodes; int8Route '${o.int8Route}' needs a weakly typed network.`, "'qdq'", o.int8Route, ['Leave int8Route out, or leave stronglyTyped out.']);
  }
  if (o.profiles !== undefined) {
    if (!Array.isArray(o.profiles)) throw badOption('profiles', 'profiles must be an array.', '[{ inputName: { min, opt, max } }]', o.profiles);
    o.profiles.forEach((profile: unknown, p) => {
      if (profile === null || typeof profile !== 'object' || Array.isArray(profile)) {
        throw badOption(`profiles[${p}]`, `profiles[${p}] must map input names to { min, opt, max }.`, '{ inputName: { min, opt, max } }', profile);
      }
      for (const [name, range] of Object.entries(profile)) checkRange(`profiles[${p}].${name}`, range);
    });
  }
  if (o.fitToProfile !== undefined) {
    const fit = o.fitToProfile as { mode?: unknown } | null;
    if (fit === null || typeof fit !== 'object' || Array.isArray(fit) || (fit.mode !== undefined && !['pad', 'truncate', 'pad-or-truncate'].includes(fit.mode as string))) {
      throw badOption('fitToProfile', 'fitToProfile must be fitCalibratorToProfile options.', "{ mode?: 'pad' | 'truncate' | 'pad-or-truncate', padValue?, align?, onReport? }", o.fitToProfile);
    }
  }
  if (o.calibrationProfile !== undefined) {
    if (o.calibrationProfile === null || typeof o.calibrationProfile !== 'object' || Array.isArray(o.calibrationProfile)) {
      throw badOption('calibrationProfile', 'calibrationProfile must map input names to one shape each.', '{ inputName: number[] }', o.calibrationProfile);
    }
    for (const [name, dims] of Object.entries(o.calibrationProfile)) {
      if (!isDims(dims) || dims.some((d) => d < 1)) {
        throw badOption(`calibrationProfile.${name}`, `calibrationProfile.${name} must be a fixed shape.`, 'a list of positive integers', dims);
      }
    }
  }
  if (o.workspace !== undefined && (!Number.isSafeInteger(o.workspace) || o.workspace < 1)) {
    throw badOption('workspace', 'workspace is the workspace pool limit in bytes.', 'a positive integer, e.g. 2 ** 30', o.workspace);
  }
  if (o.timingCache !== undefined && (typeof o.timingCache !== 'string' || o.timingCache.length === 0)) {
    throw badOption('timingCache', 'timingCache is the path of a timing cache file.', 'a non-empty file path', o.timingCache);
  }
  if (o.builderOptimizationLevel !== undefined && (!Number.isInteger(o.builderOptimizationLevel) || o.builderOptimizationLevel < 0 || o.builderOptimizationLevel > 5)) {
    throw badOption('builderOptimizationLevel', 'builderOptimizationLevel is out of range.', 'an integer 0..5', o.builderOptimizationLevel);
  }
  if (o.exclude !== undefined) checkExclusion(o.exclude);
  if (o.layerPrecisions !== undefined) checkLayerPrecisions(o.layerPrecisions, o.precision ?? 'fp32', o.stronglyTyped === true);
  if (o.precisionConstraints !== undefined && o.precisionConstraints !== 'prefer' && o.precisionConstraints !== 'obey') {
    throw badOption('precisionConstraints', 'unknown precisionConstraints.', "'prefer' | 'obey'", o.precisionConstraints);
  }
  if (o.precisionConstraints !== undefined && o.layerPrecisions === undefined && o.exclude === undefined) {
    throw badOption('precisionConstraints', 'precisionConstraints says how TensorRT treats layerPrecisions and exclude, and neither is given.', 'layerPrecisions or exclude beside it', o.precisionConstraints, [
      "Ask for precisions: { layerPrecisions: { '*': 'int8' }, precisionConstraints: 'obey' }",
    ]);
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw badOption('onProgress', 'onProgress must be a function.', 'a function', typeof o.onProgress);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw badOption('signal', 'signal must be an AbortSignal.', 'an AbortSignal', typeof o.signal);
  if (o.logger !== undefined) {
    if (o.logger === null || typeof o.logger !== 'object') throw badOption('logger', 'logger must be an object of per-severity functions.', '{ error?, warning?, info?, verbose? }', o.logger);
    for (const level of LOGGER_LEVELS) {
      const fn = (o.logger as Record<string, unknown>)[level];
      if (fn !== undefined && typeof fn !== 'function') throw badOption(`logger.${level}`, `logger.${level} must be a function.`, 'a function', typeof fn);
    }
  }
  if (o.calibrator !== undefined && (o.calibrator === null || typeof o.calibrator !== 'object' || typeof (o.calibrator as { getBatch?: unknown }).getBatch !== 'function')) {
    throw badOption('calibrator', 'calibrator must be a Calibrator (e.g. a subclass of EntropyCalibrator2).', 'an object with getBatch()', o.calibrator);
  }
}

function checkLayerPrecisions(layerPrecisions: unknown, precision: Precision, stronglyTyped: boolean): void {
  if (layerPrecisions === null || typeof layerPrecisions !== 'object' || Array.isArray(layerPrecisions)) {
    throw badOption('layerPrecisions', 'layerPrecisions must map ONNX node names (or "*") to a precision.', "{ [nodeName | '*']: 'int8' | 'fp16' | 'fp32' }", layerPrecisions, [
      "Ask INT8 of every layer that has an INT8 kernel: { layerPrecisions: { '*': 'int8' } }",
    ]);
  }
  if (stronglyTyped) {
    throw badOption('layerPrecisions', 'a strongly typed build takes every precision from the model, so layerPrecisions has no meaning there.', 'no layerPrecisions with stronglyTyped', layerPrecisions, [
      'Leave stronglyTyped out, or put the precision into the model (Q/DQ nodes, convertToFp16).',
    ]);
  }
  for (const [name, wanted] of Object.entries(layerPrecisions)) {
    if (name === '') throw badOption('layerPrecisions', 'layerPrecisions has an empty node name.', 'an ONNX node name or "*"', name);
    if (!LAYER_PRECISIONS.includes(wanted as LayerPrecisionChoice)) {
      throw badOption(`layerPrecisions.${name}`, `layerPrecisions.${name} is not a layer precision.`, LAYER_PRECISIONS.join(' | '), wanted);
    }
    const allowedBy = ALLOWED_BY[wanted as LayerPrecisionChoice];
    if (!allowedBy.includes(precision)) {
      throw badOption(`layerPrecisions.${name}`, `layerPrecisions asks '${wanted}' of "${name}", which precision '${precision}' does not enable.`, `precision ${allowedBy.map((p) => `'${p}'`).join(' or ')}`, precision, [
        `Build with precision '${wanted === 'fp32' ? 'fp32' : 'best'}' (TensorRT picks among the precisions the build enables).`,
      ]);
    }
  }
}

function checkExclusion(exclude: PrecisionExclusion): void {
  if (exclude === null || typeof exclude !== 'object' || Array.isArray(exclude)) {
    throw badOption('exclude', 'exclude must be { names?, opTypes? }.', '{ names?: string[], opTypes?: string[] }', exclude, [
      'Keep nodes in higher precision by name: { exclude: { names: ["/head/Gemm"] } }, or by op type: { exclude: { opTypes: ["Softmax"] } }',
    ]);
  }
  for (const key of ['names', 'opTypes'] as const) {
    const list = exclude[key];
    if (list !== undefined && (!Array.isArray(list) || list.some((s) => typeof s !== 'string' || s.length === 0))) {
      throw badOption(`exclude.${key}`, `exclude.${key} must be a list of non-empty strings.`, 'string[]', list);
    }
  }
}

export interface ModelCheckResult {
  readonly profiles: OptimizationProfile[];
  /** Fixed shape per input for calibration (dynamic models) or the model's static shapes. */
  readonly calibrationShapes: Record<string, number[]>;
  readonly dynamic: boolean;
  /** ONNX node names the exclusion selects (names and op types resolved). */
  readonly excludedNodes: string[];
  /** layerPrecisions with each node name as TensorRT names its layer ('*' kept). */
  readonly layerPrecisions: { layer: string; precision: LayerPrecisionChoice }[];
}

/** The name TensorRT's ONNX parser gives a node's layer: the node name, or "node_of_<first output>". */
export function layerNameOf(node: Pick<OnnxNode, 'name' | 'outputs'>): string {
  return node.name !== '' ? node.name : `node_of_${node.outputs[0] ?? ''}`;
}

/** Checks the options against the model's inputs and nodes. */
export function checkAgainstModel(options: BuildEngineOptions, inputs: readonly InputSpec[], nodes: readonly OnnxNode[]): ModelCheckResult {
  const byName = new Map(inputs.map((i) => [i.name, i]));
  const names = inputs.map((i) => i.name);
  const profiles = (options.profiles ?? []).map((p) => ({ ...p }) as OptimizationProfile);
  const dynamicInputs = inputs.filter((i) => i.shape.some((d) => d < 0));
  const dynamic = dynamicInputs.length > 0;

  profiles.forEach((profile, p) => {
    for (const [name, range] of Object.entries(profile)) {
      const spec = byName.get(name);
      if (!spec) {
        throw badOption(`profiles[${p}].${name}`, `profiles[${p}] names input "${name}", which the model does not have.`, names, name, [
          `Use the model's input names: ${names.join(', ')}`,
        ]);
      }
      {
        if (spec.shape.length !== range.opt.length) {
          throw badOption(`profiles[${p}].${name}`, `profiles[${p}].${name} has the wrong rank.`, `rank ${spec.shape.length} (${JSON.stringify(spec.shape)})`, `rank ${range.opt.length}`);
        }
        spec.shape.forEach((d, i) => {
          if (d > 0 && (range.min[i] !== d || range.opt[i] !== d || range.max[i] !== d)) {
            throw badOption(`profiles[${p}].${name}`, `profiles[${p}].${name}: dimension ${i} is fixed at ${d} in the model.`, `${d} for min, opt and max`, { min: range.min[i], opt: range.opt[i], max: range.max[i] });
          }
        });
      }
    }
    for (const spec of dynamicInputs) {
      if (!(spec.name in profile)) {
        throw badOption(`profiles[${p}]`, `profiles[${p}] leaves out the dynamic input "${spec.name}".`, `a range for ${spec.name} ${JSON.stringify(spec.shape)}`, Object.keys(profile), [
          `Add ${spec.name}: { min, opt, max } to every profile.`,
        ]);
      }
    }
  });
  if (dynamic && profiles.length === 0) {
    throw badOption('profiles', 'the model has dynamic inputs, so buildEngine needs at least one optimization profile.',
      dynamicInputs.map((i) => `${i.name}: { min, opt, max }`), 'no profiles', [
        `e.g. profiles: [{ ${dynamicInputs[0]!.name}: { min: [1, ...], opt: [32, ...], max: [64, ...] } }]`,
      ]);
  }

  const calibrationShapes: Record<string, number[]> = {};
  for (const spec of inputs) {
    const given = options.calibrationProfile?.[spec.name];
    const fromProfile = profiles[0]?.[spec.name]?.opt;
    const shape = given ? [...given] : fromProfile ? [...fromProfile] : spec.shape.every((d) => d > 0) ? [...spec.shape] : undefined;
    if (!shape) continue;
    if (given) {
      const range = profiles[0]?.[spec.name];
      if (range && (given.length !== range.opt.length || given.some((d, i) => d < range.min[i]! || d > range.max[i]!))) {
        throw badOption(`calibrationProfile.${spec.name}`, `calibrationProfile.${spec.name} lies outside profiles[0].`, `within ${JSON.stringify(range.min)} .. ${JSON.stringify(range.max)}`, given);
      }
    }
    calibrationShapes[spec.name] = shape;
  }
  for (const name of Object.keys(options.calibrationProfile ?? {})) {
    if (!byName.has(name)) throw badOption(`calibrationProfile.${name}`, `calibrationProfile names input "${name}", which the model does not have.`, names, name);
  }

  const excludedNodes: string[] = [];
  if (options.exclude) {
    const wantedNames = new Set(options.exclude.names ?? []);
    const wantedTypes = new Set(options.exclude.opTypes ?? []);
    const seenNames = new Set<string>();
    const seenTypes = new Set<string>();
    for (const node of nodes) {
      const byNodeName = wantedNames.has(node.name);
      const byType = wantedTypes.has(node.opType);
      if (byNodeName) seenNames.add(node.name);
      if (byType) seenTypes.add(node.opType);
      if (byNodeName || byType) excludedNodes.push(layerNameOf(node));
    }
    const missingNames = [...wantedNames].filter((n) => !seenNames.has(n));
    if (missingNames.length) {
      throw badOption('exclude.names', 'exclude names nodes the model does not have.', 'ONNX node names of the model', missingNames, [
        `Some node names of the model: ${nodes.slice(0, 8).map((n) => n.name || `(unnamed ${n.opType})`).join(', ')}`,
      ]);
    }
    const missingTypes = [...wantedTypes].filter((t) => !seenTypes.has(t));
    if (missingTypes.length) {
      throw badOption('exclude.opTypes', 'exclude names op types that occur nowhere in the model.', [...new Set(nodes.map((n) => n.opType))], missingTypes);
    }
  }
  return { profiles, calibrationShapes, dynamic, excludedNodes, layerPrecisions: layerPrecisionsOf(options, nodes) };
}

/** layerPrecisions by TensorRT layer name; a name the model does not have is a mistake, not a silent no-op. */
function layerPrecisionsOf(options: BuildEngineOptions, nodes: readonly OnnxNode[]): { layer: string; precision: LayerPrecisionChoice }[] {
  const wanted = Object.entries(options.layerPrecisions ?? {});
  const byName = new Map(nodes.map((node) => [node.name, node]));
  const missing = wanted.map(([name]) => name).filter((name) => name !== '*' && !byName.has(name));
  if (missing.length) {
    throw badOption('layerPrecisions', 'layerPrecisions names nodes the model does not have.', 'ONNX node names of the model, or "*"', missing, [
      `Some node names of the model: ${nodes.slice(0, 8).map((n) => n.name || `(unnamed ${n.opType})`).join(', ')}`,
      'trt-int8 inspect model.onnx lists them all.',
    ]);
  }
  return wanted.map(([name, precision]) => ({ layer: name === '*' ? '*' : layerNameOf(byName.get(name)!), precision }));
}
