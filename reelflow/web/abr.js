// Where ABR starts (docs/web.md "QoE under shaped networks"). Shaka starts from a 1 Mb/s
// guess, or the browser's downlink figure, and picks the highest rung that guess carries;
// start-up then waits for that rung's whole first segment. Here the start estimate is a
// share of what is known about the link (the smaller of the viewer's last measured
// bandwidth on this device, handed out at playback start, and the browser's downlink),
// chosen so that the first segment arrives in about FIRST_SEGMENT_S at the link's rate: a
// rung declared at most `share * link` fills a segment of `segment_s` with at most
// `share * link * segment_s` bits. Longer segments start on a lower rung.
//
// Adaptation waits for the first frame: Shaka's first samples (manifest, license, init
// segments: small, latency-bound) are no measure of the link, and a switch before the first
// media segment throws away the init segment already fetched and starts over on another
// rung (a round trip and more, seen in bench/qoe.py's waterfall). From the first frame on,
// ABR adapts as Shaka does, and moves up as soon as it has measured the link.

const FALLBACK_BPS = 1e6; // Shaka's own default, when nothing is known
const FIRST_SEGMENT_S = 0.5;
const MAX_SHARE = 0.5;
export const DEFAULT_SEGMENT_S = 6; // packaging's default, when the manifest is not at hand

export function startShare(segmentS = DEFAULT_SEGMENT_S) {
  const s = Number.isFinite(segmentS) && segmentS > 0 ? segmentS : DEFAULT_SEGMENT_S;
  return Math.min(MAX_SHARE, FIRST_SEGMENT_S / s);
}

// Seconds of the first video segment of a DASH MPD (SegmentTemplate timescale and its
// first SegmentTimeline entry, or its duration), or null when the MPD does not say.
export function firstSegmentSeconds(mpdText) {
  let doc;
  try {
    doc = new DOMParser().parseFromString(mpdText, 'application/xml');
  } catch {
    return null;
  }
  for (const set of doc.getElementsByTagName('AdaptationSet')) {
    const type = set.getAttribute('contentType') || set.getAttribute('mimeType') || '';
    if (!type.startsWith('video')) continue;
    const template = set.getElementsByTagName('SegmentTemplate')[0];
    if (!template) continue;
    const timescale = Number(template.getAttribute('timescale') || 1);
    const entry = template.getElementsByTagName('S')[0];
    const units = Number(entry ? entry.getAttribute('d') : template.getAttribute('duration'));
    const seconds = units / timescale;
    if (Number.isFinite(seconds) && seconds > 0) return seconds;
  }
  return null;
}

export function startAbrConfig(hintKbps, { connection = navigator.connection, segmentS } = {}) {
  const known = [];
  if (Number.isFinite(hintKbps) && hintKbps > 0) known.push(hintKbps * 1000);
  if (Number.isFinite(connection?.downlink) && connection.downlink > 0) {
    known.push(connection.downlink * 1e6);
  }
  const bps = known.length ? Math.min(...known) : FALLBACK_BPS;
  // useNetworkInformation would replace the start estimate with the raw downlink.
  const estimate = Math.round(bps * startShare(segmentS ?? DEFAULT_SEGMENT_S));
  return {
    abr: { defaultBandwidthEstimate: estimate, useNetworkInformation: false, enabled: false },
  };
}

// Once the first frame is up, the browser's network-change events count again: Shaka then
// drops its estimate and re-chooses from the new downlink (a train leaving a cell).
// A quality the viewer picked by hand before the first frame stays picked.
export function afterStartAbrConfig({ manualQuality = false } = {}) {
  return { abr: { useNetworkInformation: true, enabled: !manualQuality } };
}

// Shaka samples the link per progress event of a segment download, timed from the moment
// the request was sent: the first sample of each request holds the round trip before the
// first byte with few bytes, so on a 300 ms link it reads a fraction of the throughput, and
// small low-rung segments (two or three samples each) keep the estimate on the low rung it
// chose (bench/qoe.py --profiles 3g, the 'history' column). The round trip is the link's
// latency, not its rate: the first sample is timed from the first byte instead. Where the
// bytes came with the headers, what is left is under Shaka's cache threshold and ignored.
export function transferMs(deltaTimeMs, request) {
  const ttfb = request?.timeToFirstByte;
  if (request?.packetNumber !== 1 || !Number.isFinite(ttfb) || ttfb <= 0) return deltaTimeMs;
  return Math.max(deltaTimeMs - ttfb, 0);
}

// abrFactory for player.configure: Shaka's SimpleAbrManager, fed transfer times.
export function latencyAwareAbrFactory(shaka = window.shaka) {
  class LatencyAwareAbrManager extends shaka.abr.SimpleAbrManager {
    segmentDownloaded(deltaTimeMs, numBytes, allowSwitch, request, context) {
      const ms = transferMs(deltaTimeMs, request);
      super.segmentDownloaded(ms, numBytes, allowSwitch, request, context);
    }
  }
  return () => new LatencyAwareAbrManager();
}

// The player's own measurement (kb/s) for QoE beacons, or null while Shaka still reports
// a default (its start estimate, or the browser's downlink after a network change): sending
// that back would only echo a guess.
export function measuredKbps(player) {
  let bps, start;
  try {
    bps = player.getStats().estimatedBandwidth;
    start = player.getConfiguration().abr.defaultBandwidthEstimate;
  } catch {
    return null; // no player, or one being destroyed
  }
  const downlink = (navigator.connection?.downlink ?? 0) * 1e6; // Shaka's default once started
  const guess = [start, downlink].some((g) => Math.round(g) === Math.round(bps));
  if (!Number.isFinite(bps) || bps <= 0 || guess) return null;
  return Math.round(bps / 1000);
}
