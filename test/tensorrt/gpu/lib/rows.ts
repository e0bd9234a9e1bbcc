/**
 * Independent, named rows for the GPU scripts: each row runs on its own (a failure is recorded and the next row
 * runs), `--only a,b` picks a subset, and the result is one table on stdout plus JSON for docs/.
 */
import os from 'node:os';
import path from 'node:path';
import { TrtInt8Error, resolveTensorRT, writeFileAtomic } from '../../../../src/index.js';

export interface RowOutcome {
  readonly pass: boolean;
  /** Why it passed or failed, in one line (the numbers the verdict rests on). */
  readonly reason: string;
  readonly details?: Record<string, unknown>;
}

export interface Row<Context> {
  readonly name: string;
  /** What the row shows, for --list and the JSON. */
  readonly what: string;
  readonly run: (ctx: Context) => Promise<RowOutcome>;
}

export interface RowResult extends RowOutcome {
  readonly name: string;
  readonly what: string;
  readonly seconds: number;
}

/** A thrown error as JSON-friendly data: our typed errors keep their code, input, expected and actual. */
export function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof TrtInt8Error) {
    return { code: error.code, message: error.message.split('\n')[0], input: error.input, expected: error.expected, actual: error.actual };
  }
  if (error instanceof Error) return { name: error.name, message: error.message.split('\n')[0] };
  return { thrown: String(error) };
}

/** The rows named in `only` (all when empty), in the order given by `rows`; unknown names are an error up front. */
export function selectRows<C>(rows: readonly Row<C>[], only: readonly string[]): Row<C>[] {
  if (only.length === 0) return [...rows];
  const known = new Set(rows.map((r) => r.name));
  const unknown = only.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new TrtInt8Error('ERR_BAD_OPTION', `Unknown row(s): ${unknown.join(', ')}.`, {
      input: '--only',
      expected: [...known].join(', '),
      actual: only.join(','),
      fixes: ['Run with --list to see the rows.'],
    });
  }
  return rows.filter((r) => only.includes(r.name));
}

/**
 * Runs the rows one after the other; every row gets a verdict, whatever the others did. `onResult` sees the
 * results so far after each row (to write them out: a command killed at its time limit keeps what it finished).
 */
export async function runRows<C>(rows: readonly Row<C>[], ctx: C, log: (line: string) => void = console.log, onResult?: (soFar: readonly RowResult[]) => Promise<void>): Promise<RowResult[]> {
  const results: RowResult[] = [];
  for (const row of rows) {
    const started = performance.now();
    log(`-- ${row.name}: ${row.what}`);
    let outcome: RowOutcome;
    try {
      outcome = await row.run(ctx);
    } catch (error) {
      outcome = { pass: false, reason: `threw: ${describeError(error).code ?? ''} ${describeError(error).message ?? String(error)}`.trim(), details: { error: describeError(error) } };
    }
    const result = { name: row.name, what: row.what, seconds: Math.round(performance.now() - started) / 1000, ...outcome };
    log(`   ${result.pass ? 'PASS' : 'FAIL'} (${result.seconds.toFixed(1)} s) ${result.reason}`);
    results.push(result);
    await onResult?.(results);
  }
  return results;
}

/** One fixed-width table: row, verdict, seconds, reason. */
export function formatTable(results: readonly RowResult[]): string {
  const width = Math.max(4, ...results.map((r) => r.name.length));
  const lines = [`${'row'.padEnd(width)}  verdict  seconds  reason`, `${'-'.repeat(width)}  -------  -------  ------`];
  for (const r of results) lines.push(`${r.name.padEnd(width)}  ${r.pass ? 'pass   ' : 'FAIL   '}  ${r.seconds.toFixed(1).padStart(7)}  ${r.reason}`);
  const failed = results.filter((r) => !r.pass).length;
  lines.push(`${results.length - failed} of ${results.length} rows passed`);
  return lines.join('\n');
}

/** Where results go: --out FILE, else $OUT/<defaultName> on the GPU machine, else the current folder. */
export function resultPath(out: string | undefined, defaultName: string): string {
  if (out) return path.resolve(out);
  return path.resolve(process.env.OUT ?? '.', defaultName);
}

/** The environment a result was measured in, recorded next to every result. */
export function runEnvironment(): Record<string, unknown> {
  return {
    date: new Date().toISOString(),
    node: process.version,
    host: os.hostname(),
    cpus: os.cpus().length,
    tensorrtRoot: process.env.TENSORRT_ROOT ?? null,
    ldLibraryPathHasTensorRT: Boolean(process.env.TENSORRT_ROOT && (process.env.LD_LIBRARY_PATH ?? '').split(':').includes(process.env.TENSORRT_ROOT)),
  };
}

export async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * For the GPU scripts: false (after printing the reason and writing it as the result JSON to `out`) when no
 * TensorRT can be found, so that a run without TensorRT ends at once with a record of why.
 */
export async function tensorRTFound(out: string): Promise<boolean> {
  try {
    resolveTensorRT(undefined);
    return true;
  } catch (error) {
    console.error(`No TensorRT: ${JSON.stringify(describeError(error))}`);
    await writeJson(out, { environment: runEnvironment(), error: describeError(error) });
    return false;
  }
}

/** "a,b , c" -> ['a', 'b', 'c']. */
export function splitList(text: string | undefined): string[] {
  return (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** Runs a script's main() and exits with its code; an uncaught error prints and exits 1. */
export function exitWith(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
