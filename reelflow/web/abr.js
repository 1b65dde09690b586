// Where ABR starts (docs/web.md "QoE under shaped networks"). Shaka starts from a 1 Mb/s
// guess, or the browser's downlink figure, and picks the highest rung that guess carries:
// on a slow link the first segment of that rung takes most of its own duration to arrive,
// and start-up waits for it. Here the start estimate is half of what is known about the
// link (the smaller of the viewer's last measured bandwidth on this device, handed out at
// playback start, and the browser's downlink), so the first rung is one the link fetches
// in about half its play time; ABR moves up as soon as it has measured the link.

const FALLBACK_BPS = 1e6; // Shaka's own default, when nothing is known
export const START_SHARE = 0.5;

export function startAbrConfig(hintKbps, connection = navigator.connection) {
  const known = [];
  if (Number.isFinite(hintKbps) && hintKbps > 0) known.push(hintKbps * 1000);
  if (Number.isFinite(connection?.downlink) && connection.downlink > 0) {
    known.push(connection.downlink * 1e6);
  }
  const bps = known.length ? Math.min(...known) : FALLBACK_BPS;
  // useNetworkInformation would replace the start estimate with the raw downlink.
  const estimate = Math.round(bps * START_SHARE);
  return { abr: { defaultBandwidthEstimate: estimate, useNetworkInformation: false } };
}

// Once the first frame is up, the browser's network-change events count again: Shaka then
// drops its estimate and re-chooses from the new downlink (a train leaving a cell).
export function afterStartAbrConfig() {
  return { abr: { useNetworkInformation: true } };
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
