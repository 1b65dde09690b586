// Tiny DOM helpers. API data only ever goes in through textContent or attributes.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  el.append(...children.flat().filter((c) => c != null && c !== false));
  return el;
}

export function formatTime(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
  const s = Math.floor(seconds % 60);
  const m = Math.floor(seconds / 60) % 60;
  const hours = Math.floor(seconds / 3600);
  const mm = hours ? String(m).padStart(2, '0') : String(m);
  return `${hours ? hours + ':' : ''}${mm}:${String(s).padStart(2, '0')}`;
}

export function formatDuration(seconds) {
  if (!seconds) return '';
  const minutes = Math.round(seconds / 60);
  if (minutes < 1) return `${Math.round(seconds)} s`;
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

const languageNames = new Intl.DisplayNames(['en'], { type: 'language' });

export function languageName(code) {
  if (!code || code === 'und') return 'Unknown';
  try {
    return languageNames.of(code) || code;
  } catch {
    return code;
  }
}

export function announce(text) {
  const region = document.getElementById('announcer');
  if (region) region.textContent = text;
}
