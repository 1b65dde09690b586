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
  return { abr: { defaultBandwidthEstimate: Math.round(bps * START_SHARE), useNetworkInformation: false } };
}

// The player's own measurement (kb/s) for QoE beacons, or null while Shaka still reports
// its start estimate (nothing measured yet: sending it back would only echo the hint).
export function measuredKbps(player) {
  let bps, start;
  try {
    bps = player.getStats().estimatedBandwidth;
    start = player.getConfiguration().abr.defaultBandwidthEstimate;
  } catch {
    return null; // no player, or one being destroyed
  }
  if (!Number.isFinite(bps) || bps <= 0 || Math.round(bps) === Math.round(start)) return null;
  return Math.round(bps / 1000);
}
