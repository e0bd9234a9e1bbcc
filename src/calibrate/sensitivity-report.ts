/**
 * The sensitivity report of a calibration (issue #10.4): per tensor the range used (algorithm, amax) with the error
 * it causes (MSE, SQNR, share of values clipped), and every candidate range 'auto' weighs, from the histograms the
 * calibration collected. Written as DIR/report.json and as DIR/index.html, one self-contained page (inline SVG
 * histograms with the candidate ranges marked, no script, no external file) a person can open and read.
 *
 * And, where data is given (issue #10.7), the tensors ranked by their end-to-end effect: for the K worst tensors by
 * the cheap proxy, the model's output error with that one tensor restored to float, or given another candidate
 * range, measured on a few batches (measureEndToEnd). The proxy can point elsewhere than the tensor that decides the
 * output (one channel far larger than the rest); the measurement does not.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { TrtInt8Error } from '../core/errors.js';
import { writeFileAtomic } from '../core/files.js';
import { isIntegerIn, optionErrors } from '../core/is.js';
import { insertQdq, type OnnxModel } from '../onnx/index.js';
import { quantizationError, rangeReport, type RangeMethod, type RangeReportCandidate, type RangeReportTensor } from '../stats/index.js';
import { histogramsNotCollected, placementNotSupported, qdqPlanOptions, type CalibrationResult, type ModelCheck, type TensorSteps } from './result.js';
import type { ModelInput } from './calibrate.js';
import { renderHistogramSvg } from './svg.js';
import { argmaxRows } from './metrics.js';
import { runOutputs } from './model-outputs.js';
import { isClassVectorShape } from './evaluate.js';
import { collectBatches, rankByProxy, toModel, withNames, type HeldOutData } from './mixed-precision.js';

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
  /** 'auto''s whole-model check: the range sets weighed by the model's output error, and the one kept. */
  readonly modelCheck?: ModelCheck;
  /** The K worst tensors by proxy, ranked by their measured end-to-end effect (when data was given). */
  readonly endToEnd?: EndToEndRanking;
}

export interface EndToEndOptions {
  /** K: how many tensors, the worst by the proxy (SQNR of the range used), are measured (default 4). */
  readonly top?: number;
  /** How many other candidate ranges are tried per tensor, besides float (default 2). */
  readonly swaps?: number;
  /** How many batches of the data are read and used (default 4). */
  readonly batches?: number;
}

/** One change to one tensor, and the model's output error with it. */
export interface EndToEndVariant {
  /** 'float': the tensor's quantized readers restored to float; otherwise the candidate range the tensor was given. */
  readonly variant: 'float' | RangeMethod;
  /** The amax tried (null for float). */
  readonly amax: number | null;
  /** SQNR (dB) of all graph outputs against the float model's; null where they are identical. */
  readonly outputSqnrDb: number | null;
  /** Share of the quantized model's output error (squared) that this change removes: 1 all of it, < 0 it adds error. */
  readonly errorRemoved: number;
  /** Top-1 agreement with the float model, when the first output is a class vector [N, classes]. */
  readonly top1Agreement?: number;
}

export interface EndToEndTensor {
  readonly tensor: string;
  /** 1-based rank by the proxy (the SQNR of the range used, worst first). */
  readonly proxyRank: number;
  /** The proxy: SQNR (dB) of the tensor fake-quantized with the range used, on its histogram. */
  readonly sqnrDb: number | null;
  /** The nodes restored to float in the 'float' variant: the tensor's quantized readers. */
  readonly nodes: readonly string[];
  readonly variants: readonly EndToEndVariant[];
  /** The largest errorRemoved of the variants: what ranks the tensors. */
  readonly errorRemoved: number;
  /** The variant that removes the most error. */
  readonly best: 'float' | RangeMethod;
}

export interface EndToEndRanking {
  /** K, the tensors measured, and the candidate ranges tried per tensor (besides float). */
  readonly top: number;
  readonly swaps: number;
  readonly batches: number;
  readonly samples: number;
  /** Model runs over the batches: the float model, the quantized one, then one per variant. */
  readonly evaluations: number;
  /** The graph outputs compared. */
  readonly outputs: readonly string[];
  /** The quantized model as calibrated (every tensor with the range used). */
  readonly quantized: { readonly outputSqnrDb: number | null; readonly top1Agreement?: number };
  /** Largest errorRemoved first. */
  readonly tensors: readonly EndToEndTensor[];
}

