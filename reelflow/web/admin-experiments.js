// Experiments view (docs/experiments.md): the list with a form for a new one (its definition
// as JSON, the shape POST /v1/admin/experiments takes), and one experiment: its definition,
// status and audit trail, Start or Stop, and its results (admin-experiment-results.js).

import { adminApi, refusal } from './admin-api.js';
import { renderResults, when } from './admin-experiment-results.js';
import { enc } from './api.js';
import { h } from './dom.js';

// What the form starts from: the example of docs/experiments.md, open to everyone.
const TEMPLATE = {
  key: 'abr-start',
  hypothesis: 'a higher first bandwidth estimate starts sharper without stalling more',
  variants: [
    { key: 'control', weight: 0.5, config: {} },
    { key: 'fast-start', weight: 0.5, config: { abr: { defaultBandwidthEstimate: 3000000 } } },
  ],
  target: { countries: [], plans: [], devices: [], share: 1 },
  primary_metric: 'minutes_watched',
  guardrails: ['startup_p90', 'rebuffer_ratio'],
  mde: 0.05,
};

const link = (key) => h('a', { href: `#/experiments/${enc(key)}` }, key);
const badge = (status) => h('span', { class: `badge badge-${status}` }, status);

// A refusal as the admin should read it: the field at fault first (422), else the detail.
function problemText(problem) {
  const field = problem.body?.field;
  return field && !problem.message.startsWith(field) ? `${field}: ${problem.message}`
    : problem.message;
}

function createForm() {
  const status = h('p', { id: 'experiment-create-status', role: 'alert' });
  const spec = h('textarea', { id: 'experiment-spec', rows: 20, cols: 84, spellcheck: 'false',
    'aria-label': 'Experiment definition (JSON)' });
  spec.value = JSON.stringify(TEMPLATE, null, 2);
  const form = h('form', { class: 'panel', id: 'experiment-create', onsubmit: async (event) => {
    event.preventDefault();
    let body;
    try {
      body = JSON.parse(spec.value);
    } catch (error) {
      status.textContent = `Not JSON: ${error.message}`;
      return;
    }
    try {
      const made = await adminApi('/v1/admin/experiments', { method: 'POST', body });
      location.hash = `#/experiments/${enc(made.key)}`;
    } catch (problem) {
      status.dataset.field = problem.body?.field || '';
      status.textContent = problemText(problem);
    }
  } },
  h('h2', {}, 'New experiment'),
  h('p', {}, 'A draft: key, variants (the first is control; weights add up to 1; a config\'s ',
    h('code', {}, 'abr'), ' part tunes the web player), target, primary metric, guardrails.'),
  spec, h('div', {}, h('button', { type: 'submit', class: 'button primary' }, 'Create draft')),
  status);
  return form;
}

export async function renderExperiments(main) {
  main.append(h('h1', { tabindex: -1 }, 'Experiments'));
  let list;
  try {
    list = await adminApi('/v1/admin/experiments');
  } catch (problem) {
    main.append(refusal(problem));
    return;
  }
  const rows = list.experiments.map((e) => h('tr', { 'data-key': e.key },
    h('td', {}, link(e.key)), h('td', {}, badge(e.status)), h('td', {}, e.primary_metric),
    h('td', {}, e.guardrails.join(', ') || '–'),
    h('td', {}, e.variants.map((v) => `${v.key} ${Math.round(v.weight * 100)}%`).join(' · ')),
    h('td', {}, when(e.started_at)), h('td', {}, when(e.stopped_at))));
  main.append(h('table', { class: 'data', id: 'experiments' },
    h('thead', {}, h('tr', {}, ['Key', 'Status', 'Primary metric', 'Guardrails', 'Variants',
      'Started (UTC)', 'Stopped (UTC)'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 7 }, 'None yet.')))),
  createForm());
}

function definition(e) {
  const t = e.target;
  const target = [t.countries.length ? `countries ${t.countries.join(', ')}` : 'all countries',
    t.plans.length ? `plans ${t.plans.join(', ')}` : 'all plans',
    t.devices.length ? `devices ${t.devices.join(', ')}` : 'all devices',
    `${Math.round(t.share * 100)}% of them`].join(' · ');
  const layer = e.layer ? `${e.layer.name} [${e.layer.start}, ${e.layer.end})` : 'none';
  const items = [['Hypothesis', e.hypothesis || '–'], ['Target', target], ['Layer', layer],
    ['Primary metric', e.primary_metric], ['Guardrails', e.guardrails.join(', ') || '–'],
    ['Minimum detectable effect', e.mde == null ? '–' : `${(e.mde * 100).toFixed(1)} %`],
    ['Created', when(e.created_at)], ['Started', when(e.started_at)],
    ['Stopped', when(e.stopped_at)]];
  return h('section', { id: 'experiment-definition' }, h('h2', {}, 'Definition'),
    h('dl', { class: 'facts' }, items.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h('table', { class: 'data', id: 'experiment-variants' },
      h('thead', {}, h('tr', {}, ['Variant', 'Weight', 'Config'].map((c) =>
        h('th', { scope: 'col' }, c)))),
      h('tbody', {}, e.variants.map((v, i) => h('tr', {},
        h('td', {}, i ? v.key : `${v.key} (control)`),
        h('td', { class: 'num' }, `${Math.round(v.weight * 1000) / 10} %`),
        h('td', {}, h('code', {}, JSON.stringify(v.config))))))));
}

// Start (a draft) or Stop (a running one); stopping is final, so it asks first.
function actions(e) {
  const status = h('span', { id: 'experiment-action-status', role: 'alert' });
  const move = (verb) => async () => {
    if (verb === 'stop' && !confirm(`Stop ${e.key}? A stopped experiment cannot run again.`)) {
      return;
    }
    try {
      await adminApi(`/v1/admin/experiments/${enc(e.key)}/${verb}`, { method: 'POST' });
      window.dispatchEvent(new HashChangeEvent('hashchange')); // the view again, moved
    } catch (problem) {
      status.textContent = problemText(problem);
    }
  };
  const button = e.status === 'draft'
    ? h('button', { type: 'button', class: 'button primary', id: 'experiment-start',
      onclick: move('start') }, 'Start')
    : e.status === 'running'
      ? h('button', { type: 'button', class: 'button', id: 'experiment-stop',
        onclick: move('stop') }, 'Stop')
      : null;
  return h('div', { class: 'admin-controls' }, button, status);
}

function audit(trail) {
  return h('section', { id: 'experiment-audit' }, h('h2', {}, 'Audit trail'),
    h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, ['At (UTC)', 'Who', 'What', 'Changes'].map((c) =>
        h('th', { scope: 'col' }, c)))),
      h('tbody', {}, trail.map((a) => h('tr', {}, h('td', {}, when(a.at)), h('td', {}, a.actor),
        h('td', {}, a.action), h('td', {}, h('code', {}, JSON.stringify(a.changes).slice(0, 160))))))));
}

export async function renderExperiment(main, key) {
  let e;
  try {
    e = await adminApi(`/v1/admin/experiments/${enc(key)}`);
  } catch (problem) {
    main.append(h('h1', { tabindex: -1 }, `Experiment ${key}`), refusal(problem));
    return;
  }
  main.append(h('h1', { tabindex: -1 }, `Experiment ${e.key} `, badge(e.status)),
    actions(e), definition(e));
  if (e.status !== 'draft') await renderResults(main, e);
  else main.append(h('p', { id: 'experiment-no-results' }, 'Results come once it starts.'));
  main.append(audit(e.audit || []));
}
