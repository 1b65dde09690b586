// QoE beacons (POST /v1/qoe): startup time, rebuffers, played time, quality switches and
// errors. Each beacon carries the totals since the previous one.

import { api } from './api.js';

const MAX_ERRORS = 20;

export class Qoe {
  // `bandwidthKbps()`: the player's measured bandwidth or null; sent with each beacon, the
  // API keeps it as this device's hint for the next playback start.
  constructor(sessionId, titleId, bandwidthKbps = () => null) {
    this.sessionId = sessionId;
    this.titleId = titleId;
    this.bandwidthKbps = bandwidthKbps;
    this.started = false; // rebuffers count only after the first frame
    this.stallSince = null;
    this.playingSince = null;
    this.clear();
  }

  clear() {
    this.startupMs = null;
    this.rebufferCount = 0;
    this.rebufferMs = 0;
    this.playedMs = 0;
    this.switches = 0;
    this.errors = [];
  }

  firstFrame(startupMs) {
    this.started = true;
    this.startupMs = Math.round(startupMs);
  }

  playing(on) {
    const now = performance.now();
    if (on && this.playingSince === null) this.playingSince = now;
    if (!on && this.playingSince !== null) {
      this.playedMs += now - this.playingSince;
      this.playingSince = null;
    }
  }

  buffering(on) {
    const now = performance.now();
    if (on && this.started && this.stallSince === null) {
      this.stallSince = now;
      this.rebufferCount += 1;
    } else if (!on && this.stallSince !== null) {
      this.rebufferMs += now - this.stallSince;
      this.stallSince = null;
    }
  }

  switched() {
    if (this.started) this.switches += 1; // the first pick before the first frame is no switch
  }

  error(code) {
    if (this.errors.length < MAX_ERRORS) this.errors.push(code);
  }

  // Sends what accumulated since the last beacon; nothing if nothing happened.
  async flush({ keepalive = false } = {}) {
    const now = performance.now();
    if (this.playingSince !== null) {
      this.playedMs += now - this.playingSince;
      this.playingSince = now;
    }
    if (this.stallSince !== null) {
      this.rebufferMs += now - this.stallSince;
      this.stallSince = now;
    }
    const body = {
      session_id: this.sessionId,
      title_id: this.titleId,
      rebuffer_count: this.rebufferCount,
      rebuffer_ms: Math.round(this.rebufferMs),
      played_ms: Math.round(this.playedMs),
      bitrate_switches: this.switches,
      errors: this.errors,
    };
    if (this.startupMs !== null) body.startup_ms = this.startupMs;
    const kbps = this.bandwidthKbps();
    if (kbps !== null) body.bandwidth_kbps = kbps;
    const empty = this.startupMs === null && !body.rebuffer_count && !body.played_ms &&
      !body.bitrate_switches && !body.errors.length;
    if (empty) return;
    this.clear();
    try {
      await api('/v1/qoe', { method: 'POST', body, keepalive });
    } catch {
      // A lost beacon is not worth interrupting playback for.
    }
  }
}
