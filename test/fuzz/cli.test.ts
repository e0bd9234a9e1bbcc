/**
 * Fuzz tests (issue #12.13): the CLI's argument parsing. Random and mutated argument vectors for calibrate,
 * evaluate, build, inspect and doctor run through the in-process entry (runCli with a capturing CliIO). The
 * only allowed outcomes are exit 0, 1 or 2 with a message, where a failure is a typed one ("error [CODE]: ...",
 * not the "error: <stack>" of an untyped throw); an exception out of runCli, or one case over its time bound,
 * fails, naming the seed and the case index. Fixed seed: the same vectors on every run.
 *
 * No real data work: the only readable data is a 2-sample .npy for a tiny model, so that a vector that happens
 * to be valid calibrates in milliseconds; every other path is missing, garbage, an empty folder or unwritable.
 * The cases run with the temp folder as the current directory, so relative output paths land there.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, npyBytes, tempDir } from '../cli/helpers.js';
import { fileURLToPath } from 'node:url';
import { cnnModel } from '../onnx/models.js';
import { randomValues } from '../onnx/helpers.js';
import { seeded, type Random } from './mutate.js';

const imageFixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '../images/fixtures');
const SEED = 20261201;
const CASES = 1000;
/** One CLI run must finish within this. */
const BOUND_MS = 3_000;

const pick = <T>(items: readonly T[], random: Random): T => items[Math.floor(random() * items.length)]!;

const COMMANDS = ['calibrate', 'evaluate', 'build', 'inspect', 'doctor'] as const;
type CommandName = (typeof COMMANDS)[number];

const IMAGE_FLAGS = ['image-size', 'resize', 'channels', 'layout', 'scale', 'mean', 'std', 'seed', 'decoder', 'strict'];
const FLAGS: Record<CommandName, readonly string[]> = {
  calibrate: ['data', 'algorithm', 'percentile', 'batch', 'limit', 'cache', 'qdq', 'json', 'recalibrate', 'non-finite', 'trt-version', 'exclude', 'max-output-mb', 'cpu', 'help', ...IMAGE_FLAGS],
  evaluate: ['data', 'labels', 'output', 'batch', 'limit', 'layers', 'max-output-mb', 'json', 'cpu', 'help', ...IMAGE_FLAGS],
  build: [
    'output', 'fp16', 'int8', 'best', 'data', 'cache', 'algorithm', 'percentile', 'batch', 'limit', 'non-finite', 'profile',
    'calibration-profile', 'exclude', 'timing-cache', 'workspace', 'opt-level', 'tensorrt', 'verbose', 'help', ...IMAGE_FLAGS,
  ],
  inspect: ['json', 'tensorrt', 'help'],
  doctor: ['json', 'help'],
};
// --cuda is left out: onnxruntime prints its provider-loading failure to stderr natively on CPU-only machines.
const BOOLEAN_FLAGS = new Set(['recalibrate', 'cuda', 'cpu', 'help', 'fp16', 'int8', 'best', 'verbose', 'strict', 'json']);
/** Flags whose value is a path (json is a path for calibrate/evaluate, a boolean for inspect/doctor). */
const PATH_FLAGS = new Set(['data', 'labels', 'cache', 'qdq', 'json', 'output', 'timing-cache', 'tensorrt']);

