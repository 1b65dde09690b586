// One experiment's results (GET .../results) and how they stood over time (GET
// .../results/timeseries), as docs/experiments.md explains them: per variant its viewers and
// sessions, the sample-ratio check, a decision hint per treatment; per metric the values, the
// relative lift with its sequential (always valid) and fixed-horizon 95% intervals, the
// sequential p-value and the verdict; and per metric a uPlot chart of the relative lift with
// both intervals at the end of every bucket, guardrails marked (their bad side shaded).

import uPlot from '/vendor/uplot/uPlot.esm.js';
import { adminApi, refusal } from './admin-api.js';
import { enc } from './api.js';
import { h } from './dom.js';

export const when = (t) => (t ? new Date(t).toISOString().replace('T', ' ').slice(0, 16) : '–');

// Each answer carries `metric_definitions` (reelflow/experiments/metrics.py): which way is
// better and the unit, so the console keeps no list of its own.
let definitions = {};
const lowerIsBetter = (metric) => definitions[metric]?.higher_is_better === false;

function value(metric, v) {
  if (v == null) return '–';
  const d = definitions[metric];
  if (d?.unit === 'seconds') return `${v.toFixed(2)} s`;
  if (d?.kind === 'ratio') return `${(v * 100).toFixed(2)} %`;
  return v.toFixed(2);
}

const pct = (v) => (v == null ? '–' : `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)} %`);
const interval = (i) => (i == null || i.low == null ? '–' : `${pct(i.low)} to ${pct(i.high)}`);
const pValue = (p) => (p == null ? '–' : p < 0.001 ? '< 0.001' : p.toFixed(3));

function cells(columns, rows, id) {
  return h('table', { class: 'data', id },
    h('thead', {}, h('tr', {}, columns.map(([label]) => h('th', { scope: 'col' }, label)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, columns.map(([, cell, num]) =>
      h('td', { class: num ? 'num' : null }, cell(r)))))));
}

function summary(report) {
  const srm = report.results.srm;
  const leftOut = Object.entries(report.left_out).filter(([, n]) => n > 0);
  const verdict = h('p', { id: 'experiment-srm', class: srm.mismatch ? 'status-fail' : null },
    `Sample ratio: p = ${pValue(srm.p_value)} against the weights, `,
    h('strong', {}, srm.mismatch ? 'mismatch (stop and fix assignment or logging)' : 'no mismatch'),
    leftOut.length ? `; left out: ${leftOut.map(([k, n]) => `${n} ${k.replace('_', ' ')}`)
      .join(', ')}` : '');
  const hints = h('ul', { id: 'experiment-decisions' }, report.results.decisions.map((d) =>
    h('li', { 'data-hint': d.hint },
      h('strong', {}, `${d.variant}: ${d.hint}`),
      d.reasons.length ? ` (${d.reasons.join('; ')})` : '',
      d.units_needed ? ` · about ${d.units_needed.toLocaleString('en')} viewers for the MDE` : '')));
  return [h('h2', {}, `Results as of ${when(report.as_of)} UTC`),
    cells([['Variant', (v) => v.key], ['Weight', (v) => `${Math.round(v.weight * 1000) / 10} %`, 1],
      ['Viewers', (v) => String(v.viewers), 1], ['Sessions', (v) => String(v.sessions), 1]],
    report.variants, 'experiment-counts'), verdict, h('h3', {}, 'Decision'), hints];
}

function metricTable(report) {
  return cells([
    ['Metric', (m) => m.metric], ['Role', (m) => m.role], ['Variant', (m) => m.variant],
    ['Units', (m) => String(m.units), 1],
    ['Control', (m) => value(m.metric, m.control_value), 1],
    ['Variant value', (m) => value(m.metric, m.value), 1],
    ['Lift', (m) => pct(m.relative?.estimate), 1],
    ['Sequential 95 %', (m) => interval(m.relative?.sequential), 1],
    ['Fixed 95 %', (m) => interval(m.relative?.fixed), 1],
    ['p (sequential)', (m) => pValue(m.relative?.sequential?.p_value), 1],
    ['Verdict', (m) => h('span', { class: `verdict-${m.verdict.replace(/ /g, '-')}`,
      title: m.reason || '' }, m.reason ? `${m.verdict} (${m.reason})` : m.verdict)],
  ], report.results.metrics, 'experiment-metrics');
}

