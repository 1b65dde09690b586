// Charts: uPlot (served from /vendor/uplot/) for time series, small SVGs for the rest.

import uPlot from '/vendor/uplot/uPlot.esm.js';
import { h } from './dom.js';

const PALETTE = ['#e8b23a', '#5ab0f0', '#7fd18b', '#ff7a7a', '#c49cff', '#f0883e',
  '#4dd2c4', '#d4d46a', '#ff9ed0', '#9aa5b8'];
const SVG_NS = 'http://www.w3.org/2000/svg';

export const colour = (i) => PALETTE[i % PALETTE.length];

// One line per group over shared time buckets; `value(point)` picks the metric (null = gap).
export function timeChart(container, { title, groups, points, value, unit, range, width = 560 }) {
  const times = [...new Set(points.map((p) => Date.parse(p.t) / 1000))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const series = groups.map(() => times.map(() => null));
  for (const p of points) {
    const g = groups.indexOf(p.group);
    if (g >= 0) series[g][index.get(Date.parse(p.t) / 1000)] = value(p);
  }
  const box = h('figure', { class: 'chart', 'data-chart': title },
    h('h3', {}, title));
  container.append(box);
  if (!times.length) {
    box.append(h('p', { class: 'empty' }, 'No beacons in this window.'));
    return null;
  }
  const opts = {
    width, height: 220,
    // The whole window, so a few buckets sit where they happened in it.
    scales: { x: { time: true, range: range ? () => range : undefined } },
    axes: [{ stroke: '#a4abb8', grid: { stroke: '#262a33' } },
      { stroke: '#a4abb8', grid: { stroke: '#262a33' }, label: unit, size: 60 }],
    series: [{}, ...groups.map((g, i) => ({
      label: g, stroke: colour(i), width: 2, spanGaps: true, points: { show: true, size: 5 },
    }))],
  };
  return new uPlot(opts, [times, ...series], box);
}

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) el.setAttribute(k, String(v));
  for (const c of children) el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}

export function scale(d0, d1, r0, r1, log = false) {
  const f = log ? Math.log : (x) => x;
  const a = f(d0), b = f(d1);
  return (x) => r0 + ((f(x) - a) / (b - a || 1)) * (r1 - r0);
}