const NUMBERS = ['0', '1', '2', '-1', '-0', '0.5', '1e309', '-1e309', 'NaN', 'Infinity', '1/0', '0/0', '1/127.5', '99999999999999999999', '2147483648', '4294967297', '1e-320', '0x10', '3.7', '', ' ', 'abc', '1,2', '1e3'];
const WORDS = [
  'entropy', 'entropy2', 'minmax', 'percentile', 'legacy', 'auto', 'mse', 'error', 'warn', 'allow', 'nchw', 'nhwc', 'rgb', 'bgr', 'gray', '1',
  '3', '224x224', '8x8', '0x0', '-1x8', 'x', 'fill', 'crop', 'stretch', 'pad', 'sharp', 'builtin', '10.6.0', '11.1', '8.6.1', '99999.0.0', 'a.b.c',
  'conv1_node', 'fc_node,relu1_node', ',', '0.485,0.456,0.406', '0.229,0,0.225', '1,2,3,4', '=', '--', '-', '\u0000', '\u00e9\u6f22', 'a'.repeat(300),
  'input:1x3x8x8,2x3x8x8,4x3x8x8', 'input:1x3x8x8', 'input:4x3x8x8,2x3x8x8,1x3x8x8', 'input:1x3x8x8,1x3x8,1x3x8x8', 'input:0x3x8x8,0x3x8x8,0x3x8x8',
  'nope:1x3x8x8,1x3x8x8,1x3x8x8', 'input:-1x3x8x8,1x3x8x8,1x3x8x8', 'input:99999999x3x8x8,99999999x3x8x8,99999999x3x8x8', 'input:', ':1x2', 'input:1x3x8x8,',
];

interface Workspace {
  readonly dir: string;
  /** Existing inputs: the tiny model, its 2-sample data, garbage, an empty folder, ... */
  readonly inputs: readonly string[];
  /** Where outputs may go: new files in the temp folder, a missing folder, a folder, an input file. */
  readonly outputs: readonly string[];
}

function workspace(): Workspace {
  const dir = tempDir('trt-int8-fuzz-cli-');
  const file = (name: string, bytes: Uint8Array | string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, bytes);
    return p;
  };
  // input [batch, 3, 8, 8] -> logits [batch, 10]: calibrating it on 2 samples takes milliseconds.
  const model = file('model.onnx', cnnModel().bytes);
  const data = file('data.npy', npyBytes(randomValues(2 * 3 * 8 * 8, 3, 1), [2, 3, 8, 8]));
  const labels = file('labels.npy', npyBytes(Int32Array.of(1, 7), [2]));
  const wrongShape = file('wrong.npy', npyBytes(randomValues(2 * 5, 4, 1), [2, 5]));
  const garbage = file('garbage.onnx', Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff));
  const empty = file('empty.npy', new Uint8Array(0));
  const list = file('list.txt', `${data}\nmissing.npy\n`);
  const folder = path.join(dir, 'images');
  fs.mkdirSync(folder);
  fs.writeFileSync(path.join(folder, 'not-an-image.png'), 'not a png');
  for (const name of ['rgb.png', 'gray.png']) fs.copyFileSync(path.join(imageFixtures, name), path.join(folder, name));
  return {
    dir,
    inputs: [model, data, labels, wrongShape, garbage, empty, list, folder, path.join(dir, 'missing.onnx'), '/nonexistent/x.npy', '', '.'],
    outputs: ['out.cache', 'out.qdq.onnx', 'out.json', 'out.engine', path.join(dir, 'out2.cache'), '/nonexistent/dir/out', folder, data, 'same', 'same', ''],
  };
}

function flagValue(flag: string, command: CommandName, ws: Workspace, random: Random): string {
  const r = random();
  if (PATH_FLAGS.has(flag) && !(flag === 'json' && (command === 'inspect' || command === 'doctor'))) {
    if (r < 0.9) return pick(['data', 'labels'].includes(flag) || flag === 'tensorrt' ? ws.inputs : [...ws.outputs, ...ws.inputs], random);
  }
  return r < 0.5 ? pick(NUMBERS, random) : pick(WORDS, random);
}

