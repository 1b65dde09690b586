// The player view: a playback session from the API, Shaka Player on its DASH (ClearKey
// licenses from the API) or HLS manifest, heartbeats (which renew the session's short-lived
// token and media links: links.js), QoE beacons, viewer events (events.js: play_start,
// progress, play_end), the ABR settings of the viewer's experiment variants (experiments.js),
// refusal messages.

import {
  afterStartAbrConfig, firstSegmentSeconds, latencyAwareAbrFactory, measuredKbps, startAbrConfig,
} from './abr.js';
import { api, enc, ApiProblem } from './api.js';
import { codecConfig } from './codecs.js';
import { deviceId, getAuth, getToken, lastSessionId, rememberSession } from './auth.js';
import { Controls } from './controls.js';
import { announce } from './dom.js';
import { flushEvents, track } from './events.js';
import { experimentConfig } from './experiments.js';
import { parseLinks, renewUri } from './links.js';
import { errorCode, playbackErrorMessage, problemMessage } from './messages.js';
import { Qoe } from './qoe.js';
import { loadThumbnails } from './thumbnails.js';

// A progress event every 30 s of playing, besides those on pause and seek.
const PROGRESS_MS = 30_000;

// The viewer's click on Play (time and title), for the startup QoE figure and the heading.
let intent = null;
export function markPlayIntent(titleId, name) {
  intent = { at: performance.now(), titleId, name };
}

// For tests and debugging: the live Shaka player and session (never the viewer's token).
// `renewals` counts heartbeat answers whose links the player switched to; `experiments`, the
// settings each of the viewer's experiment variants applied (experiments.js).
window.reelflow = { player: null, session: null, startupMs: null, renewals: 0, experiments: [] };

export function renderPlayer(main, titleId, { startOver = false } = {}) {
  const view = document.getElementById('player-template').content.firstElementChild.cloneNode(true);
  main.replaceChildren(view);
  const known = intent?.titleId === titleId ? intent : null;
  intent = null;
  const options = { startOver, intentAt: known?.at, name: known?.name };
  const playback = new Playback(view, titleId, options);
  playback.start();
  return () => playback.close();
}

// DASH with ClearKey licenses from the API by default; HLS (identity key lines served by
// the API) when DASH is missing or localStorage 'reelflow.protocol' is 'hls'. The DASH MPD
// the start answer carried (dash_mpd) loads from a data: URI: its BaseURL is absolute, so
// segments resolve as they would from the manifest URL.
// One key per start, sent again on its retries: a start repeated after a network error or
// a 502/503/504 (a replica lost mid-request; the edge retries such a start too) answers the
// same session instead of opening a second one. getRandomValues, not randomUUID: the latter
// exists only in secure contexts, and a LAN demo is plain http.
const START_RETRIES = 2;
async function startSession(titleId, body) {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  const key = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  const headers = { 'Idempotency-Key': key };
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await api(`/v1/titles/${enc(titleId)}/playback`, { method: 'POST', body, headers });
    } catch (problem) {
      const transient = problem instanceof ApiProblem && [0, 502, 503, 504].includes(problem.status);
      if (!transient || attempt >= START_RETRIES) throw problem;
      await new Promise((resolve) => setTimeout(resolve, 1000 * (attempt + 1)));
    }
  }
}

function prefersHls() {
  return localStorage.getItem('reelflow.protocol') === 'hls';
}

function pickManifest({ manifests: { dash, hls }, dash_mpd: inlineMpd }) {
  if (hls && (prefersHls() || !dash)) return [hls, 'application/x-mpegurl'];
  if (inlineMpd) return [dataUri(inlineMpd, 'application/dash+xml'), 'application/dash+xml'];
  return [dash, 'application/dash+xml'];
}

function dataUri(text, mime) {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return `data:${mime};base64,${btoa(binary)}`;
}

class Playback {
  constructor(view, titleId, { startOver, intentAt, name }) {
    this.view = view;
    this.titleId = titleId;
    this.startOver = startOver;
    this.intentAt = intentAt ?? performance.now();
    this.name = name;
    this.video = view.querySelector('video');
    this.stage = view.querySelector('.stage');
    this.controls = new Controls(view, this.video);
    this.player = null;
    this.session = null;
    this.qoe = null;
    this.timer = null;
    this.progressTimer = null;
    this.watching = false; // a play_start went out and its play_end has not
    this.closed = false;
    this.ended = false; // the server ended the session (another device took it over)
    this.links = null; // the newest token and signed media prefix (links.js)
    this.onPageHide = () => this.leave({ keepalive: true });
    window.addEventListener('pagehide', this.onPageHide);
    if (name) this.showName(name);
  }

