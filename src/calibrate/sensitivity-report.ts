/**
 * The sensitivity report of a calibration (issue #10.4): per tensor the range used (algorithm, amax) with the error
 * it causes (MSE, SQNR, share of values clipped), and every candidate range 'auto' weighs, from the histograms the
 * calibration collected. Written as DIR/report.json and as DIR/index.html, one self-contained page (inline SVG
 * histograms with the candidate ranges marked, no script, no external file) a person can open and read.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { TrtInt8Error } from '../core/errors.js';
import { writeFileAtomic } from '../core/files.js';
import { quantizationError, rangeReport, type RangeReportCandidate, type RangeReportTensor } from '../stats/index.js';
import type { CalibrationResult } from './result.js';
import { renderHistogramSvg } from './svg.js';

export const SENSITIVITY_REPORT_VERSION = 1;
export const REPORT_FILES = ['report.json', 'index.html'] as const;

export interface SensitivityTensor extends RangeReportTensor {
  /** The algorithm whose range the calibration used for this tensor, and that range. */
  readonly algorithm: string;
  readonly amax: number;
  /** The error of the range used, estimated on the histogram like the candidates'; sqnrDb null where the error is 0. */
  readonly used: Omit<RangeReportCandidate, 'method'>;
}

export interface SensitivityReport {
  readonly version: typeof SENSITIVITY_REPORT_VERSION;
  /** The calibration's algorithm (tensors may override it). */
  readonly algorithm: string;
  readonly samples: number;
  readonly criterion: string;
  /** In graph order. `chosen` is what 'auto' picks; `used` what this calibration used. */
  readonly tensors: readonly SensitivityTensor[];
  /** Tensor names by the SQNR of the range used, worst first. */
  readonly bySqnr: readonly string[];
  /** Tensors without a histogram (ranges read from a cache): nothing to measure. */
  readonly notMeasured: readonly string[];
}

