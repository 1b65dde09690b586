// fetch() for the playback API: bearer token, JSON bodies, RFC 9457 problems as errors.

import { getToken } from './auth.js';

export class ApiProblem extends Error {
  constructor(status, body = {}) {
    super(body.detail || body.title || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    // The slug of https://reelflow.dev/problems/<slug>; a synthetic one otherwise.
    const type = String(body.type || '');
    this.slug = type.includes('/problems/')
      ? type.split('/problems/')[1]
      : status === 0
        ? 'network_error'
        : `http_${status}`;
  }
}

export async function api(
  url, { method = 'GET', body, auth = true, keepalive = false, headers: extra = {} } = {},
) {
  const headers = { ...extra };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const token = getToken();
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      keepalive,
    });
  } catch {
    const detail = 'The service could not be reached.';
    throw new ApiProblem(0, { title: 'Network error', detail });
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiProblem(response.status, data);
  return data;
}

export const enc = encodeURIComponent;
