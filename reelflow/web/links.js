// Renewed playback links. Tokens and signed media prefixes live minutes; every heartbeat
// answer (and the session start) carries the newest ones, and every later request of the
// player goes out with them: the networking-engine request filter in player.js passes each
// URI through renewUri.
//
// A signed prefix is /media/<exp>/<sig>/<session>/<title>/<version>/ and one signature
// covers the whole package for this session, so renewing a segment URL only swaps
// <exp>/<sig> in front of this session's <session>/<title>/<version>/. API URLs (manifests, playlists, HLS keys, licenses) carry
// the playback token as ?token=, which is swapped for the newest one.

const PREFIX_RE = /\/media\/(\d+)\/([A-Za-z0-9_-]+)\/([^/]+\/[^/]+\/[^/]+\/)$/;

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// The links of a playback start or a heartbeat answer ({token, media_prefix, expires_at}).
export function parseLinks({ token, media_prefix: mediaPrefix, expires_at: expiresAt }) {
  const match = PREFIX_RE.exec(new URL(mediaPrefix, location.href).pathname);
  if (!match || !token) throw new Error('playback answer without a signed media prefix');
  const [, exp, sig, scope] = match;
  return {
    token,
    expiresAt,
    signed: `/media/${exp}/${sig}/${scope}`,
    // This session's media paths of this package under any earlier <exp>/<sig>.
    media: new RegExp(`/media/\\d+/[A-Za-z0-9_-]+/${escapeRegExp(scope)}`),
  };
}

export function renewUri(uri, links) {
  if (!links || uri.startsWith('data:')) return uri; // an inline manifest: no link in it
  let renewed = uri.replace(links.media, links.signed);
  if (renewed.includes('/v1/')) {
    renewed = renewed.replace(/([?&]token=)[^&#]*/, `$1${encodeURIComponent(links.token)}`);
  }
  return renewed;
}
