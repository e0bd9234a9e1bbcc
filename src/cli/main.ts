// trt-int8 command line: dispatches to the subcommands beside this file.
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../native/index.js';
import { runDoctor, type CliIO } from './doctor.js';
import { runCalibrateCommand } from './calibrate.js';
import { runEvaluateCommand } from './evaluate.js';

interface Command {
  readonly summary: string;
  readonly run: (args: readonly string[], io: CliIO) => Promise<number>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  doctor: { summary: 'report what this machine can run (addon, CUDA, TensorRT, back ends)', run: runDoctor },
  calibrate: { summary: 'calibrate an ONNX model on .npy/.npz data: TensorRT cache, Q/DQ model, JSON', run: (args, io) => runCalibrateCommand(args, io) },
  evaluate: { summary: 'compare a quantized model with the float one (top-1, accuracy, per-layer SQNR)', run: (args, io) => runEvaluateCommand(args, io) },
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
  ].join('\n');
}

export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
    io.stdout(pkg.version);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    io.stderr(`trt-int8: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return command.run(rest, io);
}

const io: CliIO = {
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
};

runCli(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`trt-int8: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
