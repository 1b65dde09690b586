// The admin console: hash routes #/signin, #/qoe, #/title/<id>, #/experiments and
// #/experiments/<key>. Admin token only: every view's data comes from /v1/admin/*, which
// answers 403 to a viewer token.

import { claimsOf } from './auth.js';
import { clearAdmin, getAdmin, setAdmin, adminApi } from './admin-api.js';
import { h } from './dom.js';
import { renderExperiment, renderExperiments } from './admin-experiments.js';
import { renderQoE } from './admin-qoe.js';
import { renderTitle } from './admin-title.js';

const main = document.getElementById('main');

// `reelflow dev token --admin --console-url` prints /admin#token=<jwt>: the fragment never
// leaves the browser; keep the token for this tab and take it out of the address bar and
// history at once.
function tokenFromUrl() {
  if (!location.hash.startsWith('#token=')) return;
  const token = decodeURIComponent(location.hash.slice('#token='.length)).trim();
  history.replaceState(null, '', `${location.pathname}${location.search}#/qoe`);
  if (token) setAdmin({ token, sub: claimsOf(token).sub || '?' });
}

function signIn() {
  const pasted = h('textarea', { id: 'admin-token', rows: 4, cols: 60, required: true,
    'aria-label': 'Admin token' });
  const paste = h('form', { class: 'panel', id: 'admin-paste', onsubmit: (event) => {
    event.preventDefault();
    const token = pasted.value.trim();
    setAdmin({ token, sub: claimsOf(token).sub || '?' });
    location.hash = '#/qoe';
  } },
  h('h2', {}, 'Paste an admin token'),
  pasted, h('button', { type: 'submit', class: 'button' }, 'Sign in'));
  // Admin tokens never come over HTTP, not even in embedded mode: the page can only say
  // where to get one. The dev endpoint (viewer tokens) answers only in embedded mode.
  const hint = h('p', { id: 'admin-dev-hint', class: 'panel', hidden: true },
    'Embedded mode: run ', h('code', {}, 'reelflow dev token --admin --console-url'),
    ' and open the link it prints, or paste the token of ',
    h('code', {}, 'reelflow dev token --admin'), ' here.');
  adminApi('/v1/dev/token', { method: 'POST', body: { sub: 'probe', ttl_s: 60 }, auth: false })
    .then(() => { hint.hidden = false; })
    .catch(() => {});
  return [h('h1', { tabindex: -1 }, 'Admin sign-in'), hint, paste];
}

async function route() {
  tokenFromUrl();
  const hash = location.hash || '#/qoe';
  const auth = getAdmin();
  document.getElementById('account').hidden = !auth;
  document.getElementById('admin-nav').hidden = !auth;
  document.getElementById('account-label').textContent = auth ? auth.sub : '';
  // Each route renders into its own container: a render still awaiting data when the hash
  // changes again finishes into a detached node instead of adding to the new view.
  const view = h('div', { class: 'admin-view' });
  main.replaceChildren(view);
  if (!auth || hash.startsWith('#/signin')) {
    view.append(...signIn());
  } else if (hash.startsWith('#/title/')) {
    await renderTitle(view, decodeURIComponent(hash.slice('#/title/'.length)));
  } else if (hash.startsWith('#/experiments/')) {
    await renderExperiment(view, decodeURIComponent(hash.slice('#/experiments/'.length)));
  } else if (hash.startsWith('#/experiments')) {
    await renderExperiments(view);
  } else {
    await renderQoE(view, new URLSearchParams(hash.split('?')[1] || ''));
  }
  if (view.isConnected) view.querySelector('h1')?.focus();
}

document.getElementById('sign-out').addEventListener('click', () => {
  clearAdmin();
  location.hash = '#/signin';
});
document.getElementById('title-jump').addEventListener('submit', (event) => {
  event.preventDefault();
  const id = document.getElementById('title-jump-input').value.trim();
  location.hash = `#/title/${encodeURIComponent(id)}`;
});
window.addEventListener('hashchange', route);
route();
