// trt-int8 command line: dispatches to the subcommands beside this file (main.ts wires it to the process).
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../native/index.js';
import { nearestOption } from './args.js';
import { runDoctor } from './doctor.js';
import { runCalibrateCommand } from './calibrate.js';
import { runEvaluateCommand } from './evaluate.js';
import { runBuildCommand } from './build.js';
import { runInspectCommand } from './inspect.js';
import { EXIT_OK, EXIT_USAGE, type CliIO, type ProgressStream } from './io.js';

interface Command {
  readonly summary: string;
  readonly run: (args: readonly string[], io: CliIO, progress?: ProgressStream) => Promise<number>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  doctor: { summary: 'report what this machine can run (addon, CUDA, TensorRT, back ends)', run: runDoctor },
  calibrate: { summary: 'calibrate an ONNX model on .npy/.npz data or images: TensorRT cache, Q/DQ model, JSON', run: runCalibrateCommand },
  evaluate: { summary: 'compare a quantized model with the float one (top-1, accuracy, per-layer SQNR)', run: runEvaluateCommand },
  build: { summary: 'build a TensorRT engine from an ONNX model: FP16, INT8 (calibration or cache), profiles (needs TensorRT)', run: runBuildCommand },
  inspect: { summary: "list an ONNX model's inputs, outputs and nodes, or an engine's layers with precision and tactic", run: runInspectCommand },
};

function usage(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length)) + 2;
  return [
    'Usage: trt-int8 <command> [options]',
    '',
    'Commands:',
    ...names.map((name) => `  ${name.padEnd(width)}${COMMANDS[name]!.summary}`),
    '',
    'Run "trt-int8 <command> --help" for the options of a command.',
    'Exit codes: 0 done, 1 failed, 2 command-line mistake, 130 interrupted.',
  ].join('\n');
}

/** Runs the command line `argv` (without node and the script). Resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIO, progress?: ProgressStream): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage());
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '--version' || name === '-v') {
    const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
    io.stdout(pkg.version);
    return EXIT_OK;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    const near = nearestOption(name, Object.keys(COMMANDS));
    io.stderr(`trt-int8: unknown command "${name}"${near ? ` (did you mean "${near}"?)` : ''}\n\n${usage()}`);
    return EXIT_USAGE;
  }
  return progress ? command.run(rest, io, progress) : command.run(rest, io);
}
