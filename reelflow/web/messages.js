// What the viewer is told for each refusal (problem slug) and for playback errors.
// `action` is what the message offers: 'back' (to the catalog), 'retry', or 'signin'.

const MESSAGES = {
  geo_blocked: {
    title: 'Not available in your country',
    text: (p, ctx) =>
      `This title isn't available in ${ctx.country || 'your country'}. ` +
      'It may be offered in other regions.',
    action: 'back',
  },
  plan_insufficient: {
    title: 'Not included in your plan',
    text: (p) => `${p.detail || 'Your plan does not include this title'}. Upgrade to watch it.`,
    action: 'back',
  },
  too_many_streams: {
    title: 'Too many streams',
    text: (p) => {
      const n = p.body?.max_streams;
      const streams = n ? `${n} stream${n === 1 ? '' : 's'}` : 'a limited number of streams';
      return `Your plan allows ${streams} at once. ` +
        'Stop watching on another device, then try again.';
    },
    action: 'retry',
  },
  device_in_use: {
    title: 'Already playing on this device',
    text: () =>
      'Another player on this device holds the stream. Close it, or wait a minute, then try again.',
    action: 'retry',
  },
  outside_window: {
    title: 'Not available right now',
    text: () => "This title is outside its availability window. Check back when it's released.",
    action: 'back',
  },
  not_published: {
    title: 'No longer available',
    text: () => 'This title has been removed from the catalog.',
    action: 'back',
  },
  not_found: {
    title: 'Title not found',
    text: () => "This title doesn't exist or isn't available to you.",
    action: 'back',
  },
  session_expired: {
    title: 'Playback stopped',
    text: (p) => `${p.detail || 'Your playback session ended'}.`,
    action: 'retry',
  },
  unsupported_drm: {
    title: "Can't play on this browser",
    text: () => "This browser doesn't support the protection this title needs.",
    action: 'back',
  },
  key_withheld: {
    title: "Can't play this quality",
    text: () => 'Your plan does not include the keys for this stream.',
    action: 'back',
  },
  invalid_token: {
    title: 'Please sign in again',
    text: () => 'Your sign-in is not valid any more.',
    action: 'signin',
  },
  token_expired: {
    title: 'Please sign in again',
    text: () => 'Your sign-in has expired.',
    action: 'signin',
  },
  rate_limited: {
    title: 'Slow down',
    text: () => 'Too many requests. Wait a moment and try again.',
    action: 'retry',
  },
  network_error: {
    title: 'Connection problem',
    text: () => "The service couldn't be reached. Check your connection and try again.",
    action: 'retry',
  },
};

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