  async start() {
    this.setState('loading');
    if (!window.shaka?.Player) {
      this.show({ slug: 'no_player', title: 'Player missing',
        text: 'Shaka Player is not installed on this server (run npm ci).', action: 'back' });
      return;
    }
    // The player attaches (MediaSource setup) while the session request is in flight.
    const player = (this.player = new window.shaka.Player());
    window.reelflow.player = player;
    player.setVideoContainer(this.stage); // subtitles render in the stage, above the controls
    // Manifests, segments, keys and licenses all go out with the newest renewed links.
    // Licenses and HLS keys also need the viewer's own token: the session's links alone
    // (which a viewer could hand around) unlock nothing.
    player.getNetworkingEngine().registerRequestFilter((type, request) => {
      request.uris = request.uris.map((uri) => renewUri(uri, this.links));
      const token = getToken();
      if (token && request.uris.some((uri) => uri.includes('/v1/license/'))) {
        request.headers.Authorization = `Bearer ${token}`;
      }
    });
    const attached = player.attach(this.video);
    let start;
    try {
      // inline_manifest: the DASH MPD comes with the answer, one round trip less to wait
      // (not asked for when HLS will be played: the API would render an MPD for nothing).
      const body = {
        device_id: deviceId(), drm: ['clearkey'], protocols: ['dash', 'hls'],
        inline_manifest: !prefersHls(),
      };
      const previous = lastSessionId(); // a reload or second tab replaces it on this device
      if (previous) body.takeover_session_id = previous;
      start = await startSession(this.titleId, body);
    } catch (problem) {
      this.refuse(problem);
      return;
    }
    if (this.closed) {
      api(`/v1/sessions/${start.session_id}`, { method: 'DELETE' }).catch(() => {});
      return;
    }
    rememberSession(start.session_id);
    this.session = start;
    this.links = parseLinks(start);
    window.reelflow.session = { ...start, token: undefined, dash_mpd: undefined };
    this.qoe = new Qoe(start.session_id, this.titleId, () => measuredKbps(this.player));
    try {
      await attached;
      await this.load(start);
    } catch (error) {
      this.fail(error);
    }
  }

  async load(start) {
    const player = this.player;
    const clearkey = start.licenses.clearkey;
    player.configure({ drm: { servers: clearkey ? { 'org.w3.clearkey': clearkey } : {} } });
    player.configure(codecConfig()); // codecs.js: AV1 where it decodes
    const segmentS = start.dash_mpd ? firstSegmentSeconds(start.dash_mpd) : null;
    player.configure(startAbrConfig(start.bandwidth_hint_kbps, { segmentS })); // abr.js
    // After abr.js: a variant's start estimate replaces the player's own.
    const tuned = experimentConfig(start.experiments);
    if (tuned.config) player.configure(tuned.config);
    if (tuned.ignored.length) console.warn('experiment settings ignored:', tuned.ignored);
    window.reelflow.experiments = tuned.applied;
    player.configure('abrFactory', latencyAwareAbrFactory());
    player.addEventListener('error', (event) => this.fail(event.detail));
    player.addEventListener('buffering', (event) => {
      this.qoe.buffering(event.buffering);
      this.stage.classList.toggle('buffering', event.buffering);
    });
    player.addEventListener('adaptation', () => this.qoe.switched());
    const video = this.video;
    video.addEventListener('playing', () => this.onPlaying(), { once: true });
    video.addEventListener('playing', () => this.qoe.playing(true));
    for (const type of ['pause', 'waiting', 'ended']) {
      video.addEventListener(type, () => this.qoe.playing(false));
    }
    video.addEventListener('pause', () => !this.closed && this.heartbeat());
    video.addEventListener('ended', () => this.report());
    video.addEventListener('playing', () => this.playStart());
    for (const type of ['pause', 'seeked']) video.addEventListener(type, () => this.progress());
    video.addEventListener('ended', () => this.playEnd('ended'));
    const [url, mime] = pickManifest(start);
    const resume = this.startOver ? 0 : start.resume_position_s;
    await player.load(url, resume > 0 ? resume : null, mime);
    if (this.closed) return;
    this.controls.attach(player);
    this.setState('ready');
    this.controls.syncPlay();
    if (resume > 0) announce(`Resuming at ${Math.round(resume)} seconds`);
    this.timer = setInterval(() => this.report(), start.heartbeat_interval_s * 1000);
    this.progressTimer = setInterval(() => !video.paused && this.progress(), PROGRESS_MS);
    video.play().catch(() => this.controls.syncPlay()); // autoplay refused: the big button shows
  }

  onPlaying() {
    const startupMs = performance.now() - this.intentAt;
    window.reelflow.startupMs = startupMs;
    this.player.configure(afterStartAbrConfig({ manualQuality: this.controls.manualQuality() }));
    this.qoe.firstFrame(startupMs);
    this.qoe.flush();
    this.heartbeat();
    if (!this.name) this.loadTitleName(); // opened by link or reload: not known yet
    // Seek-bar previews once the first frame is up: they never compete with startup.
    if (this.session.thumbnails) {
      loadThumbnails(this.session.thumbnails)
        .then((cues) => this.controls.setThumbnails(cues))
        .catch((error) => console.warn('thumbnails', error));
    }
  }

