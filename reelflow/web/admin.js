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

function signIn() {
  const status = h('p', { role: 'status' });
  const done = (auth) => { setAdmin(auth); location.hash = '#/qoe'; };
  const sub = h('input', { id: 'admin-sub', value: 'ops', required: true,
    pattern: '[A-Za-z0-9._@\\-]{1,64}' });
  const dev = h('form', { class: 'panel', id: 'admin-dev-signin', hidden: true,
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        const body = { sub: sub.value.trim(), admin: true };
        const token = await adminApi('/v1/dev/token', { method: 'POST', body, auth: false });
        done({ token: token.access_token, sub: token.sub });
      } catch (problem) {
        status.textContent = `Sign-in failed: ${problem.message}`;
      }
    } },
  h('h2', {}, 'Dev admin account'),
  h('p', {}, 'Embedded mode: an admin token for any account name.'),
  h('label', { class: 'field' }, h('span', {}, 'Account'), sub),
  h('button', { type: 'submit', class: 'button primary' }, 'Sign in as admin'));
  const pasted = h('textarea', { id: 'admin-token', rows: 4, cols: 60, required: true,
    'aria-label': 'Admin token' });
  const paste = h('form', { class: 'panel', id: 'admin-paste', onsubmit: (event) => {
    event.preventDefault();
    const token = pasted.value.trim();
    done({ token, sub: claimsOf(token).sub || '?' });
  } },
  h('h2', {}, 'Paste an admin token'),
  pasted, h('button', { type: 'submit', class: 'button' }, 'Sign in'));
  // The dev endpoint exists only in embedded mode on loopback; elsewhere it is not_found.
  adminApi('/v1/dev/token', { method: 'POST', body: { sub: 'probe', ttl_s: 60 }, auth: false })
    .then(() => { dev.hidden = false; })
    .catch(() => {});
  return [h('h1', { tabindex: -1 }, 'Admin sign-in'), dev, paste, status];
}

async function route() {
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
