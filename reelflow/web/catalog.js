// Catalog views: the viewer's home rows (GET /v1/me/home: continue watching, top picks,
// because you watched, trending, new, genres, in the order the API gives), search results,
// title page. Everything shown comes from the API, which lists only what the viewer may play.
// Viewer events (events.js): `search` per search, `row_impression` once per row (or result
// grid) and page view when it scrolls into sight, `row_click` with the title's place in it;
// a home row is named by its id from the API (new, top-picks, genre-drama...).

import { api, enc } from './api.js';
import { h, formatDuration, formatTime, languageName } from './dom.js';
import { track } from './events.js';
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

// A row's name in events: its heading as a slug ("Continue watching" -> continue-watching).
function rowSlug(title) {
  return title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
}

function card(item, { progress = null } = {}, row = null, position = 0) {
  const label = progress === null ? item.name : `${item.name}, resume at ${formatTime(progress)}`;
  const clicked = () => row && track('row_click', { row, position, title: item.id });
  return h('li', { class: 'card' },
    h('a', { href: `#/title/${enc(item.id)}`, 'aria-label': label, dataset: { titleId: item.id },
      onclick: clicked },
      poster(item),
      progress !== null && item.duration_s
        ? h('span', { class: 'progress', 'aria-hidden': 'true' },
          h('span', { style: `width: ${Math.min(100, (100 * progress) / item.duration_s)}%` }))
        : null,
      h('span', { class: 'card-title' }, item.name)));
}

function row({ id, kind, title, items }) {
  const slug = rowSlug(id) || null;
  const heading = `row-${slug}`;
  const options = kind === 'continue_watching'
    ? (item) => ({ progress: item.resume_position_s })
    : () => ({});
  const attributes = { class: 'row', 'aria-labelledby': heading,
    dataset: { row: title, rowId: id, kind } };
  return h('section', attributes,
    h('h2', { id: heading }, title),
    h('ul', { class: 'cards' }, items.map((item, i) => card(item, options(item), slug, i))));
}

// One row_impression per row (or grid) and page view, when any of it comes into sight.
// `rows`: [element, name, items] in page order (a home row's id, or 'search').
function watchImpressions(rows) {
  const shown = new Map();
  rows.forEach(([element, name, items], position) => {
    const slug = rowSlug(name);
    if (slug) shown.set(element, { row: slug, position, titles: items.map((t) => t.id) });
  });
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries.filter((e) => e.isIntersecting)) {
      observer.unobserve(entry.target);
      track('row_impression', shown.get(entry.target));
    }
  });
  for (const element of shown.keys()) observer.observe(element);
}

export async function renderHome(main) {
  main.replaceChildren(h('p', { class: 'loading' }, 'Loading the catalog…'));
  const home = await api(`/v1/me/home?limit=${ROW_SIZE}`);
  const shown = home.rows.filter((r) => r.items.length); // the API leaves out empty rows too
  const rows = shown.map(row);
  main.replaceChildren(
    h('h1', { class: 'visually-hidden', tabindex: '-1' }, 'Catalog'),
    ...(rows.length ? rows : [h('p', { class: 'empty' }, 'Nothing to watch here yet.')]),
  );
  watchImpressions(rows.map((element, i) => [element, shown[i].id, shown[i].items]));
}

export async function renderSearch(main, query) {
  main.replaceChildren(h('p', { class: 'loading' }, `Searching for “${query}”…`));
  const results = await api(`/v1/search?q=${enc(query)}&limit=50`);
  const items = results.items;
  const grid = items.length
    ? h('ul', { class: 'cards grid', 'aria-label': 'Search results' },
      items.map((item, i) => card(item, {}, 'search', i)))
    : h('p', { class: 'empty', role: 'status' }, 'No titles match your search.');
  main.replaceChildren(h('h1', { tabindex: '-1' }, `Results for “${query}”`), grid);
  if (query.trim()) track('search', { query: query.trim().slice(0, 200), results: items.length });
  if (items.length) watchImpressions([[grid, 'search', items]]);
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
