// Quality, audio and subtitle menus over Shaka's tracks. Quality lists the heights of the
// session's manifest, which the API has already filtered to what the plan allows.

import { announce, languageName } from './dom.js';

const PICK_SAFE_MARGIN_S = 1;

export class TrackMenus {
  constructor(view, player, { signal }) {
    this.player = player;
    // The viewer's choice, not abr.enabled: the player holds adaptation off until the
    // first frame (abr.js), which is no manual pick.
    this.manual = false;
    this.quality = view.querySelector('.quality');
    this.audio = view.querySelector('.audio');
    this.subtitles = view.querySelector('.subtitles');
    const refresh = () => this.build();
    for (const type of ['trackschanged', 'variantchanged', 'adaptation', 'textchanged']) {
      player.addEventListener(type, refresh);
    }
    const onChange = (select, choose) =>
      select.addEventListener('change', () => choose.call(this, select.value), { signal });
    onChange(this.quality, this.chooseQuality);
    onChange(this.audio, this.chooseAudio);
    onChange(this.subtitles, this.chooseSubtitles);
    this.build();
  }

  build() {
    const { player } = this;
    const variants = player.getVariantTracks();
    const active = variants.find((t) => t.active);
    const heights = [...new Set(variants.map((t) => t.height).filter(Boolean))];
    heights.sort((a, b) => b - a);
    const auto = `Auto${active?.height ? ` (${active.height}p)` : ''}`;
    fill(this.quality, [['auto', auto], ...heights.map((h) => [String(h), `${h}p`])],
      this.manual ? String(active?.height ?? 'auto') : 'auto');
    const audio = player.getAudioTracks();
    fill(this.audio, audio.map((t, i) => [String(i), audioLabel(t, audio)]),
      String(Math.max(audio.findIndex((t) => t.active), 0)));
    this.audio.disabled = audio.length < 2;
    const texts = player.getTextTracks();
    const shown = texts.find((t) => t.active);
    fill(this.subtitles,
      [['off', 'Off'], ...texts.map((t) => [String(t.id), t.label || languageName(t.language)])],
      shown ? String(shown.id) : 'off');
    this.subtitles.disabled = texts.length === 0;
  }

  chooseQuality(value) {
    const { player } = this;
    if (value === 'auto') {
      this.manual = false;
      player.configure({ abr: { enabled: true } });
      announce('Quality: automatic');
    } else {
      const height = Number(value);
      const language = player.getVariantTracks().find((t) => t.active)?.language;
      const best = player
        .getVariantTracks()
        .filter((t) => t.height === height && (!language || t.language === language))
        .sort((a, b) => b.bandwidth - a.bandwidth)[0];
      if (!best) return;
      this.manual = true;
      player.configure({ abr: { enabled: false } });
      // Keep a second of what is buffered so the picture does not blank while the pick
      // loads. Shaka 5.2 re-selecting the active variant with a full clear empties the
      // video buffer and never refills it (ABR may already have moved to this rung while
      // lower-rung segments are still buffered), so a full clear is never used here.
      player.selectVariantTrack(best, /* clearBuffer */ true, PICK_SAFE_MARGIN_S);
      announce(`Quality: ${height}p`);
    }
    this.build();
  }

  chooseAudio(value) {
    const track = this.player.getAudioTracks()[Number(value)];
    if (track) this.player.selectAudioTrack(track);
  }

  chooseSubtitles(value) {
    const track = this.player.getTextTracks().find((t) => String(t.id) === value);
    this.player.selectTextTrack(track || null);
  }
}

function audioLabel(track, all) {
  const name = track.label || languageName(track.language);
  const sameName = all.filter((t) => (t.label || languageName(t.language)) === name).length > 1;
  return sameName && track.channelsCount ? `${name} (${track.channelsCount} ch)` : name;
}

// Replaces the options only when they change, so an open menu is not rebuilt under the viewer.
function fill(select, items, selected) {
  const current = [...select.options].map((o) => `${o.value}=${o.text}`).join('|');
  const next = items.map(([v, t]) => `${v}=${t}`).join('|');
  if (current !== next) {
    select.replaceChildren(...items.map(([value, text]) => new Option(text, value)));
  }
  select.value = selected;
}
