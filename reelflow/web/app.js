// Entry point: hash routes, the header (search, account), one view at a time.

import { ApiProblem } from './api.js';
import { clearAuth, getAuth } from './auth.js';
import { renderHome, renderSearch, renderTitle } from './catalog.js';
import { h } from './dom.js';
import { dropEvents, flushEvents } from './events.js';
import { problemMessage } from './messages.js';
import { renderPlayer } from './player.js';
import { renderSignIn } from './signin.js';

const main = document.getElementById('main');
let cleanup = null;

const ROUTES = [
  [/^#\/signin$/, (m, next) => renderSignIn(main, next)],
  [/^#\/search\?q=(.*)$/, (m) => renderSearch(main, decodeURIComponent(m[1]))],
  [/^#\/title\/([^/?]+)$/, (m) => renderTitle(main, decodeURIComponent(m[1]))],
  [/^#\/watch\/([^/?]+)(\?start=0)?$/,
    (m) => renderPlayer(main, decodeURIComponent(m[1]), { startOver: Boolean(m[2]) })],
  [/^(#\/?)?$/, () => renderHome(main)],
];

let afterSignIn = null;

async function route() {
  const hash = location.hash;
  if (cleanup) {
    const done = cleanup;
    cleanup = null;
    await done();
  }
  const auth = getAuth();
  updateHeader(auth);
  if (!auth && hash !== '#/signin') {
    afterSignIn = hash || '#/';
    location.replace('#/signin');
    return;
  }
  document.title = 'reelflow';
  const match = ROUTES.map(([re, view]) => [hash.match(re), view]).find(([m]) => m);
  if (!match) {
    showError({ title: 'Page not found', text: 'There is nothing at this address.' });
    return;
  }
  try {
    const result = await match[1](match[0], afterSignIn);
    if (typeof result === 'function') cleanup = result;
    if (hash === location.hash) main.querySelector('h1')?.focus({ preventScroll: true });
  } catch (error) {
    if (hash !== location.hash) return; // the viewer has moved on
    if (error instanceof ApiProblem && ['invalid_token', 'token_expired'].includes(error.slug)) {
      clearAuth();
      afterSignIn = hash;
      location.replace('#/signin');
      return;
    }
    const message = error instanceof ApiProblem
      ? problemMessage(error, { country: auth?.country })
      : { title: 'Something went wrong', text: String(error.message || error) };
    showError(message);
  }
}

function showError(message) {
  main.replaceChildren(h('section', { class: 'page-message', role: 'alert',
    dataset: { problem: message.slug || 'error' } },
    h('h1', { tabindex: '-1' }, message.title),
    h('p', {}, message.text),
    h('a', { class: 'button', href: '#/' }, 'Back to the catalog')));
  main.querySelector('h1').focus();
}

function updateHeader(auth) {
  document.getElementById('search-form').hidden = !auth;
  document.getElementById('account').hidden = !auth;
  if (auth) {
    const details = [auth.plan, auth.country].filter(Boolean).join(' · ');
    document.getElementById('account-label').textContent =
      details ? `${auth.sub} (${details})` : auth.sub;
  }
}

document.getElementById('search-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const q = document.getElementById('search-input').value.trim();
  if (q) location.hash = `#/search?q=${encodeURIComponent(q)}`;
});

document.getElementById('sign-out').addEventListener('click', async () => {
  if (cleanup) await cleanup();
  cleanup = null;
  // The viewer's last events go out under their token; none is left for the next viewer's.
  await flushEvents();
  dropEvents();
  clearAuth();
  location.hash = '#/signin';
});

window.addEventListener('hashchange', route);
window.shaka?.polyfill?.installAll();
route();
