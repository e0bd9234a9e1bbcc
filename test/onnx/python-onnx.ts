/**
 * The Python `onnx` package, when installed, gives real exported models (its backend test data,
 * serialized by the C++ protobuf runtime) and an independent checker. Tests that need it skip
 * with a message when it is absent.
 */
import { spawnSync } from 'node:child_process';

function probe(): string | undefined {
  const result = spawnSync('python3', ['-c', 'import onnx, os; print(os.path.dirname(onnx.__file__))'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/** Folder of the installed onnx package, or undefined. */
export const pythonOnnxDir = probe();

export const pythonOnnxMissing = 'python3 with the `onnx` package is not installed (pip install onnx) - skipped';

/** onnx.checker.check_model(full_check=True) on model files, in one Python process: file -> '' or the error. */
export function checkWithPythonOnnx(files: readonly string[]): Record<string, string> {
  const script = [
    'import json, onnx, sys',
    'out = {}',
    'for f in sys.argv[1:]:',
    '    try:',
    '        onnx.checker.check_model(onnx.load(f), full_check=True)',
    '        out[f] = ""',
    '    except Exception as e:',
    '        out[f] = str(e)',
    'print(json.dumps(out))',
  ].join('\n');
  const result = spawnSync('python3', ['-c', script, ...files], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`python3 failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, string>;
}
