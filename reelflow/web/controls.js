// The player's own controls: play, seek bar with sprite previews, volume, full screen,
// keyboard shortcuts; the track menus are in menus.js.

import { announce, formatTime } from './dom.js';
import { TrackMenus } from './menus.js';
import { cueAt } from './thumbnails.js';

const SEEK_STEP_S = 5;
const VOLUME_KEY = 'reelflow.volume';
const MUTED_KEY = 'reelflow.muted';
const IDLE_MS = 3000;

export class Controls {
  constructor(view, video) {
    this.view = view;
    this.video = video;
    this.stage = view.querySelector('.stage');
    this.q = (sel) => view.querySelector(sel);
    this.cues = [];
    this.dragging = false;
    this.abort = new AbortController();
    this.restoreVolume();
    this.bind();
  }

  on(target, type, fn) {
    target.addEventListener(type, fn, { signal: this.abort.signal });
  }

  restoreVolume() {
    const volume = Number(localStorage.getItem(VOLUME_KEY));
    if (localStorage.getItem(VOLUME_KEY) !== null && volume >= 0 && volume <= 1) {
      this.video.volume = volume;
    }
    this.video.muted = localStorage.getItem(MUTED_KEY) === '1';
  }

  bind() {
    const { video, q } = this;
    const seek = q('.seek-bar');
    this.on(q('.play'), 'click', () => this.togglePlay());
    this.on(q('.big-play'), 'click', () => this.togglePlay());
    this.on(q('.back10'), 'click', () => this.skip(-10));
    this.on(q('.fwd10'), 'click', () => this.skip(10));
    this.on(q('.mute'), 'click', () => this.toggleMute());
    this.on(q('.fullscreen'), 'click', () => this.toggleFullscreen());
    this.on(q('.volume'), 'input', (e) => {
      video.volume = Number(e.target.value);
      video.muted = video.volume === 0;
    });
    this.on(seek, 'input', () => {
      this.dragging = true;
      this.showTime(Number(seek.value));
      this.preview(Number(seek.value));
    });
    this.on(seek, 'change', () => {
      this.dragging = false;
      video.currentTime = Number(seek.value);
      this.hidePreview();
    });
    this.on(seek, 'pointermove', (e) => this.preview(this.timeAtPointer(e)));
    this.on(seek, 'pointerleave', () => this.hidePreview());
    this.on(seek, 'blur', () => this.hidePreview());
    for (const type of ['play', 'pause', 'ended']) this.on(video, type, () => this.syncPlay());
    for (const type of ['timeupdate', 'durationchange', 'seeked']) {
      this.on(video, type, () => this.syncTime());
    }
    this.on(video, 'volumechange', () => this.syncVolume());
    this.on(video, 'click', () => this.togglePlay());
    this.on(document, 'keydown', (e) => this.onKey(e));
    this.on(document, 'fullscreenchange', () => this.syncFullscreen());
    this.on(this.stage, 'pointermove', () => this.wake());
    this.on(this.stage, 'focusin', () => this.wake());
    this.syncVolume();
  }

  // ---- state from the video element -----------------------------------------------------

  syncPlay() {
    const paused = this.video.paused;
    for (const button of [this.q('.play'), this.q('.big-play')]) {
      button.setAttribute('aria-label', paused ? 'Play' : 'Pause');
    }
    this.q('.play').textContent = paused ? '\u25B6' : '\u275A\u275A';
    this.q('.big-play').hidden = !paused || this.stage.dataset.state !== 'ready';
    this.wake();
  }

  syncTime() {
    const { video } = this;
    const seek = this.q('.seek-bar');
    const duration = Number.isFinite(video.duration) ? video.duration : 0;
    seek.max = String(duration);
    if (!this.dragging) {
      seek.value = String(video.currentTime);
      this.showTime(video.currentTime);
    }
  }

  showTime(position) {
    const duration = Number(this.q('.seek-bar').max);
    const text = `${formatTime(position)} / ${formatTime(duration)}`;
    this.q('.time').textContent = text;
    this.q('.seek-bar').setAttribute(
      'aria-valuetext',
      `${formatTime(position)} of ${formatTime(duration)}`,
    );
  }

