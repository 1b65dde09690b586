// What the viewer is told for each refusal (problem slug) and for playback errors.
// `action` is what the message offers: 'back' (to the catalog), 'retry', or 'signin'.

// One row a problem slug: [slug, title, text(problem, ctx), action].
const MESSAGES = Object.fromEntries([
  ['geo_blocked', 'Not available in your country',
    (p, ctx) =>
      `This title isn't available in ${ctx.country || 'your country'}. ` +
      'It may be offered in other regions.',
    'back'],
  ['plan_insufficient', 'Not included in your plan',
    (p) => `${p.detail || 'Your plan does not include this title'}. Upgrade to watch it.`,
    'back'],
  ['too_many_streams', 'Too many streams',
    (p) => {
      const n = p.body?.max_streams;
      const streams = n ? `${n} stream${n === 1 ? '' : 's'}` : 'a limited number of streams';
      return `Your plan allows ${streams} at once. ` +
        'Stop watching on another device, then try again.';
    },
    'retry'],
  ['device_in_use', 'Already playing on this device',
    () =>
      'Another player on this device holds the stream. Close it, or wait a minute, then try again.',
    'retry'],
  ['outside_window', 'Not available right now',
    () => "This title is outside its availability window. Check back when it's released.",
    'back'],
  ['not_published', 'No longer available',
    () => 'This title has been removed from the catalog.',
    'back'],
  ['not_found', 'Title not found',
    () => "This title doesn't exist or isn't available to you.",
    'back'],
  ['session_expired', 'Playback stopped',
    (p) => `${p.detail || 'Your playback session ended'}.`,
    'retry'],
  ['unsupported_drm', "Can't play on this browser",
    () => "This browser doesn't support the protection this title needs.",
    'back'],
  ['key_withheld', "Can't play this quality",
    () => 'Your plan does not include the keys for this stream.',
    'back'],
  ['invalid_token', 'Please sign in again',
    () => 'Your sign-in is not valid any more.',
    'signin'],
  ['token_expired', 'Please sign in again',
    () => 'Your sign-in has expired.',
    'signin'],
  ['rate_limited', 'Slow down',
    () => 'Too many requests. Wait a moment and try again.',
    'retry'],
  ['network_error', 'Connection problem',
    () => "The service couldn't be reached. Check your connection and try again.",
    'retry'],
].map(([slug, title, text, action]) => [slug, { title, text, action }]));

const FALLBACK = {
  title: 'Something went wrong',
  text: (p) => p.detail || p.message || 'The service answered with an error.',
  action: 'retry',
};

export function problemMessage(problem, ctx = {}) {
  const entry = MESSAGES[problem.slug] || FALLBACK;
  const text = entry.text(problem, ctx);
  return { slug: problem.slug, title: entry.title, text, action: entry.action };
}

// Shaka errors: categories from shaka.util.Error.Category.
const SHAKA_CATEGORIES = {
  1: 'network', 2: 'text', 3: 'media', 4: 'manifest', 5: 'streaming', 6: 'drm',
};

export function playbackErrorMessage(error) {
  const code = error?.code ?? 0;
  const category = SHAKA_CATEGORIES[error?.category] || 'player';
  const text =
    category === 'drm'
      ? `The license for this stream could not be obtained or used (error ${code}).`
      : category === 'network'
        ? `The stream could not be downloaded (error ${code}).`
        : `The video could not be played (${category} error ${code}).`;
  return { slug: `playback_${category}`, title: 'Playback error', text, action: 'retry' };
}

export function errorCode(error) {
  return error?.code ? `shaka:${error.code}` : 'player:unknown';
}