/** A plausible vector: the command, its positionals from the workspace, then random flags with values. */
function generate(ws: Workspace, random: Random): string[] {
  const command = pick(COMMANDS, random);
  const argv: string[] = [command];
  const positionals = command === 'evaluate' ? 2 : command === 'doctor' ? 0 : 1;
  for (let i = 0; i < positionals; i++) if (random() < 0.9) argv.push(pick(ws.inputs.slice(0, 5), random));
  const flagCount = Math.floor(random() * 7);
  const known = FLAGS[command];
  for (let i = 0; i < flagCount; i++) {
    const r = random();
    const flag = r < 0.85 ? pick(known, random) : r < 0.95 ? pick(FLAGS.build, random) : pick(['nope', 'dta', 'h', 'limt', 'x'], random);
    const spelled = flag.length === 1 || (flag === 'help' && random() < 0.3) ? `-${flag[0]}` : `--${flag}`;
    if (BOOLEAN_FLAGS.has(flag) && !(flag === 'json' && command !== 'inspect' && command !== 'doctor')) {
      argv.push(random() < 0.9 ? spelled : `${spelled}=${pick(['true', 'false', '1', ''], random)}`);
    } else {
      const value = flagValue(flag, command, ws, random);
      if (random() < 0.2) argv.push(`${spelled}=${value}`);
      else if (random() < 0.95) argv.push(spelled, value);
      else argv.push(spelled); // value missing
    }
  }
  if (command === 'calibrate' && random() < 0.5) argv.push('--limit', pick(['1', '2'], random));
  return argv;
}

/** Values each flag accepts (and a few near misses), for vectors that get past parsing. */
const PLAUSIBLE: Record<string, readonly string[]> = {
  algorithm: ['entropy2', 'minmax', 'percentile', 'legacy', 'entropy', 'auto', 'Entropy2'],
  percentile: ['99.9', '100', '50', '0'],
  batch: ['1', '2', '32', '4096', '99999999999', '2147483648'],
  limit: ['1', '2', '0'],
  cache: ['out.cache', 'same'],
  qdq: ['out.qdq.onnx', 'same'],
  json: ['out.json', 'same'],
  output: ['out.engine', 'out.json'],
  'non-finite': ['error', 'warn', 'allow'],
  'trt-version': ['10.6.0', '8.6.1', '11.1.0'],
  exclude: ['conv1_node', 'fc_node,conv1_node', 'nope'],
  'max-output-mb': ['1', '0.001', '1000'],
  layers: ['0', '3', '1000'],
  'image-size': ['8x8', '4x4', '8x8x8'],
  resize: ['stretch', 'letterbox', 'center-crop'],
  channels: ['rgb', 'bgr', 'gray'],
  layout: ['nchw', 'nhwc'],
  scale: ['1/255', '1'],
  mean: ['0.5', '0.485,0.456,0.406'],
  std: ['0.5', '0.229,0.224,0.225', '0'],
  seed: ['1', '-1'],
  decoder: ['js', 'sharp'],
  profile: ['input:1x3x8x8,2x3x8x8,4x3x8x8'],
  'calibration-profile': ['input:2x3x8x8'],
  workspace: ['64'],
  'opt-level': ['0', '3'],
};

/** A vector close to a real run on the tiny model (most reach loading, calibration or evaluation). */
function plausible(ws: Workspace, random: Random): string[] {
  const [model, data, labels] = ws.inputs as [string, string, string];
  const folder = ws.inputs[7]!;
  const command = pick(['calibrate', 'calibrate', 'evaluate', 'build', 'inspect'] as const, random);
  const argv: string[] =
    command === 'calibrate' ? ['calibrate', model, '--data', random() < 0.8 ? data : folder, '--limit', pick(['1', '2'], random), `--${pick(['qdq', 'cache', 'json'], random)}`, pick(['out.qdq.onnx', 'out.cache', 'out.json'], random)]
    : command === 'evaluate' ? ['evaluate', model, model, '--data', data, ...(random() < 0.5 ? ['--labels', labels] : [])]
    : command === 'build' ? ['build', model, '--output', 'out.engine', '--profile', 'input:1x3x8x8,2x3x8x8,2x3x8x8', ...(random() < 0.5 ? ['--int8', '--data', data] : ['--fp16'])]
    : ['inspect', model];
  if (argv.includes(folder)) argv.push('--image-size', '8x8');
  const known = FLAGS[command].filter((f) => f !== 'help' && f !== 'data');
  for (let i = Math.floor(random() * 4); i > 0; i--) {
    const flag = pick(known, random);
    if (BOOLEAN_FLAGS.has(flag) && !(flag === 'json' && command !== 'inspect')) argv.push(`--${flag}`);
    else argv.push(`--${flag}`, pick(PLAUSIBLE[flag] ?? NUMBERS, random));
  }
  return argv;
}

