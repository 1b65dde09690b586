// Catalog views: home rows (continue watching, new, by genre), search results, title page.
// Everything shown comes from the API, which lists only what the viewer may see.

import { api, enc } from './api.js';
import { h, formatDuration, formatTime, languageName } from './dom.js';
import { markPlayIntent } from './player.js';

const ROW_SIZE = 20;

// Artwork URLs come signed (a query string of their own): the width joins that query.
function sized(url, width) {
  const u = new URL(url, window.location.href);
  u.searchParams.set('width', String(width));
  return u.href;
}

function poster(item, width = 300) {
  const url = item.artwork?.poster;
  return url
    ? h('img', { src: sized(url, width), alt: '', loading: 'lazy', width: 150, height: 225 })
    : h('span', { class: 'poster-fallback', 'aria-hidden': 'true' }, item.name);
}

function card(item, { progress = null } = {}) {
  const label = progress === null ? item.name : `${item.name}, resume at ${formatTime(progress)}`;
  return h('li', { class: 'card' },
    h('a', { href: `#/title/${enc(item.id)}`, 'aria-label': label, dataset: { titleId: item.id } },
      poster(item),
      progress !== null && item.duration_s
        ? h('span', { class: 'progress', 'aria-hidden': 'true' },
          h('span', { style: `width: ${Math.min(100, (100 * progress) / item.duration_s)}%` }))
        : null,
      h('span', { class: 'card-title' }, item.name)));
}

function row(title, items, options = {}) {
  const id = `row-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { class: 'row', 'aria-labelledby': id, dataset: { row: title } },
    h('h2', { id }, title),
    h('ul', { class: 'cards' }, items.map((item) => card(item, options(item)))));
}

export async function renderHome(main) {
  main.replaceChildren(h('p', { class: 'loading' }, 'Loading the catalog…'));
  const [continuing, listing] = await Promise.all([
    api(`/v1/me/continue-watching?limit=${ROW_SIZE}`),
    api('/v1/titles?limit=100'),
  ]);
  const titles = listing.items;
  const rows = [];
  if (continuing.items.length) {
    const progress = (item) => ({ progress: item.resume_position_s });
    rows.push(row('Continue watching', continuing.items, progress));
  }
  if (titles.length) rows.push(row('New', titles.slice(0, ROW_SIZE), () => ({})));
  const genres = [...new Set(titles.flatMap((t) => t.genres))].sort();
  for (const genre of genres) {
    const items = titles.filter((t) => t.genres.includes(genre)).slice(0, ROW_SIZE);
    rows.push(row(genre.charAt(0).toUpperCase() + genre.slice(1), items, () => ({})));
  }
  main.replaceChildren(
    h('h1', { class: 'visually-hidden', tabindex: '-1' }, 'Catalog'),
    ...(rows.length ? rows : [h('p', { class: 'empty' }, 'Nothing to watch here yet.')]),
  );
}

export async function renderSearch(main, query) {
  main.replaceChildren(h('p', { class: 'loading' }, `Searching for “${query}”…`));
  const results = await api(`/v1/search?q=${enc(query)}&limit=50`);
  main.replaceChildren(
    h('h1', { tabindex: '-1' }, `Results for “${query}”`),
    results.items.length
      ? h('ul', { class: 'cards grid', 'aria-label': 'Search results' },
        results.items.map((item) => card(item)))
      : h('p', { class: 'empty', role: 'status' }, 'No titles match your search.'),
  );
}

function availability(window) {
  const fmt = (iso) => new Date(iso).toLocaleDateString(undefined, { dateStyle: 'medium' });
  if (window.end) return `Available until ${fmt(window.end)}`;
  if (window.start) return `Available since ${fmt(window.start)}`;
  return 'Available now';
}

function languages(codes) {
  return codes.length ? codes.map(languageName).join(', ') : 'None';
}

function playButton(title, label, { startOver = false, primary = false } = {}) {
  const href = `#/watch/${enc(title.id)}${startOver ? '?start=0' : ''}`;
  return h('a', { class: `button${primary ? ' primary' : ''}`, href, dataset: { action: 'play' },
    onclick: () => markPlayIntent(title.id, title.name) }, label);
}

export async function renderTitle(main, id) {
  main.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  const t = await api(`/v1/titles/${enc(id)}`);
  document.title = `${t.name} · reelflow`;
  const resume = t.resume_position_s;
  const meta = [formatDuration(t.duration_s), t.rating, t.genres.join(', '),
    t.max_height ? `up to ${t.max_height}p` : null].filter(Boolean).join(' · ');
  const backdrop = t.artwork.backdrop ? `url("${sized(t.artwork.backdrop, 1280)}")` : 'none';
  main.replaceChildren(
    h('article', { class: 'title-page', style: `--backdrop: ${backdrop}` },
      h('div', { class: 'title-body' },
        h('h1', { tabindex: '-1' }, t.name),
        h('p', { class: 'meta' }, meta),
        h('div', { class: 'actions' },
          resume > 0
            ? [playButton(t, `▶ Resume from ${formatTime(resume)}`, { primary: true }),
              playButton(t, 'Start over', { startOver: true })]
            : playButton(t, '▶ Play', { primary: true })),
        h('p', { class: 'synopsis' }, t.synopsis || 'No synopsis yet.'),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Audio'), h('dd', {}, languages(t.audio_languages)),
          h('dt', {}, 'Subtitles'), h('dd', {}, languages(t.subtitle_languages)),
          h('dt', {}, 'Availability'), h('dd', {}, availability(t.availability))))),
  );
}