const DEFAULT_TOP = 4;
const DEFAULT_SWAPS = 2;
const DEFAULT_BATCHES = 4;
/** Candidate ranges within 1 % of the range used (or of one already tried) are not tried again. */
const SAME_RANGE = 0.01;
const badEndToEnd = optionErrors('measureEndToEnd');

function noHistogram(result: CalibrationResult): TrtInt8Error {
  return new TrtInt8Error('ERR_BAD_OPTION', 'sensitivity report: no tensor of this result has a histogram (its ranges were read from a cache), so there is nothing to measure.', {
    input: 'result',
    expected: 'a result calibrated from data',
    actual: `${result.tensors.size} tensors, source ${result.summary.source}`,
    fixes: ['Calibrate from data (on the command line: --recalibrate).'],
  });
}

/**
 * The report data of a calibration result, with the end-to-end ranking when measured (measureEndToEnd);
 * ERR_BAD_OPTION when no tensor has a histogram (ranges read from a cache).
 */
export function sensitivityReport(result: CalibrationResult, endToEnd?: EndToEndRanking): SensitivityReport {
  const notCollected = histogramsNotCollected(result, 'A sensitivity report') ?? placementNotSupported(result, 'A sensitivity report');
  if (notCollected) throw notCollected;
  const calibrated = [...result.tensors.values()];
  const measured = calibrated.filter((t) => t.histogram !== undefined);
  if (measured.length === 0) throw noHistogram(result);
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
    ...(result.modelCheck ? { modelCheck: result.modelCheck } : {}),
    ...(endToEnd ? { endToEnd } : {}),
  };
}

function checkEndToEndOptions(options: EndToEndOptions): Required<EndToEndOptions> {
  if (options === null || typeof options !== 'object') throw badEndToEnd('options', '{ top?, swaps?, batches? }', options);
  const top = options.top ?? DEFAULT_TOP;
  if (!isIntegerIn(top, 1, 1000)) throw badEndToEnd('top', 'an integer in [1, 1000]', top);
  const swaps = options.swaps ?? DEFAULT_SWAPS;
  if (!isIntegerIn(swaps, 0, 10)) throw badEndToEnd('swaps', 'an integer in [0, 10]', swaps);
  const batches = options.batches ?? DEFAULT_BATCHES;
  if (!isIntegerIn(batches, 1)) throw badEndToEnd('batches', 'an integer >= 1', batches);
  return { top, swaps, batches };
}

/** Squared error of all outputs against the reference, the reference's energy, and top-1 agreement of the first output. */
function outputError(reference: Float32Array[][], values: Float32Array[][], classes: number | undefined): { noise: number; signal: number; agreement?: number } {
  let noise = 0;
  let signal = 0;
  let agree = 0;
  let rows = 0;
  reference.forEach((batch, b) => {
    batch.forEach((ref, o) => {
      const got = values[b]![o]!;
      for (let i = 0; i < ref.length; i++) {
        const d = got[i]! - ref[i]!;
        noise += d * d;
        signal += ref[i]! * ref[i]!;
      }
    });
    if (classes !== undefined) {
      const want = argmaxRows(batch[0]!, classes);
      const got = argmaxRows(values[b]![0]!, classes);
      for (let i = 0; i < want.length; i++) if (want[i] === got[i]) agree++;
      rows += want.length;
    }
  });
  return { noise, signal, ...(classes !== undefined && rows > 0 ? { agreement: agree / rows } : {}) };
}

const sqnrOf = (signal: number, noise: number) => (noise === 0 ? null : 10 * Math.log10(signal / noise));

/**
 * The candidate ranges to try for one tensor, none within 1 % of the used one or of another: the one with the least
 * proxy error, then min-max (nothing clipped: what a tensor with a few large channels needs), then by proxy error.
 */
function swapsFor(candidates: readonly RangeReportCandidate[], used: number, count: number): RangeReportCandidate[] {
  const picked: RangeReportCandidate[] = [];
  const near = (a: number, b: number) => Math.abs(a - b) <= SAME_RANGE * Math.max(Math.abs(a), Math.abs(b));
  const byError = [...candidates].sort((a, b) => a.mse - b.mse);
  const bestOther = byError.find((c) => !near(c.amax, used));
  const minmax = candidates.find((c) => c.method === 'minmax');
  const order = [...(bestOther ? [bestOther] : []), ...(minmax && minmax !== bestOther ? [minmax] : []), ...byError];
  for (const c of order) {
    if (picked.length >= count) break;
    if (near(c.amax, used) || picked.some((p) => near(p.amax, c.amax))) continue;
    picked.push(c);
  }
  return picked;
}

