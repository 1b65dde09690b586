// A title's page: lifecycle timeline, QC report on the title's timeline, the ladder's
// rate-quality measurements with the hull and the rungs (and the fixed ladder for
// comparison), the sprite sheets, and the package's tracks and DRM systems.

import { adminApi, refusal } from './admin-api.js';
import { colour, scale, svg } from './admin-charts.js';
import { enc } from './api.js';
import { h, formatTime } from './dom.js';

const W = 860;

function seconds(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  return s < 120 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`;
}

function lifecycle(events) {
  const box = h('section', { id: 'lifecycle' }, h('h2', {}, 'Lifecycle'));
  if (!events.length) return box.append(h('p', {}, 'No lifecycle events.')), box;
  const times = events.map((e) => Date.parse(e.at));
  const t0 = times[0], t1 = Math.max(times[times.length - 1], t0 + 1);
  const x = scale(t0, t1, 10, W - 10);
  const rowH = 18;
  const chart = svg('svg', { class: 'timeline', width: W, height: events.length * rowH + 30,
    role: 'img', 'aria-label': 'Lifecycle stages over time' });
  events.forEach((e, i) => {
    const start = times[i], end = times[i + 1] ?? start;
    const y = i * rowH + 4;
    const width = Math.max(3, x(end) - x(start));
    chart.append(svg('rect', { x: x(start), y, width, height: rowH - 4, rx: 2, fill: colour(i) },
      svg('title', {}, `${e.event}: ${seconds(end - start)}`)));
    const label = `${e.state || e.event} · ${e.detail?.actor || e.actor}`;
    // Inside a wide bar, else after it, else before it.
    const [lx, anchor] = width > 200 ? [x(start) + 6, 'start']
      : x(start) + width + 190 < W ? [x(start) + width + 4, 'start'] : [x(start) - 4, 'end'];
    chart.append(svg('text', { x: lx, y: y + rowH - 7, 'text-anchor': anchor,
      fill: width > 200 ? '#0f1115' : null }, label));
  });
  chart.append(svg('text', { x: 10, y: events.length * rowH + 24 },
    `total ${seconds(t1 - t0)}`));
  // An approval is recorded by the workflow, with the approver in its detail.
  const who = (e) => e.detail?.actor || e.actor;
  const approved = events.find((e) => e.event === 'approved');
  const rejected = events.find((e) => e.event === 'rejected');
  const approval = approved ? `Approved by ${who(approved)}.`
    : rejected ? `Rejected: ${rejected.detail?.reason || ''}`
      : events.some((e) => e.event === 'awaiting_approval') ? 'Awaiting approval.'
        : 'No approval needed: QC passed without warnings.';
  box.append(h('p', { id: 'approval' }, approval));
  const rows = events.map((e, i) => h('tr', {},
    h('td', {}, e.event), h('td', {}, e.state || '–'), h('td', {}, who(e)),
    h('td', {}, new Date(e.at).toISOString().replace('T', ' ').slice(0, 19)),
    h('td', { class: 'num' }, i + 1 < events.length ? seconds(times[i + 1] - times[i]) : '–')));
  box.append(chart, h('table', { class: 'data' },
    h('thead', {}, h('tr', {}, ['Event', 'State', 'Who', 'At (UTC)', 'Until next']
      .map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows)));
  return box;
}

// "head=1.20s tail=0.00s" (the black_frames check's value) -> {head, tail}.
function blackRanges(check) {
  const m = /head=([\d.]+)s tail=([\d.]+)s/.exec(String(check?.value ?? ''));
  return m ? { head: Number(m[1]), tail: Number(m[2]) } : { head: 0, tail: 0 };
}

function qcSection(qc, duration) {
  const box = h('section', { id: 'qc' }, h('h2', {}, 'QC report'));
  if (!qc) return box.append(h('p', {}, 'No QC report stored.')), box;
  const checks = qc.checks || [];
  const get = (name) => checks.find((c) => c.name === name);
  const dur = duration || qc.media?.duration_s || 1;
  const x = scale(0, dur, 90, W - 10);
  const lanes = ['black', 'silence', 'loudness', 'warnings'];
  const chart = svg('svg', { class: 'timeline', id: 'qc-timeline', width: W, height: 130,
    role: 'img', 'aria-label': 'QC findings on the title timeline' });
  lanes.forEach((lane, i) => chart.append(
    svg('text', { x: 4, y: 22 + i * 24 }, lane),
    svg('line', { class: 'axis', x1: 90, x2: W - 10, y1: 18 + i * 24, y2: 18 + i * 24 })));
  const { head, tail } = blackRanges(get('black_frames'));
  for (const [start, end] of [[0, head], [dur - tail, dur]]) {
    if (end > start) chart.append(svg('rect', { x: x(start), y: 10, width: x(end) - x(start),
      height: 16, fill: '#9aa5b8' }, svg('title', {}, `black ${start.toFixed(2)}–${end.toFixed(2)} s`)));
  }
  const silence = get('silence');
  if (silence && Number(silence.value) > 0) {
    // Only the longest silence is stored, not where it lies: drawn as its length from 0.
    chart.append(svg('rect', { x: x(0), y: 34, width: x(Number(silence.value)) - x(0),
      height: 16, fill: '#5ab0f0', opacity: 0.6 }, svg('title', {}, silence.reason)));
  }
  const loud = get('loudness');
  chart.append(svg('text', { x: 96, y: 70 }, loud
    ? `integrated ${Number(loud.value).toFixed(1)} LUFS (${loud.status}); no per-second curve stored`
    : 'not measured'));
  const warnings = checks.filter((c) => c.status !== 'pass');
  warnings.forEach((c, i) => chart.append(svg('text', { x: 96 + i * 190, y: 94,
    class: `status-${c.status}` }, `⚠ ${c.name}`)));
  chart.append(svg('text', { x: 90, y: 122 }, '0:00'),
    svg('text', { x: W - 10, y: 122, 'text-anchor': 'end' }, formatTime(dur)));
  box.append(h('p', {}, qc.summary || ''), chart, h('table', { class: 'data', id: 'qc-checks' },
    h('thead', {}, h('tr', {}, ['Check', 'Status', 'Reason'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, checks.map((c) => h('tr', {}, h('td', {}, c.name),
      h('td', { class: `status-${c.status}` }, c.status), h('td', {}, c.reason))))));
  return box;
}

function axes(chart, x, y, { xLabel, yLabel, xTicks, yTicks, box }) {
  const [left, right, top, bottom] = box;
  chart.append(svg('line', { class: 'axis', x1: left, x2: right, y1: bottom, y2: bottom }),
    svg('line', { class: 'axis', x1: left, x2: left, y1: top, y2: bottom }),
    svg('text', { x: (left + right) / 2, y: bottom + 32, 'text-anchor': 'middle' }, xLabel),
    svg('text', { x: 12, y: top - 6 }, yLabel));
  for (const t of xTicks) chart.append(svg('text', { x: x(t), y: bottom + 16, 'text-anchor': 'middle' }, String(t)));
  for (const t of yTicks) chart.append(svg('text', { x: left - 6, y: y(t) + 4, 'text-anchor': 'end' }, String(t)));
}

function ladderSection(ladder, fixed) {
  const box = h('section', { id: 'ladder' }, h('h2', {}, 'Ladder'));
  if (!ladder) return box.append(h('p', {}, 'No ladder stored.')), box;
  const rungs = ladder.rungs || [];
  box.append(h('p', {}, `Method: ${ladder.method}${ladder.metric ? `, metric ${ladder.metric}` : ''}; ` +
    `${rungs.length} rungs, ${rungs.reduce((a, r) => a + r.bitrate_kbps, 0)} kb/s in all.`));
  const measurements = ladder.measurements || [];
  const box4 = [60, W - 20, 20, 250];
  if (measurements.length) {
    const rates = measurements.map((m) => m.bitrate_kbps);
    const qs = measurements.map((m) => m.quality);
    const x = scale(Math.min(...rates) * 0.8, Math.max(...rates) * 1.25, box4[0], box4[1], true);
    const y = scale(Math.min(...qs) - 2, Math.max(...qs) + 2, box4[3], box4[2]);
    const chart = svg('svg', { class: 'plot', id: 'ladder-rq', width: W, height: 290, role: 'img',
      'aria-label': 'Rate-quality measurements, convex hull and chosen rungs' });
    const heights = [...new Set(measurements.map((m) => m.height))].sort((a, b) => b - a);
    for (const m of measurements) chart.append(svg('circle', { cx: x(m.bitrate_kbps), cy: y(m.quality),
      r: 3.5, fill: colour(heights.indexOf(m.height)) }, svg('title', {}, `${m.height}p crf ${m.crf}: ${Math.round(m.bitrate_kbps)} kb/s, ${m.quality.toFixed(1)}`)));
    const hull = [...(ladder.hull || [])].sort((a, b) => a.bitrate_kbps - b.bitrate_kbps);
    if (hull.length) chart.append(svg('polyline', { fill: 'none', stroke: '#eef0f4', 'stroke-width': 1.5,
      points: hull.map((m) => `${x(m.bitrate_kbps)},${y(m.quality)}`).join(' ') }));
    for (const r of rungs) chart.append(svg('line', { x1: x(r.bitrate_kbps), x2: x(r.bitrate_kbps),
      y1: box4[2], y2: box4[3], stroke: '#e8b23a', 'stroke-dasharray': '4 3' }, svg('title', {}, r.name)));
    heights.forEach((ht, i) => chart.append(svg('text', { x: box4[1] - 60, y: 30 + i * 14, fill: colour(i) }, `● ${ht}p`)));
    axes(chart, x, y, { xLabel: 'bitrate (kb/s, log)', yLabel: ladder.metric || 'quality',
      xTicks: [200, 500, 1000, 2000, 5000].filter((t) => x(t) >= box4[0] && x(t) <= box4[1]),
      yTicks: [], box: box4 });
    box.append(h('h3', {}, 'Rate-quality measurements, hull (line) and chosen rungs (dashed)'), chart);
  } else {
    box.append(h('p', {}, 'No rate-quality measurements: this ladder was not analysed per title.'));
  }
  // Chosen rungs next to the fixed ladder: height against bitrate.
  const all = [...rungs, ...fixed];
  const x = scale(Math.min(...all.map((r) => r.bitrate_kbps)) * 0.8,
    Math.max(...all.map((r) => r.bitrate_kbps)) * 1.25, box4[0], box4[1], true);
  const y = scale(0, Math.max(...all.map((r) => r.height)) * 1.1, box4[3], box4[2]);
  const chart = svg('svg', { class: 'plot', id: 'ladder-rungs', width: W, height: 290, role: 'img',
    'aria-label': 'Chosen rungs and the fixed ladder' });
  for (const r of fixed) chart.append(svg('rect', { x: x(r.bitrate_kbps) - 7, y: y(r.height) - 7, width: 14, height: 14,
    fill: 'none', stroke: '#5ab0f0', 'stroke-width': 2 }, svg('title', {}, `fixed ${r.name}`)));
  for (const r of rungs) chart.append(svg('circle', { cx: x(r.bitrate_kbps), cy: y(r.height), r: 3.5,
    fill: '#e8b23a' }, svg('title', {}, `chosen ${r.name}`)));
  chart.append(svg('text', { x: box4[0] + 10, y: 30, fill: '#e8b23a' }, '● chosen rungs'),
    svg('text', { x: box4[0] + 10, y: 46, fill: '#5ab0f0' }, '□ fixed ladder'));
  axes(chart, x, y, { xLabel: 'bitrate (kb/s, log)', yLabel: 'height (px)',
    xTicks: [200, 500, 1000, 2000, 5000, 10000].filter((t) => x(t) >= box4[0] && x(t) <= box4[1]),
    yTicks: [240, 480, 720, 1080, 2160].filter((t) => y(t) >= box4[2]), box: box4 });
  box.append(h('h3', {}, 'Rungs: chosen and fixed'), chart);
  return box;
}

// The section is returned at once and fills itself when the WebVTT arrives.
function spritesSection(sprites) {
  const box = h('section', { id: 'sprites' }, h('h2', {}, 'Sprite sheets'));
  if (!sprites) return box.append(h('p', {}, 'No thumbnails in the package.')), box;
  loadSprites(box, sprites);
  return box;
}

async function loadSprites(box, sprites) {
  try {
    const response = await fetch(sprites.prefix + sprites.vtt);
    const text = await response.text();
    const dir = sprites.vtt.includes('/') ? sprites.vtt.slice(0, sprites.vtt.lastIndexOf('/') + 1) : '';
    const files = [...new Set([...text.matchAll(/^(\S+\.(?:jpg|jpeg|png|webp))#xywh=/gm)].map((m) => m[1]))];
    const list = h('div', { class: 'sprites' });
    for (const file of files.slice(0, 4)) {
      list.append(h('img', { src: sprites.prefix + dir + file, alt: `sprite sheet ${file}`, loading: 'lazy' }));
    }
    box.append(h('p', {}, `${files.length} sprite sheet(s) for ${sprites.vtt}`), list);
  } catch (error) {
    box.append(h('p', {}, `Could not load the thumbnails: ${error.message}`));
  }
}

function packageSection(pkg) {
  const box = h('section', { id: 'package' }, h('h2', {}, 'Package'));
  if (!pkg) return box.append(h('p', {}, 'Not packaged.')), box;
  box.append(h('p', {}, `DRM systems: ${pkg.drm_systems.join(', ') || 'none (clear)'}; ` +
    `${pkg.encrypted ? 'encrypted' : 'clear'}; published ${pkg.published_at || 'not yet'}.`),
  h('ul', { id: 'package-drm', 'aria-label': 'DRM systems' }, pkg.drm_systems.map((d) => h('li', {}, d))));
  const reps = pkg.representations || [];
  const columns = [...new Set(reps.flatMap((r) => Object.keys(r)))]
    .filter((k) => typeof reps.find((r) => r[k] != null)?.[k] !== 'object').slice(0, 9);
  box.append(h('table', { class: 'data', id: 'package-tracks' },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, reps.map((r) => h('tr', {}, columns.map((c) => h('td', {}, r[c] == null ? '–' : String(r[c]))))))));
  return box;
}

export async function renderTitle(main, titleId) {
  main.append(h('h1', { tabindex: -1 }, titleId));
  let data;
  try {
    data = await adminApi(`/v1/admin/titles/${enc(titleId)}/overview`);
  } catch (problem) {
    main.append(refusal(problem));
    return;
  }
  main.querySelector('h1').textContent = `${data.title.name} (${data.title.id}, v${data.version})`;
  main.append(h('p', {}, `State: ${data.title.state}; duration ${formatTime(data.title.duration_s || 0)}; ` +
    'QoE: ', h('a', { href: `#/qoe?by=title&hours=24` }, 'all titles')),
  lifecycle(data.lifecycle), qcSection(data.qc, data.title.duration_s),
  ladderSection(data.ladder, data.fixed_ladder), spritesSection(data.sprites),
  packageSection(data.package));
}
