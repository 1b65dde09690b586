// Sign-in: dev accounts (embedded mode, POST /v1/dev/token) or a pasted viewer token.

import { api, ApiProblem } from './api.js';
import { claimsOf, setAuth } from './auth.js';
import { h } from './dom.js';

const PRESETS = [
  { sub: 'ada', plan: 'premium', country: 'US' },
  { sub: 'bo', plan: 'standard', country: 'GB' },
  { sub: 'cy', plan: 'basic', country: 'US' },
  { sub: 'dee', plan: 'premium', country: 'FR' },
];

function field(label, input) {
  return h('label', { class: 'field' }, h('span', {}, label), input);
}

async function devModeAvailable() {
  try {
    await api('/v1/dev/token', { method: 'POST', body: { sub: 'probe', ttl_s: 60 }, auth: false });
    return true;
  } catch (problem) {
    return !(problem instanceof ApiProblem && problem.slug === 'not_found');
  }
}

function devForm(done, status) {
  const sub = h('input', { id: 'signin-sub', name: 'sub', required: true, value: 'ada',
    pattern: '[A-Za-z0-9._@\\-]{1,64}', autocomplete: 'username' });
  const plan = h('select', { id: 'signin-plan', name: 'plan' },
    ['premium', 'standard', 'basic'].map((p) => h('option', { value: p }, p)));
  const country = h('input', { id: 'signin-country', name: 'country', required: true, value: 'US',
    pattern: '[A-Za-z]{2}', maxlength: 2, size: 3 });
  const submit = async (event) => {
    event.preventDefault();
    status.textContent = 'Signing in…';
    try {
      const body = { sub: sub.value.trim(), plan: plan.value, country: country.value.trim() };
      const token = await api('/v1/dev/token', { method: 'POST', body, auth: false });
      done({ token: token.access_token, sub: token.sub, plan: token.plan, country: token.country });
    } catch (problem) {
      status.textContent = `Sign-in failed: ${problem.message}`;
    }
  };
  const presets = PRESETS.map((p) =>
    h('li', {}, h('button', {
      type: 'button', class: 'preset',
      onclick: () => { sub.value = p.sub; plan.value = p.plan; country.value = p.country; },
    }, `${p.sub} · ${p.plan} · ${p.country}`)));
  return h('form', { class: 'panel', id: 'dev-signin', onsubmit: submit },
    h('h2', {}, 'Dev accounts'),
    h('p', {}, 'Embedded mode: pick an account, or make one up. ' +
      'Plan and country decide what it may watch.'),
    h('ul', { class: 'presets', 'aria-label': 'Example accounts' }, presets),
    h('div', { class: 'fields' },
      field('Account', sub), field('Plan', plan), field('Country', country)),
    h('button', { type: 'submit', class: 'button primary' }, 'Sign in'));
}

function tokenForm(done, status) {
  const input = h('textarea', { id: 'signin-token', rows: 3, required: true, spellcheck: 'false' });
  const submit = (event) => {
    event.preventDefault();
    const token = input.value.trim();
    const claims = claimsOf(token);
    if (!claims.sub) {
      status.textContent = 'That does not look like a token (a JWT with a sub claim).';
      return;
    }
    done({ token, sub: claims.sub, plan: claims.plan, country: claims.country });
  };
  return h('form', { class: 'panel', id: 'token-signin', onsubmit: submit },
    h('h2', {}, 'Access token'),
    field('Paste a viewer token', input),
    h('button', { type: 'submit', class: 'button' }, 'Use this token'));
}

export async function renderSignIn(main, next) {
  const status = h('p', { class: 'status', role: 'status' });
  const done = (auth) => {
    setAuth(auth);
    location.hash = next && next !== '#/signin' ? next : '#/';
  };
  main.replaceChildren(h('section', { class: 'signin' },
    h('h1', { tabindex: '-1' }, 'Sign in'), status));
  const forms = (await devModeAvailable())
    ? [devForm(done, status), tokenForm(done, status)]
    : [tokenForm(done, status)];
  main.querySelector('.signin').append(...forms);
}
