// Viewer events (POST /v1/events, docs/events.md): one queue for the page. Each event gets its
// id (a UUID, the unit of deduplication) and the client time when it happens; the queue goes
// out every 10 s, at once when 100 events wait, and when the page is hidden or left (then
// with keepalive, so the request outlives the page). A batch holds at most 100 events and
// 64 KiB, as the API takes.
//
// The API validates event by event: a 422 names the refused ones (index, field) and accepts
// the rest. A refused event is logged and dropped (sending it again would be refused again);
// what failed for a passing reason (network, 5xx, 429) goes back to the queue and is retried
// later. An accepted event is never sent again: an event is in the queue or in one request,
// never both.

import { api } from './api.js';
import { deviceId } from './auth.js';

const FLUSH_MS = 10_000;
const MAX_BACKOFF_MS = 120_000;
const MAX_EVENTS = 100;
const MAX_BYTES = 64 * 1024;
const ENVELOPE_BYTES = '{"events":[]}'.length;
// A player offline for long keeps the newest events only (the API refuses events > 3 days).
const MAX_QUEUED = 1000;
const encoder = new TextEncoder();

let queue = [];
let timer = null;
let failures = 0; // consecutive transient failures: the next flush waits longer
const inflight = new Set(); // requests not answered yet
let epoch = 0; // bumped by dropEvents: a batch of the viewer before never comes back

// For tests and debugging: events made on this page, and how the API answered.
export const stats = { tracked: {}, accepted: 0, refused: 0, retried: 0 }; // tracked: by type

// Queues one event and returns its id; `fields` are its type's own (docs/events.md), e.g.
// {query, results}.
export function track(type, fields = {}) {
  const event = { id: crypto.randomUUID(), type, ts: new Date().toISOString(), ...fields };
  if (!('device' in event)) event.device = deviceId();
  queue.push(event);
  stats.tracked[type] = (stats.tracked[type] ?? 0) + 1;
  if (queue.length > MAX_QUEUED) queue.splice(0, queue.length - MAX_QUEUED);
  if (queue.length >= MAX_EVENTS) flushEvents();
  else schedule(FLUSH_MS);
  return event.id;
}

function schedule(delay) {
  if (timer === null) timer = setTimeout(() => { timer = null; flushEvents(); }, delay);
}

// The queue's head as one batch within the API's limits (events and bytes).
function takeBatch() {
  let bytes = ENVELOPE_BYTES;
  let count = 0;
  for (const event of queue) {
    const size = encoder.encode(JSON.stringify(event)).length + (count ? 1 : 0);
    if (count === MAX_EVENTS || bytes + size > MAX_BYTES) break;
    bytes += size;
    count += 1;
  }
  if (count === 0 && queue.length) { // one event over 64 KiB: the API could never take it
    console.warn('viewer event too large, dropped', queue.shift().type);
    stats.refused += 1;
    return takeBatch();
  }
  return queue.splice(0, count);
}

// Sends everything queued now, batch by batch; resolves when every request in flight (this
// flush's and earlier ones') is answered. `keepalive`: the page is being hidden or left.
export async function flushEvents({ keepalive = false } = {}) {
  clearTimeout(timer);
  timer = null;
  while (queue.length) {
    const sending = send(takeBatch(), keepalive);
    inflight.add(sending);
    sending.finally(() => inflight.delete(sending));
  }
  await Promise.all([...inflight]);
  if (queue.length) schedule(Math.min(MAX_BACKOFF_MS, FLUSH_MS * 2 ** failures));
}

async function send(batch, keepalive) {
  if (!batch.length) return;
  const sentIn = epoch;
  try {
    await api('/v1/events', { method: 'POST', body: { events: batch }, keepalive });
    stats.accepted += batch.length;
    failures = 0;
  } catch (problem) {
    if (sentIn === epoch) settle(batch, problem);
  }
}

function settle(batch, problem) {
  // A per-event answer says how many it accepted; a whole-batch 422 (a bad envelope) does not.
  const named = problem.status === 422 && typeof problem.body?.accepted === 'number';
  if (named) { // per event: the named ones are refused, the others were accepted
    const refused = new Map((problem.body.errors || []).map((e) => [e.index, e]));
    for (const [index, error] of refused) {
      console.warn('viewer event refused', batch[index]?.type, error.field, error.detail);
    }
    stats.refused += refused.size;
    stats.accepted += batch.length - refused.size;
    failures = 0;
  } else if (problem.status === 0 || problem.status === 429 || problem.status >= 500) {
    queue.unshift(...batch); // transient: none of them was taken, all go again later
    stats.retried += batch.length;
    failures += 1;
  } else { // the batch as a whole (401 signed out, 413): sending it again changes nothing
    console.warn('viewer events refused', problem.status, problem.message);
    stats.refused += batch.length;
  }
}

// Forgets what is queued (the viewer signed out: their events must not go out as the next
// viewer's).
export function dropEvents() {
  queue = [];
  epoch += 1;
  clearTimeout(timer);
  timer = null;
}

// Hidden or left: send now, with keepalive (a request the page's end does not cancel).
window.addEventListener('pagehide', () => flushEvents({ keepalive: true }));
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') flushEvents({ keepalive: true });
});