  syncVolume() {
    const { video } = this;
    const muted = video.muted || video.volume === 0;
    const mute = this.q('.mute');
    mute.setAttribute('aria-label', muted ? 'Unmute' : 'Mute');
    mute.setAttribute('aria-pressed', String(muted));
    this.q('.volume').value = String(video.muted ? 0 : video.volume);
    localStorage.setItem(VOLUME_KEY, String(video.volume));
    localStorage.setItem(MUTED_KEY, video.muted ? '1' : '0');
  }

  syncFullscreen() {
    const full = document.fullscreenElement === this.stage;
    this.q('.fullscreen').setAttribute('aria-label', full ? 'Exit full screen' : 'Full screen');
  }

  // ---- actions ----------------------------------------------------------------------------

  togglePlay() {
    if (this.video.paused || this.video.ended) this.video.play().catch(() => {});
    else this.video.pause();
  }

  skip(seconds) {
    const { video } = this;
    const end = Number.isFinite(video.duration) ? video.duration : Infinity;
    video.currentTime = Math.min(Math.max(video.currentTime + seconds, 0), end);
    announce(`${formatTime(video.currentTime)}`);
  }

  toggleMute() {
    const { video } = this;
    video.muted = !video.muted;
    if (!video.muted && video.volume === 0) video.volume = 0.5;
    announce(video.muted ? 'Muted' : 'Sound on');
  }

  changeVolume(delta) {
    const { video } = this;
    video.volume = Math.min(Math.max(Math.round((video.volume + delta) * 20) / 20, 0), 1);
    video.muted = video.volume === 0;
    announce(`Volume ${Math.round(video.volume * 100)}%`);
  }

  toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else this.stage.requestFullscreen?.().catch(() => {});
  }

  onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const target = event.target;
    const tag = target?.tagName;
    // Menus and text fields keep their keys, a focused button handles space itself and
    // the focused seek bar moves itself with the arrows.
    if (tag === 'SELECT' || tag === 'TEXTAREA') return;
    if (tag === 'INPUT' && (target.type !== 'range' || event.key.startsWith('Arrow'))) return;
    if (tag === 'BUTTON' && event.key === ' ') return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const action = {
      ' ': () => this.togglePlay(),
      k: () => this.togglePlay(),
      ArrowLeft: () => this.skip(-SEEK_STEP_S),
      ArrowRight: () => this.skip(SEEK_STEP_S),
      ArrowUp: () => this.changeVolume(0.05),
      ArrowDown: () => this.changeVolume(-0.05),
      f: () => this.toggleFullscreen(),
      m: () => this.toggleMute(),
    }[key];
    if (!action) return;
    event.preventDefault();
    action();
  }

  wake() {
    this.stage.classList.remove('idle');
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (!this.video.paused && !this.stage.contains(document.activeElement)) {
        this.stage.classList.add('idle');
      }
    }, IDLE_MS);
  }

  // ---- seek-bar previews ------------------------------------------------------------------

  setThumbnails(cues) {
    this.cues = cues || [];
  }

  timeAtPointer(event) {
    const rect = event.currentTarget.getBoundingClientRect();
    const fraction = Math.min(Math.max((event.clientX - rect.left) / rect.width, 0), 1);
    return fraction * Number(this.q('.seek-bar').max);
  }

  preview(time) {
    const box = this.q('.preview');
    const duration = Number(this.q('.seek-bar').max);
    if (!duration) return;
    const cue = this.cues.length ? cueAt(this.cues, time) : null;
    const image = this.q('.preview-image');
    image.hidden = !cue;
    if (cue) {
      Object.assign(image.style, {
        width: `${cue.w}px`,
        height: `${cue.h}px`,
        backgroundImage: `url("${cue.url}")`,
        backgroundPosition: `${-cue.x}px ${-cue.y}px`,
      });
    }
    this.q('.preview-time').textContent = formatTime(time);
    box.hidden = false;
    const seekWidth = this.q('.seek-bar').clientWidth;
    const half = (cue ? cue.w : 60) / 2;
    const left = Math.min(Math.max((time / duration) * seekWidth, half), seekWidth - half);
    box.style.left = `${left}px`;
  }

  hidePreview() {
    this.q('.preview').hidden = true;
  }

  // ---- menus ------------------------------------------------------------------------------

  attach(player) {
    this.menus = new TrackMenus(this.view, player, { signal: this.abort.signal });
  }

  // The viewer picked a quality by hand (adaptation stays off).
  manualQuality() {
    return this.menus?.manual ?? false;
  }

  destroy() {
    clearTimeout(this.idleTimer);
    this.abort.abort();
  }
}