// The bad side of zero, shaded under the lines: above it where a rise is bad.
function shadeBadSide(metric) {
  return (u) => {
    const zero = u.valToPos(0, 'y', true);
    const { left, top, width, height } = u.bbox;
    const [from, to] = lowerIsBetter(metric) ? [top, zero] : [zero, top + height];
    const y0 = Math.max(top, Math.min(from, to)), y1 = Math.min(top + height, Math.max(from, to));
    if (y1 <= y0) return;
    u.ctx.save();
    u.ctx.fillStyle = 'rgba(255, 90, 90, 0.13)';
    u.ctx.fillRect(left, y0, width, y1 - y0);
    u.ctx.restore();
  };
}

// The y range: zero and every figure, cut where early sequential intervals would flatten
// the rest (at four times the largest lift, at least +-100 %).
function yRange(values) {
  const seen = values.filter((v) => v != null && Number.isFinite(v));
  const big = Math.max(100, 4 * Math.max(0, ...seen.map(Math.abs)));
  const lo = Math.max(-big, Math.min(0, ...seen)), hi = Math.min(big, Math.max(0, ...seen));
  const pad = (hi - lo) * 0.08 || 1;
  return [lo - pad, hi + pad];
}

function intervalChart(container, { metric, variant, role, points, range }) {
  const rows = points.map((p) => p.metrics.find((m) => m.metric === metric && m.variant === variant));
  const at = (f) => rows.map((m) => { const v = m && f(m); return v == null ? null : v * 100; });
  const data = [points.map((p) => Date.parse(p.t) / 1000), at((m) => m.relative),
    at((m) => m.sequential?.[0]), at((m) => m.sequential?.[1]),
    at((m) => m.fixed?.[0]), at((m) => m.fixed?.[1]), points.map(() => 0)];
  const last = rows[rows.length - 1];
  const drawn = data[1].filter((v) => v != null).length; // buckets with a lift to draw
  const box = h('figure', { class: `chart ${role}`, 'data-metric': metric, 'data-role': role,
    'data-variant': variant, 'data-points': drawn },
  h('h3', {}, `${metric} · ${variant} vs control `, role === 'secondary' ? ''
    : h('span', { class: `badge badge-${role}` }, role)),
  h('p', { class: 'chart-note' }, `relative lift, % · now: ${last?.verdict ?? 'no data'}`));
  container.append(box);
  const line = (label, stroke, extra = {}) => ({ label, stroke, width: 1, spanGaps: true, ...extra });
  const opts = {
    width: 540, height: 220,
    legend: { live: false }, // a key to the lines; their values are in the table
    scales: { x: { time: true, range: () => range }, y: { range: () => yRange(data.slice(1).flat()) } },
    axes: [{ stroke: '#a4abb8', grid: { stroke: '#262a33' } },
      { stroke: '#a4abb8', grid: { stroke: '#262a33' }, label: 'lift %', size: 60 }],
    series: [{}, line('lift', '#e8b23a', { width: 2, points: { show: true, size: 5 } }),
      line('sequential low', '#5ab0f0'), line('sequential high', '#5ab0f0'),
      line('fixed low', '#a4abb8', { dash: [5, 4] }), line('fixed high', '#a4abb8', { dash: [5, 4] }),
      line('zero', '#666d7a', { points: { show: false } })],
    bands: [{ series: [3, 2], fill: 'rgba(90, 176, 240, 0.18)' }],
    hooks: role === 'guardrail' ? { drawAxes: [shadeBadSide(metric)] } : {},
  };
  return new uPlot(opts, data, box);
}

export async function renderResults(main, e) {
  const base = `/v1/admin/experiments/${enc(e.key)}/results`;
  let report, series;
  try {
    [report, series] = await Promise.all([adminApi(base), adminApi(`${base}/timeseries`)]);
  } catch (problem) {
    main.append(refusal(problem));
    return;
  }
  definitions = report.metric_definitions || {};
  main.append(...summary(report), h('h3', {}, 'Per metric'), metricTable(report));
  const start = Date.parse(e.started_at) / 1000;
  const end = Math.max(...series.points.map((p) => Date.parse(p.t) / 1000), start + 3600);
  const charts = h('div', { class: 'charts', id: 'experiment-charts' });
  main.append(h('h2', {}, `Relative lift over time (${series.bucket}ly)`),
    h('p', {}, 'The lift of each metric with its sequential (band) and fixed-horizon (dashed) ' +
      '95 % intervals, as they stood at the end of each bucket; on guardrails the bad side of ' +
      'zero is shaded.'), charts);
  const order = { primary: 0, guardrail: 1, secondary: 2 };
  const rows = [...report.results.metrics].sort((a, b) => order[a.role] - order[b.role]);
  for (const m of rows) {
    intervalChart(charts, { metric: m.metric, variant: m.variant, role: m.role,
      points: series.points, range: [start, end] });
  }
}