/** One to three mutations of a vector: drop, duplicate, swap, insert junk or "--", edit one argument's text. */
function mutateArgs(argv: string[], random: Random): string[] {
  const out = [...argv];
  const count = 1 + Math.floor(random() * 3);
  const at = () => Math.floor(random() * out.length);
  for (let k = 0; k < count && out.length > 0; k++) {
    const kind = Math.floor(random() * 7);
    if (kind === 0) out.splice(at(), 1);
    else if (kind === 1) {
      const i = at();
      out.splice(i, 0, out[i]!);
    } else if (kind === 2) {
      const [i, j] = [at(), at()];
      [out[i], out[j]] = [out[j]!, out[i]!];
    } else if (kind === 3) out.splice(at(), 0, pick(['--', '-', '--=', '---data', '-hx', pick(WORDS, random), pick(NUMBERS, random)], random));
    else if (kind === 4) {
      const i = at();
      const s = out[i]!;
      const c = Math.floor(random() * (s.length + 1));
      out[i] = random() < 0.5 ? s.slice(0, c) : s.slice(0, c) + String.fromCharCode(Math.floor(random() * 0x3000)) + s.slice(c);
    } else if (kind === 5) out[at()] = `-${out[at()]!}`;
    else if (kind === 6) out[0] = pick([...COMMANDS, 'calibrat', 'help', '--help', '--version', '-v', 'Calibrate', '', 'build\u0000'], random);
  }
  return out;
}

let ws: Workspace;
let cwd: string;

beforeAll(() => {
  ws = workspace();
  cwd = process.cwd();
  process.chdir(ws.dir);
});

afterAll(() => {
  process.chdir(cwd);
  fs.rmSync(ws.dir, { recursive: true, force: true });
});

describe('fuzz: CLI', () => {
  it('random and mutated argument vectors: exit 0/1/2 with a message, typed errors only, bounded time', async () => {
    const random = seeded(SEED);
    const failures: string[] = [];
    const codes = new Map<number, number>();
    for (let index = 0; index < CASES && failures.length < 5; index++) {
      let argv = random() < 0.5 ? plausible(ws, random) : generate(ws, random);
      if (random() < 0.4) argv = mutateArgs(argv, random);
      // Never a real engine build, even on a machine with TensorRT: the last --tensorrt wins, and it is missing.
      if (argv[0] === 'build') argv.push('--tensorrt', path.join(ws.dir, 'no-tensorrt'));
      const started = performance.now();
      const where = `seed ${SEED} case ${index} ${JSON.stringify(argv).slice(0, 400)}`;
      try {
        const run = await cli(argv);
        codes.set(run.code, (codes.get(run.code) ?? 0) + 1);
        if (![0, 1, 2].includes(run.code)) failures.push(`${where}: exit ${run.code}`);
        // A usage mistake may print the usage on stdout (no arguments at all); a failure says why on stderr.
        else if (run.code === 1 ? run.err.trim() === '' : run.out.trim() === '' && run.err.trim() === '') failures.push(`${where}: exit ${run.code} without a message`);
        else if (/^error: /m.test(run.err)) failures.push(`${where}: untyped error reached the user: ${run.err.slice(0, 600)}`);
      } catch (error) {
        failures.push(`${where}: runCli threw ${String((error as Error)?.stack ?? error).slice(0, 600)}`);
      }
      const ms = performance.now() - started;
      if (ms > BOUND_MS) failures.push(`${where}: took ${ms.toFixed(0)} ms (bound ${BOUND_MS})`);
    }
    expect(failures).toEqual([]);
    // The vectors reach every outcome: usage mistakes, failures, and some runs that succeed.
    expect([...codes.keys()].sort()).toEqual([0, 1, 2]);
  });
});
