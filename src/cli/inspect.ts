/**
 * `trt-int8 inspect <model.onnx | engine>`: an ONNX model's inputs, outputs and nodes (no TensorRT needed),
 * or an engine's layers with precision, tactic and source ONNX nodes (TensorRT's engine inspector).
 */
import path from 'node:path';
import { OnnxModel } from '../onnx/index.js';
import { Engine } from '../tensorrt/index.js';
import { UsageError, parseFlags, requireExisting } from './args.js';
import { formatEngineSummary, summarizeEngine } from './engine-layers.js';
import { EXIT_OK, runCommand, type CliIO } from './io.js';
import { formatOnnxSummary, summarizeOnnx } from './onnx-summary.js';

export const INSPECT_USAGE = `Usage: trt-int8 inspect <model.onnx | model.engine> [--json]

For an ONNX model (.onnx): its inputs and outputs (names, dtypes, shapes), op types and every node's name
and op type, which --exclude of calibrate and build takes. Needs no TensorRT.
For a TensorRT engine (any other file): every layer with its type, precision, tactic and the ONNX nodes it
came from (TensorRT's engine inspector), and how many layers run in each precision. Needs TensorRT.

Options:
  --json                 print the result as JSON
  --tensorrt <folder>    the TensorRT to load engines with (default: the first one found, see trt-int8 doctor)
  --help                 show this help

Exit codes: 0 done, 1 failed (e.g. ERR_TENSORRT_NOT_FOUND), 2 command-line mistake.`;

const INSPECT_FLAGS = {
  json: { type: 'boolean', default: false },
  tensorrt: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

async function inspectFile(file: string, tensorrtRoot: string | undefined) {
  if (path.extname(file).toLowerCase() === '.onnx') {
    return { summary: summarizeOnnx(await OnnxModel.load(file), file), format: formatOnnxSummary };
  }
  const engine = await Engine.load(file, tensorrtRoot ? { tensorrt: { root: tensorrtRoot } } : {});
  try {
    return { summary: summarizeEngine(engine.inspect(), file), format: formatEngineSummary };
  } finally {
    engine.dispose();
  }
}

/** Runs `trt-int8 inspect` with `argv` (the arguments after "inspect"). Resolves to the exit code. */
export async function runInspectCommand(argv: readonly string[], io: CliIO): Promise<number> {
  return runCommand(io, INSPECT_USAGE, async () => {
    const { values, positionals } = parseFlags(argv, INSPECT_FLAGS);
    if (values.help) {
      io.stdout(INSPECT_USAGE);
      return EXIT_OK;
    }
    if (positionals.length !== 1) throw new UsageError(`expected one model or engine path, got ${positionals.length}.`, { input: 'file', expected: 'one path', actual: positionals });
    const file = positionals[0]!;
    requireExisting(file, 'file');
    const { summary, format } = await inspectFile(file, values.tensorrt);
    io.stdout(values.json ? JSON.stringify(summary, null, 2) : (format as (s: typeof summary) => string)(summary));
    return EXIT_OK;
  });
}
