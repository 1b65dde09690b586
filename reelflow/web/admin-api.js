// The admin console's token and fetch. Kept apart from the player's sign-in (its own
// sessionStorage key), so a viewer signed in to the player is not an admin here.

import { ApiProblem } from './api.js';
import { tabStore } from './auth.js';
import { h } from './dom.js';

const adminAuth = tabStore('reelflow.admin');
export const getAdmin = () => adminAuth.get();
export const setAdmin = (auth) => adminAuth.set(auth);
export const clearAdmin = () => adminAuth.clear();

export async function adminApi(url, { method = 'GET', body, auth = true } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const token = getAdmin()?.token;
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiProblem(0, { title: 'Network error', detail: 'The service could not be reached.' });
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiProblem(response.status, data);
  return data;
}

// What a view shows instead of its data when the API refuses it.
export function refusal(problem) {
  const forbidden = problem instanceof ApiProblem && problem.slug === 'forbidden';
  const signedOut = problem instanceof ApiProblem &&
    ['invalid_token', 'token_expired', 'unauthorized'].includes(problem.slug);
  const text = forbidden
    ? 'This account is not an admin: the console needs an admin token.'
    : signedOut ? 'Please sign in again.' : `Could not load: ${problem.message}`;
  return h('div', { class: 'refusal', role: 'alert', 'data-problem': problem.slug || 'error' },
    h('p', {}, text),
    h('button', { type: 'button', class: 'button', onclick: () => {
      clearAdmin(); location.hash = '#/signin';
    } }, 'Sign in as another account'));
}