  showName(name) {
    this.name = name;
    this.view.querySelector('#player-title').textContent = name;
    document.title = `${name} · reelflow`;
  }

  async loadTitleName() {
    try {
      this.showName((await api(`/v1/titles/${enc(this.titleId)}`)).name);
    } catch {
      // The heading stays generic; playback does not depend on it.
    }
  }

  // ---- heartbeats and beacons -------------------------------------------------------------

  position() {
    const { currentTime, duration } = this.video;
    const known = duration > 0 && Number.isFinite(duration);
    return { position: currentTime, duration: known ? duration : undefined };
  }

  async heartbeat({ keepalive = false } = {}) {
    if (!this.session || this.ended) return;
    try {
      const ack = await api(this.session.heartbeat_url, {
        method: 'PUT', body: this.position(), keepalive,
      });
      // Links outlive a renewal's round trip, so switching only for later requests is safe.
      if (ack && !this.ended) {
        this.links = parseLinks(ack);
        window.reelflow.renewals += 1;
      }
    } catch (problem) {
      if (problem instanceof ApiProblem && problem.slug === 'session_expired' && !this.closed) {
        this.ended = true;
        this.playEnd('stopped');
        this.video.pause();
        this.refuse(problem);
      }
    }
  }

  // End the session with its last position in the same request: its stream lease frees at
  // once, also when the tab closes (a keepalive request outlives the page).
  async leave({ keepalive = false } = {}) {
    if (!this.session || this.ended) return;
    this.ended = true;
    this.qoe?.flush({ keepalive });
    this.playEnd(keepalive ? 'left' : 'stopped');
    flushEvents({ keepalive }); // sent before the DELETE that ends the session
    const { position, duration } = this.position();
    const query = new URLSearchParams({ position: String(position) });
    if (duration) query.set('duration', String(duration));
    const url = `/v1/sessions/${this.session.session_id}?${query}`;
    await api(url, { method: 'DELETE', keepalive }).catch(() => {});
  }

  report({ keepalive = false } = {}) {
    this.qoe?.flush({ keepalive });
    return this.heartbeat({ keepalive });
  }

  // ---- viewer events (events.js) ----------------------------------------------------------

  watchEvent(type, fields = {}) {
    const { position, duration } = this.position();
    const event = { session: this.session.session_id, title: this.titleId, position_s: position };
    if (type === 'progress' && duration) event.duration_s = duration;
    track(type, { ...event, ...fields });
  }

  // The first frame, and again when a title that ended is played again.
  playStart() {
    if (this.watching || this.closed) return;
    this.watching = true;
    this.watchEvent('play_start');
  }

  progress() {
    if (this.watching && !this.closed) this.watchEvent('progress');
  }

  playEnd(reason) {
    if (!this.watching) return;
    this.watching = false;
    this.watchEvent('play_end', { reason });
  }

  // ---- errors and refusals ----------------------------------------------------------------

  refuse(problem) {
    const auth = getAuth();
    this.show(problemMessage(problem, { country: auth?.country }));
  }

  fail(error) {
    if (this.closed) return;
    if (error instanceof ApiProblem) return this.refuse(error);
    this.playEnd('error');
    this.qoe?.error(errorCode(error));
    this.qoe?.flush();
    console.error('playback error', error);
    this.show(playbackErrorMessage(error));
  }

  show(message) {
    this.setState('message');
    if (!this.name) this.view.querySelector('#player-title').textContent = 'Playback';
    const box = this.view.querySelector('.message');
    box.dataset.problem = message.slug;
    box.querySelector('.message-title').textContent = message.title;
    box.querySelector('.message-text').textContent = message.text;
    const actions = box.querySelector('.message-actions');
    const button = document.createElement(message.action === 'back' ? 'a' : 'button');
    if (message.action === 'back') {
      button.href = '#/';
      button.textContent = 'Back to the catalog';
    } else if (message.action === 'signin') {
      button.textContent = 'Sign in';
      button.addEventListener('click', () => (location.hash = '#/signin'));
    } else {
      button.textContent = 'Try again';
      // Re-runs the current route: a new session from scratch.
      const rerun = () => window.dispatchEvent(new HashChangeEvent('hashchange'));
      button.addEventListener('click', rerun);
    }
    button.className = 'button';
    actions.replaceChildren(button);
    box.hidden = false;
    button.focus();
  }

  setState(state) {
    this.stage.dataset.state = state;
    if (state !== 'message') this.view.querySelector('.message').hidden = true;
  }

  // ---- leaving ----------------------------------------------------------------------------

  async close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    clearInterval(this.progressTimer);
    window.removeEventListener('pagehide', this.onPageHide);
    this.controls.destroy();
    this.video.pause();
    const session = this.session;
    if (session && !this.ended) await this.leave();
    await this.player?.destroy();
    window.reelflow.player = null;
    window.reelflow.session = null;
    window.reelflow.experiments = [];
  }
}