/** The report data of a calibration result; ERR_BAD_OPTION when no tensor has a histogram (ranges read from a cache). */
export function sensitivityReport(result: CalibrationResult): SensitivityReport {
  const calibrated = [...result.tensors.values()];
  const measured = calibrated.filter((t) => t.histogram !== undefined);
  if (measured.length === 0) {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'sensitivity report: no tensor of this result has a histogram (its ranges were read from a cache), so there is nothing to measure.', {
      input: 'result',
      expected: 'a result calibrated from data',
      actual: `${calibrated.length} tensors, source ${result.summary.source}`,
      fixes: ['Calibrate from data (on the command line: --recalibrate).'],
    });
  }
  const ranges = rangeReport(measured.map((t) => t.histogram!));
  const tensors = ranges.tensors.map((r, i): SensitivityTensor => {
    const t = measured[i]!;
    const error = quantizationError(t.histogram!, t.amax);
    const used = { amax: t.amax, mse: error.mse, sqnrDb: Number.isFinite(error.sqnrDb) ? error.sqnrDb : null, clippedShare: error.clippedShare };
    return { ...r, algorithm: (t.algorithm ?? result.algorithm).kind, amax: t.amax, used };
  });
  const bySqnr = [...tensors].sort((a, b) => (a.used.sqnrDb ?? Infinity) - (b.used.sqnrDb ?? Infinity)).map((t) => t.tensor);
  return {
    version: SENSITIVITY_REPORT_VERSION,
    algorithm: result.algorithm.kind,
    samples: result.summary.samples,
    criterion: ranges.criterion,
    tensors,
    bySqnr,
    notMeasured: calibrated.filter((t) => t.histogram === undefined).map((t) => t.name),
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function num(value: number | null, digits = 4): string {
  if (value === null) return '∞';
  return value === 0 || (Math.abs(value) >= 1e-3 && Math.abs(value) < 1e5) ? Number(value.toPrecision(digits)).toString() : value.toExponential(2);
}

const percent = (share: number) => `${(share * 100).toPrecision(3)} %`;
const anchor = (index: number) => `t${index}`;

/** The worst-first table: one row per tensor, linking to its section. */
function summaryTable(report: SensitivityReport, indexOf: Map<string, number>): string {
  const rows = report.bySqnr.map((name, rank) => {
    const t = report.tensors[indexOf.get(name)!]!;
    return `<tr><td>${rank + 1}</td><td><a href="#${anchor(indexOf.get(name)!)}">${escapeHtml(name)}</a></td><td>${t.algorithm}</td><td>${num(t.amax)}</td><td>${num(t.used.sqnrDb, 3)}</td><td>${percent(t.used.clippedShare)}</td><td>${num(t.used.mse, 3)}</td><td>${t.chosen.method} (${num(t.chosen.sqnrDb, 3)} dB)</td></tr>`;
  });
  return `<table><thead><tr><th>#</th><th>tensor</th><th>algorithm</th><th>amax</th><th>SQNR dB</th><th>clipped</th><th>MSE</th><th>auto's pick</th></tr></thead>\n<tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

/** One tensor: its candidates and its histogram with every candidate range marked. */
function tensorSection(t: SensitivityTensor, index: number, histogram: Parameters<typeof renderHistogramSvg>[0]): string {
  const rows = t.candidates.map(
    (c) => `<tr${c.method === t.chosen.method ? ' class="pick"' : ''}><td>${c.method}</td><td>${num(c.amax)}</td><td>${num(c.sqnrDb, 3)}</td><td>${percent(c.clippedShare)}</td><td>${num(c.mse, 3)}</td></tr>`,
  );
  const svg = renderHistogramSvg(histogram, t.amax, {
    title: `${t.tensor}: ${t.algorithm} amax ${num(t.amax)}, SQNR ${num(t.used.sqnrDb, 3)} dB`,
    marks: t.candidates.map((c) => ({ label: c.method, amax: c.amax })),
  });
  return [
    `<section id="${anchor(index)}"><h2>${escapeHtml(t.tensor)}</h2>`,
    `<p>${t.count} values, min ${num(t.min ?? 0)}, max ${num(t.max ?? 0)}${t.nonFinite ? `, ${t.nonFinite} NaN/Infinity skipped` : ''}. Used: ${t.algorithm}, amax ${num(t.amax)}.</p>`,
    `<table><thead><tr><th>candidate</th><th>amax</th><th>SQNR dB</th><th>clipped</th><th>MSE</th></tr></thead><tbody>${rows.join('')}</tbody></table>`,
    svg.replace(/^<svg /, '<svg role="img" '),
    `</section>`,
  ].join('\n');
}

const STYLE = `body{font-family:sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:nth-child(2),th:nth-child(2){text-align:left}tr.pick{font-weight:bold}section{margin-top:2em}`;

/** The page: what it shows, the worst-first table, then one section per tensor. */
export function sensitivityReportHtml(report: SensitivityReport, result: CalibrationResult): string {
  const indexOf = new Map(report.tensors.map((t, i) => [t.tensor, i]));
  const sections = report.tensors.map((t, i) => tensorSection(t, i, result.tensors.get(t.tensor)!.histogram!));
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>trt-int8 sensitivity report</title><style>${STYLE}</style></head>
<body>
<h1>INT8 sensitivity report</h1>
<p>Calibrated with ${escapeHtml(report.algorithm)} on ${report.samples} samples. ${report.tensors.length} tensors, the worst (least SQNR of the range used) first.
SQNR is the signal to INT8 quantization-noise ratio of the tensor, estimated on its |x| histogram; "clipped" is the share of values beyond amax.
"auto's pick": ${escapeHtml(report.criterion)}.</p>
${report.notMeasured.length ? `<p>Not measured (range read from a cache): ${report.notMeasured.map(escapeHtml).join(', ')}.</p>` : ''}
${summaryTable(report, indexOf)}
${sections.join('\n')}
</body></html>
`;
}

/** Writes DIR/report.json and DIR/index.html (the folder is created; each file atomically). Returns the two paths. */
export async function writeSensitivityReport(result: CalibrationResult, dir: string, report: SensitivityReport = sensitivityReport(result)): Promise<string[]> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (cause) {
    throw new TrtInt8Error('ERR_IO', `Cannot create the report folder ${dir}: ${(cause as Error).message}`, { input: dir, expected: 'a writable folder', actual: (cause as NodeJS.ErrnoException).code, cause });
  }
  const [json, html] = REPORT_FILES.map((name) => path.join(dir, name)) as [string, string];
  await writeFileAtomic(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFileAtomic(html, sensitivityReportHtml(report, result));
  return [json, html];
}
