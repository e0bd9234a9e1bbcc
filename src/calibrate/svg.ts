/**
 * Histogram plots as self-contained SVG (no plotting dependency): counts on a log scale, so the long
 * tail that decides the clipping threshold is visible, with the chosen amax drawn as a vertical line.
 */
import type { TensorHistogram } from '../stats/types.js';
import { TrtInt8Error } from '../core/errors.js';

export interface HistogramSvgOptions {
  readonly title?: string;
  readonly width?: number;
  readonly height?: number;
  /** At most this many bars; neighbouring bins are summed (default 512). */
  readonly maxBars?: number;
  /** Other ranges to mark (e.g. the candidates 'auto' weighed): a thin labelled line each. */
  readonly marks?: readonly HistogramMark[];
}

export interface HistogramMark {
  readonly label: string;
  readonly amax: number;
}

const MARK_COLOURS = ['darkorange', 'seagreen', 'purple', 'saddlebrown', 'teal', 'olive', 'slategray'];

/** The marks with a finite, non-negative amax (others are refused like amax itself). */
function checkedMarks(marks: readonly HistogramMark[] | undefined): HistogramMark[] {
  for (const mark of marks ?? []) {
    if (!Number.isFinite(mark?.amax) || mark.amax < 0 || typeof mark.label !== 'string') {
      throw new TrtInt8Error('ERR_BAD_OPTION', 'renderHistogramSvg: each mark needs a label and a finite, non-negative amax.', { input: 'marks', expected: '{ label: string, amax: number >= 0 }', actual: mark });
    }
  }
  return [...(marks ?? [])];
}

/** One labelled dotted line per mark, labels stacked down the plot so close lines stay readable. */
function markLines(marks: readonly HistogramMark[], x: (value: number) => number, top: number, bottom: number): string[] {
  return marks.map((mark, i) => {
    const colour = MARK_COLOURS[i % MARK_COLOURS.length]!;
    const mx = x(mark.amax).toFixed(2);
    const labelY = top + 12 + 12 * i;
    return (
      `<line class="mark" x1="${mx}" y1="${top}" x2="${mx}" y2="${bottom}" stroke="${colour}" stroke-width="1" stroke-dasharray="1 2"/>` +
      `<text x="${mx}" y="${labelY}" dx="3" fill="${colour}">${escapeXml(mark.label)} ${formatNumber(mark.amax)}</text>`
    );
  });
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function formatNumber(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  return abs >= 1e4 || abs < 1e-3 ? value.toExponential(2) : Number(value.toPrecision(4)).toString();
}

/** Renders |x| histogram counts (log scale) with a threshold line at `amax`. Returns the SVG document. */
export function renderHistogramSvg(histogram: TensorHistogram, amax: number, options: HistogramSvgOptions = {}): string {
  if (!Number.isFinite(amax) || amax < 0) {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'renderHistogramSvg needs a finite, non-negative amax.', { input: 'amax', expected: 'a finite number >= 0', actual: amax });
  }
  const width = options.width ?? 720;
  const height = options.height ?? 320;
  const maxBars = Math.max(1, Math.floor(options.maxBars ?? 512));
  const marks = checkedMarks(options.marks);
  const margin = { left: 56, right: 16, top: 36, bottom: 40 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;

  // Drop empty bins past the last non-empty one so the plot spans the data actually seen.
  let used = histogram.counts.length;
  while (used > 0 && histogram.counts[used - 1] === 0) used--;
  const range = Math.max(used * histogram.binWidth, amax, ...marks.map((m) => m.amax), Number.MIN_VALUE);
  const binsPerBar = Math.max(1, Math.ceil(used / maxBars));
  const bars: number[] = [];
  for (let start = 0; start < used; start += binsPerBar) {
    let sum = 0;
    for (let i = start; i < Math.min(used, start + binsPerBar); i++) sum += histogram.counts[i]!;
    bars.push(sum);
  }
  const peak = bars.reduce((a, b) => Math.max(a, b), 0);
  const logPeak = Math.log10(1 + peak) || 1;
  const x = (value: number) => margin.left + (value / range) * plotWidth;
  const barWidth = (binsPerBar * histogram.binWidth * plotWidth) / range;

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  if (options.title) parts.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="13">${escapeXml(options.title)}</text>`);
  parts.push(`<g fill="steelblue">`);
  bars.forEach((count, i) => {
    if (count === 0) return;
    const h = (Math.log10(1 + count) / logPeak) * plotHeight;
    const left = x(i * binsPerBar * histogram.binWidth);
    parts.push(`<rect x="${left.toFixed(2)}" y="${(margin.top + plotHeight - h).toFixed(2)}" width="${Math.max(barWidth, 0.5).toFixed(2)}" height="${h.toFixed(2)}"/>`);
  });
  parts.push(`</g>`);
  // Axes and labels.
  const bottom = margin.top + plotHeight;
  parts.push(`<line x1="${margin.left}" y1="${bottom}" x2="${margin.left + plotWidth}" y2="${bottom}" stroke="black"/>`);
  parts.push(`<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${bottom}" stroke="black"/>`);
  parts.push(`<text x="${margin.left}" y="${bottom + 16}" text-anchor="middle">0</text>`);
  parts.push(`<text x="${margin.left + plotWidth}" y="${bottom + 16}" text-anchor="end">${formatNumber(range)}</text>`);
  parts.push(`<text x="${margin.left + plotWidth / 2}" y="${bottom + 32}" text-anchor="middle">|x|</text>`);
  parts.push(`<text x="${margin.left - 6}" y="${margin.top + 4}" text-anchor="end">${formatNumber(peak)}</text>`);
  parts.push(`<text x="${margin.left - 6}" y="${bottom}" text-anchor="end">0</text>`);
  parts.push(`<text x="14" y="${margin.top + plotHeight / 2}" text-anchor="middle" transform="rotate(-90 14 ${margin.top + plotHeight / 2})">count (log)</text>`);
  parts.push(...markLines(marks, x, margin.top, bottom));
  // The threshold: everything right of it saturates to ±127.
  const tx = x(amax).toFixed(2);
  parts.push(`<line class="amax" x1="${tx}" y1="${margin.top}" x2="${tx}" y2="${bottom}" stroke="crimson" stroke-width="1.5" stroke-dasharray="4 3"/>`);
  parts.push(`<text x="${tx}" y="${margin.top - 4}" text-anchor="middle" fill="crimson">amax ${formatNumber(amax)}</text>`);
  parts.push(`</svg>`);
  return parts.join('\n') + '\n';
}