/**
 * Ranks the K worst tensors by proxy (the SQNR of the range each used, on its histogram) by their end-to-end effect:
 * for each, the model's output error (all graph outputs against the float model's, on the first `batches` batches of
 * `data`, onnxruntime on the CPU) with that one tensor's readers restored to float, and with the tensor given each
 * of up to `swaps` other candidate ranges (the best other one by proxy error, then min-max, then by proxy error). Cost: 2 + K * (1 + swaps) model runs over those batches (default
 * 2 + 4 * 3 = 14). Errors: ERR_BAD_OPTION (bad option, a result without histograms), ERR_EMPTY_DATASET, ERR_BAD_BATCH,
 * ERR_ONNXRUNTIME_NOT_FOUND.
 */
export async function measureEndToEnd(model: ModelInput, result: CalibrationResult, data: HeldOutData, options: EndToEndOptions = {}): Promise<EndToEndRanking> {
  const { top, swaps, batches: maxBatches } = checkEndToEndOptions(options);
  const notCollected = histogramsNotCollected(result, 'measureEndToEnd') ?? placementNotSupported(result, 'measureEndToEnd');
  if (notCollected) throw notCollected;
  const floatModel = await toModel(model);
  const ranked = rankByProxy(floatModel, result);
  if (ranked.length === 0) throw noHistogram(result);
  const batches = await collectBatches(data, floatModel.inputs(), maxBatches, 'measureEndToEnd');
  const amax = result.amax();
  const base = result.parameters.exclude;
  const planOptions = qdqPlanOptions(result.parameters);
  const reference = await runOutputs(floatModel, floatModel.withInlinedExternalData().toBytes(), batches);
  const classes = isClassVectorShape(reference.firstDims) ? reference.values[0]![0]!.length / reference.firstDims[0]! : undefined;
  let evaluations = 1;
  const measure = async (bytes: Uint8Array) => {
    evaluations++;
    return outputError(reference.values, (await runOutputs(floatModel, bytes, batches)).values, classes);
  };
  const quantized = await measure(insertQdq(floatModel, { amax, ...planOptions }).toBytes());
  const variant = (name: 'float' | RangeMethod, amaxTried: number | null, error: Awaited<ReturnType<typeof measure>>): EndToEndVariant => ({
    variant: name,
    amax: amaxTried,
    outputSqnrDb: sqnrOf(error.signal, error.noise),
    errorRemoved: quantized.noise === 0 ? 0 : (quantized.noise - error.noise) / quantized.noise,
    ...(error.agreement !== undefined ? { top1Agreement: error.agreement } : {}),
  });

  const tensors: EndToEndTensor[] = [];
  for (const [index, candidate] of ranked.slice(0, top).entries()) {
    const calibrated = result.tensors.get(candidate.tensor)!;
    const variants = [variant('float', null, await measure(insertQdq(floatModel, { amax, ...planOptions, exclude: withNames(base, new Set(candidate.nodes)) }).toBytes()))];
    const candidates = rangeReport([calibrated.histogram!]).tensors[0]!.candidates;
    for (const swap of swapsFor(candidates, calibrated.amax, swaps)) {
      const swapped = new Map(amax).set(candidate.tensor, swap.amax);
      variants.push(variant(swap.method, swap.amax, await measure(insertQdq(floatModel, { amax: swapped, ...planOptions }).toBytes())));
    }
    const best = variants.reduce((a, b) => (b.errorRemoved > a.errorRemoved ? b : a));
    tensors.push({
      tensor: candidate.tensor,
      proxyRank: index + 1,
      sqnrDb: Number.isFinite(candidate.sqnrDb) ? candidate.sqnrDb : null,
      nodes: candidate.nodes,
      variants,
      errorRemoved: best.errorRemoved,
      best: best.variant,
    });
  }
  tensors.sort((a, b) => b.errorRemoved - a.errorRemoved);
  return {
    top,
    swaps,
    batches: batches.length,
    samples: reference.samples,
    evaluations,
    outputs: floatModel.outputs().map((o) => o.name),
    quantized: { outputSqnrDb: sqnrOf(quantized.signal, quantized.noise), ...(quantized.agreement !== undefined ? { top1Agreement: quantized.agreement } : {}) },
    tensors,
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

const signedPercent = (share: number) => `${share > 0 ? '' : share < 0 ? '−' : ''}${(Math.abs(share) * 100).toFixed(1)} %`;

/** The end-to-end ranking: one row per measured tensor, largest effect first, with every variant tried. */
function endToEndSection(e: EndToEndRanking, indexOf: Map<string, number>): string {
  const agreement = (a: number | undefined) => (a === undefined ? '' : ` (top-1 ${(a * 100).toFixed(1)} %)`);
  const rows = e.tensors.map((t, rank) => {
    const variants = t.variants
      .map((v) => `${v.variant === t.best ? '<b>' : ''}${v.variant}${v.amax === null ? '' : ` ${num(v.amax)}`}: ${signedPercent(v.errorRemoved)}${agreement(v.top1Agreement)}${v.variant === t.best ? '</b>' : ''}`)
      .join('<br>');
    const link = indexOf.has(t.tensor) ? `<a href="#${anchor(indexOf.get(t.tensor)!)}">${escapeHtml(t.tensor)}</a>` : escapeHtml(t.tensor);
    return `<tr class="e2e"><td>${rank + 1}</td><td>${link}</td><td>${t.proxyRank}</td><td>${num(t.sqnrDb, 3)}</td><td>${signedPercent(t.errorRemoved)}</td><td style="text-align:left">${variants}</td></tr>`;
  });
  return [
    `<h2>End-to-end effect</h2>`,
    `<p>The ${e.tensors.length} worst tensors by SQNR, each changed alone and the model run on ${e.samples} samples (${e.batches} batches): restored to float ` +
      `(no Q/DQ in front of its readers), or given another candidate range. "Error removed" is the share of the INT8 model's output error ` +
      `(squared, all outputs: ${e.outputs.map(escapeHtml).join(', ')}) that the change removes. INT8 as calibrated: output SQNR ${num(e.quantized.outputSqnrDb, 3)} dB` +
      `${agreement(e.quantized.top1Agreement)}. ${e.evaluations} model runs. A tensor ranked high here and low by SQNR is the one the proxy missed.</p>`,
    `<table><thead><tr><th>#</th><th>tensor</th><th>SQNR rank</th><th>SQNR dB</th><th>error removed</th><th>variants tried: error removed</th></tr></thead>`,
    `<tbody>\n${rows.join('\n')}\n</tbody></table>`,
  ].join('\n');
}

/** 'auto''s whole-model check: one line per range set weighed, the kept one in bold. */
function modelCheckSection(c: ModelCheck): string {
  if (c.skipped !== undefined) return `<p>Whole-model check of 'auto': not run (${escapeHtml(c.skipped)}); the per-tensor ranges kept.</p>`;
  const items = c.candidates.map((k) => {
    const text = `${k.set}: output error ${num(k.outputError, 3)} (SQNR ${num(k.outputSqnrDb, 3)} dB)${k.set === 'auto' ? '' : `, ${k.tensorsChanged} ranges differ`}`;
    return k.set === c.chosen ? `<b>${text}</b>` : text;
  });
  return `<p>Whole-model check of 'auto': each range set's Q/DQ model against FP32 on ${c.samples} calibration samples (${c.batches} batches); another set replaces the per-tensor one only when its error is lower by more than ${(c.margin * 100).toFixed(0)} %. Kept: <b>${c.chosen}</b>.<br>${items.join('<br>')}</p>${c.tensorSteps ? tensorStepsSection(c.tensorSteps) : ''}`;
}

/** The per-tensor step after the set choice: what was tried, and each range it changed. */
function tensorStepsSection(s: TensorSteps): string {
  const changes = s.kept.map((k) => `${escapeHtml(k.tensor)}: amax ${num(k.from, 4)} → ${num(k.to, 4)} (output error then ${num(k.outputError, 3)})`);
  return `<p>Then per tensor: ${s.contested} tensors whose per-tensor range and best uniform set's differ by more than ${(s.minDifference * 100).toFixed(0)} % each had the other range tried in the model, in graph order, kept when the output error fell by more than ${(s.margin * 100).toFixed(0)} %: ${s.kept.length} kept, output error ${num(s.outputError, 3)}.${s.stopped !== undefined ? ` Stopped after ${s.evaluations} runs: ${escapeHtml(s.stopped)}.` : ''}${changes.length ? `<br>${changes.join('<br>')}` : ''}</p>`;
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
${report.modelCheck ? modelCheckSection(report.modelCheck) : ''}
${report.endToEnd ? endToEndSection(report.endToEnd, indexOf) : ''}
<h2>Tensors by SQNR</h2>
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
