// QoE view: start-up p50/p95, rebuffer ratio and failed sessions over time, by one
// dimension; the per-title totals; the slowest and the failing sessions.

import { adminApi, refusal } from './admin-api.js';
import { timeChart } from './admin-charts.js';
import { enc } from './api.js';
import { h } from './dom.js';

const DIMENSIONS = [['title', 'Title'], ['country', 'Country'], ['plan', 'Plan'],
  ['drm', 'DRM system'], ['device', 'Device class']];
const WINDOWS = [['1', 'Last hour', 60], ['24', 'Last 24 h', 3600], ['168', 'Last 7 days', 6 * 3600]];

const ms = (v) => (v == null ? '–' : `${Math.round(v)} ms`);
const pct = (v) => (v == null ? '–' : `${(v * 100).toFixed(2)} %`);

function table(caption, columns, rows, id) {
  return h('table', { class: 'data', id },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, columns.map(([label]) => h('th', { scope: 'col' }, label)))),
    h('tbody', {}, rows.length
      ? rows.map((r) => h('tr', {}, columns.map(([, cell, num]) =>
        h('td', { class: num ? 'num' : null }, cell(r)))))
      : h('tr', {}, h('td', { colspan: columns.length }, 'None in this window.'))));
}

const titleLink = (id) => h('a', { href: `#/title/${enc(id)}` }, id);

export async function renderQoE(main, params) {
  const by = DIMENSIONS.some(([d]) => d === params.get('by')) ? params.get('by') : 'title';
  const win = WINDOWS.find(([w]) => w === params.get('hours')) || WINDOWS[1];
  const [, , bucket] = win;
  const since = new Date(Date.now() - Number(win[0]) * 3600e3).toISOString();
  const go = (next) => { location.hash = `#/qoe?by=${next.by}&hours=${next.hours}`; };
  const bySelect = h('select', { id: 'qoe-by', onchange: () => go({ by: bySelect.value, hours: win[0] }) },
    DIMENSIONS.map(([d, label]) => h('option', { value: d, selected: d === by }, label)));
  const winSelect = h('select', { id: 'qoe-window', onchange: () => go({ by, hours: winSelect.value }) },
    WINDOWS.map(([w, label]) => h('option', { value: w, selected: w === win[0] }, label)));
  main.append(h('h1', { tabindex: -1 }, 'Quality of experience'),
    h('div', { class: 'admin-controls' },
      h('label', {}, 'Break down by', bySelect), h('label', {}, 'Window', winSelect)));
  let series, report, slowest, failing;
  try {
    [series, report, slowest, failing] = await Promise.all([
      adminApi(`/v1/admin/qoe/timeseries?by=${by}&since=${enc(since)}&bucket_s=${bucket}`),
      adminApi(`/v1/admin/qoe?since=${enc(since)}`),
      adminApi(`/v1/admin/qoe/sessions?order=slowest&since=${enc(since)}&limit=10`),
      adminApi(`/v1/admin/qoe/sessions?order=failing&since=${enc(since)}&limit=10`),
    ]);
  } catch (problem) {
    main.append(refusal(problem));
    return;
  }
  const charts = h('div', { class: 'charts', id: 'qoe-charts' });
  main.append(charts);
  const range = [Date.parse(series.since) / 1000, Date.parse(series.until) / 1000];
  const common = { groups: series.groups, points: series.points, range };
  timeChart(charts, { ...common, title: 'Start-up p50', unit: 'ms', value: (p) => p.startup_p50_ms });
  timeChart(charts, { ...common, title: 'Start-up p95', unit: 'ms', value: (p) => p.startup_p95_ms });
  timeChart(charts, { ...common, title: 'Rebuffer ratio', unit: '%',
    value: (p) => (p.rebuffer_ratio == null ? null : p.rebuffer_ratio * 100) });
  timeChart(charts, { ...common, title: 'Failed sessions', unit: 'sessions',
    value: (p) => p.failed_sessions });
  if (series.truncated) main.append(h('p', {}, `Only the ${series.groups.length} busiest shown.`));

  main.append(h('h2', {}, 'By title'), table('QoE by title', [
    ['Title', (t) => titleLink(t.title_id)],
    ['Sessions', (t) => String(t.sessions), true],
    ['Start-up p50', (t) => ms(t.startup_ms.p50), true],
    ['Start-up p95', (t) => ms(t.startup_ms.p95), true],
    ['Rebuffer ratio', (t) => pct(t.rebuffer_ratio), true],
    ['Errors', (t) => String(t.errors.count), true],
    ['Top error', (t) => t.errors.top[0]?.code || '–'],
  ], report.titles, 'qoe-titles'));
  const sessionColumns = [
    ['Session', (s) => s.session_id.slice(0, 12)],
    ['Title', (s) => titleLink(s.title_id)],
    ['Plan', (s) => s.plan], ['Country', (s) => s.country], ['DRM', (s) => s.drm],
    ['Device', (s) => s.device_class],
    ['Start-up', (s) => ms(s.startup_ms), true],
    ['Rebuffer', (s) => ms(s.rebuffer_ms), true],
    ['Errors', (s) => String(s.error_count), true],
  ];
  main.append(h('h2', {}, 'Slowest sessions'),
    table('Slowest sessions', sessionColumns, slowest, 'qoe-slowest'),
    h('h2', {}, 'Failing sessions'),
    table('Failing sessions', sessionColumns, failing, 'qoe-failing'));
}
