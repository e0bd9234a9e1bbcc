/** Running the CLI's commands on real files with a fake CliIO, and the bundled Fashion-MNIST model. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/run.js';
import { npyBytes, randomValues, tempDir } from '../calibrate/helpers.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** [N, 1, 28, 28] float input "input", output "logits" [N, 10]. */
export const FASHION_MODEL = path.join(REPO, 'examples/fashion-mnist/model.onnx');

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
  /** What went to the progress stream (a terminal in `tty` runs). */
  readonly progress: string;
}

/** Runs `trt-int8 <argv>` in-process with captured output; `tty` makes the progress stream a terminal. */
export async function cli(argv: readonly string[], options: { tty?: boolean } = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const progress: string[] = [];
  const io = { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) };
  const stream = { isTTY: Boolean(options.tty), write: (t: string) => progress.push(t) };
  const code = await runCli(argv, io, stream);
  return { code, out: out.join('\n'), err: err.join('\n'), progress: progress.join('') };
}

/** A temp folder with a copy of the Fashion-MNIST model and `samples` random images as one .npy. */
export function fashionWorkspace(samples = 12, prefix = 'trt-int8-cli-'): { dir: string; model: string; data: string } {
  const dir = tempDir(prefix);
  const model = path.join(dir, 'model.onnx');
  fs.copyFileSync(FASHION_MODEL, model);
  const data = path.join(dir, 'data.npy');
  fs.writeFileSync(data, npyBytes(randomValues(samples * 28 * 28, 7, 1), [samples, 1, 28, 28]));
  return { dir, model, data };
}

export { npyBytes, tempDir };
