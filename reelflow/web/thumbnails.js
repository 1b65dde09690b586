// Seek-bar previews: the package's WebVTT thumbnails track, cues of sprite tiles
// ("sprite_0.jpg#xywh=160,0,160,90"), fetched and parsed here.

function parseTimestamp(text) {
  const parts = text.trim().split(':').map(Number);
  return parts.reduce((total, part) => total * 60 + part, 0);
}

export function parseThumbnailVtt(text, baseUrl) {
  const cues = [];
  for (const block of text.replace(/\r\n?/g, '\n').split(/\n{2,}/)) {
    const lines = block.split('\n');
    const at = lines.findIndex((line) => line.includes('-->'));
    const ref = at >= 0 ? lines[at + 1]?.trim() : '';
    if (!ref) continue;
    const [from, to] = lines[at].split('-->').map((t) => parseTimestamp(t.trim().split(/\s+/)[0]));
    const [path, fragment = ''] = ref.split('#');
    const box = /xywh=(\d+),(\d+),(\d+),(\d+)/.exec(fragment);
    if (!box) continue;
    const [x, y, w, h] = box.slice(1).map(Number);
    cues.push({ start: from, end: to, url: new URL(path, baseUrl).href, x, y, w, h });
  }
  return cues;
}

export async function loadThumbnails(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`thumbnails: HTTP ${response.status}`);
  const cues = parseThumbnailVtt(await response.text(), url);
  // Warm the cache: a sheet holds many tiles, so there are few of them.
  for (const sheet of new Set(cues.map((c) => c.url))) new Image().src = sheet;
  return cues;
}

export function cueAt(cues, time) {
  let lo = 0;
  let hi = cues.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (time < cues[mid].start) hi = mid - 1;
    else if (time >= cues[mid].end) lo = mid + 1;
    else return cues[mid];
  }
  return cues[Math.min(Math.max(hi, 0), cues.length - 1)] || null;
}
