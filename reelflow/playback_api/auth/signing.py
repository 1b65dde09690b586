"""Signed media paths and playback tokens.

Media paths: ``/media/<exp>/<sig>/<holder>/<title>/<version>/<object subpath>``. One
signature covers a whole package (title + version) for one *holder*, so the relative segment
URIs inside manifests need no per-segment rewrite. The holder is either a playback session id
(a link of that session only: the embedded origin serves it only while the session's lease
holds, session_links.check_media_link) or ``thumbs`` (the admin console's link: objects under
the package's ``thumbs/`` only, never a segment). The holder is inside the signed scope, so a
link of session A cannot be turned into one of session B. The edge caches by object
(title/version/object), never by holder or signature. The signature has to be checkable by
the nginx edge without Python, and Debian's nginx offers only ``secure_link_md5``. So the
signature is exactly what that module computes::

    sig = base64url_nopad(md5(f"{exp}/media/{holder}/{title}/{version}/ {link_secret}"))

checked in nginx by ``secure_link $sig,$exp`` with ``secure_link_md5 "$exp$scope <secret>"``
(deploy/nginx/edge.conf.template). deploy/nginx/README.md explains why MD5 with a secret
suffix is acceptable here and what limits it. Python's side (embedded origin) computes the
same digest, compares in constant time, and additionally refuses traversal outright.

The link secret lives on edge hosts, so derive it from the main signing secret with
``media_link_secret`` rather than reusing that secret: an edge compromise then exposes only
media links, not playback tokens or webhooks.

Playback tokens (manifest and license URLs): a compact HMAC-SHA256 token,
``base64url(json payload) "." base64url(hmac)``, bound to session, title and version.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from reelflow.domain.ids import TITLE_ID_PATTERN, is_title_id
from reelflow.playback_api.delivery.sessions import SESSION_ID_RE
from reelflow.playback_api.http.problems import Problem

MEDIA_ROOT = "/media/"
# Versions ("v1") and session ids: start alphanumeric so "." and ".." can never be one of
# them. Title ids follow the one title-id rule (reelflow.domain.ids), which is narrower.
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Characters nginx can hold in a quoted config string without escaping or variable expansion.
_LINK_SECRET_RE = re.compile(r"^[A-Za-z0-9._~+/=-]{16,256}$")
_SIG_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")  # 16 bytes, base64url without padding
_EXP_RE = re.compile(r"^[0-9]{1,12}$")
# Object names the packager writes; anything else (%, \, NUL, spaces, ...) is refused.
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_~+=,@-][A-Za-z0-9._~+=,@-]*$")
MAX_MEDIA_PATH = 1024
# The holder that is no session: the admin console's thumbnails link (routes/admin_qoe.py),
# good for objects under THUMBNAILS_DIR only. nginx: the map in edge.conf.template.
THUMBNAILS_HOLDER = "thumbs"
THUMBNAILS_DIR = "thumbs/"

# Content types the embedded origin and the nginx edge both serve (kept in step by a test).
MEDIA_CONTENT_TYPES: dict[str, str] = {
    "mpd": "application/dash+xml",
    "m3u8": "application/vnd.apple.mpegurl",
    "m4s": "video/iso.segment",
    "mp4": "video/mp4",
    "m4a": "audio/mp4",
    "m4v": "video/mp4",
    "vtt": "text/vtt",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
}


class SigningConfigError(ValueError):
    """A secret or identifier cannot be used for signing; the message says why."""


@dataclass(frozen=True)
class MediaPathClaim:
    holder: str  # a playback session id, or THUMBNAILS_HOLDER
    title_id: str
    version: str
    object_subpath: str
    expires_at: int


@dataclass(frozen=True)
class PlaybackClaim:
    session_id: str
    title_id: str
    version: str
    expires_at: int
    # The session's entitlement, carried (signed) so manifests need no session lookup: its
    # largest picture in pixels (width x height) and its DRM systems.
    max_pixels: int | None = None
    drm: tuple[str, ...] = ()


def b64url(raw: bytes) -> str:
    """Unpadded base64url (RFC 4648 section 5), as JWTs, JWKs and nginx secure_link use."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of ``b64url``; raises binascii.Error (a ValueError) on bad input."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def media_link_secret(signing_secret: bytes) -> str:
    """The edge secret derived from the main signing secret (64 hex chars, nginx-safe)."""
    return hmac.new(signing_secret, b"reelflow media-link v1", hashlib.sha256).hexdigest()


def _link_secret(secret: str | bytes) -> str:
    text = secret.decode("ascii", "replace") if isinstance(secret, bytes) else secret
    if not _LINK_SECRET_RE.match(text):
        raise SigningConfigError(
            "media link secret must be 16-256 characters of [A-Za-z0-9._~+/=-] "
            "(use media_link_secret(signing_secret))"
        )
    return text


def _check_id(kind: str, value: str) -> None:
    if not ID_RE.fullmatch(value):
        raise SigningConfigError(f"{kind} {value!r} must match {ID_RE.pattern}")


def _check_title_id(value: str) -> None:
    if not is_title_id(value):
        raise SigningConfigError(f"title id {value!r} must match {TITLE_ID_PATTERN}")


def is_holder(value: str) -> bool:
    """A playback session id or the thumbnails holder: what a media link may be bound to."""
    return value == THUMBNAILS_HOLDER or SESSION_ID_RE.fullmatch(value) is not None


def _scope(holder: str, title_id: str, version: str) -> str:
    return f"{MEDIA_ROOT}{holder}/{title_id}/{version}/"


def _media_sig(secret: str, expires_at: int, scope: str) -> bytes:
    # Exactly nginx's secure_link_md5 "$exp$scope <secret>": md5 over the plain string.
    return hashlib.md5(f"{expires_at}{scope} {secret}".encode(), usedforsecurity=False).digest()


def sign_prefix(
    secret: str | bytes, title_id: str, version: str, expires_at: int, *, holder: str
) -> str:
    """The signed URL path prefix for one package and one holder, ending with '/'."""
    key = _link_secret(secret)
    _check_title_id(title_id)
    _check_id("version", version)
    if not is_holder(holder):
        raise SigningConfigError(f"holder {holder!r} is neither a session id nor thumbs")
    if expires_at <= 0:
        raise SigningConfigError("expires_at must be a positive unix time")
    sig = b64url(_media_sig(key, expires_at, _scope(holder, title_id, version)))
    return f"{MEDIA_ROOT}{expires_at}/{sig}/{holder}/{title_id}/{version}/"


def _forbidden(detail: str) -> Problem:
    return Problem("forbidden", detail)


def _check_subpath(subpath: str) -> None:
    if not subpath:
        raise _forbidden("no object named under the signed prefix")
    if "\x00" in subpath or "\\" in subpath:
        raise _forbidden("NUL and backslash are not allowed in media paths")
    if "%" in subpath:
        raise _forbidden("percent-encoded characters are not allowed in media paths")
    if subpath.startswith("/"):
        raise _forbidden("absolute object paths are not allowed")
    for part in subpath.split("/"):
        if part in ("", ".", ".."):
            raise _forbidden("empty, '.' and '..' path segments are not allowed")
        if not _SEGMENT_RE.match(part):
            raise _forbidden("media path contains characters outside the allowed set")


def verify_media_path(secret: str | bytes, path: str, now: float) -> MediaPathClaim:
    """Check a ``/media/...`` request path; raise Problem forbidden (403) or link_expired (410).

    ``path`` should be the path as received (before or after percent-decoding: any '%' is
    refused either way, so double-encoded traversal cannot slip through).
    """
    key = _link_secret(secret)
    if len(path) > MAX_MEDIA_PATH:
        raise _forbidden("media path too long")
    if not path.startswith(MEDIA_ROOT):
        raise _forbidden("not a media path")
    parts = path[len(MEDIA_ROOT) :].split("/", 5)
    if len(parts) != 6:
        raise _forbidden(
            "media path must be /media/<exp>/<sig>/<holder>/<title>/<version>/<object>"
        )
    exp_text, sig_text, holder, title_id, version, subpath = parts
    if not _EXP_RE.match(exp_text) or not _SIG_RE.match(sig_text) or not is_holder(holder):
        raise _forbidden("malformed media link")
    if not is_title_id(title_id) or not ID_RE.match(version):
        raise _forbidden("malformed title or version in media path")
    _check_subpath(subpath)
    expires_at = int(exp_text)
    try:
        given = b64url_decode(sig_text)
    except (binascii.Error, ValueError):
        raise _forbidden("malformed media link")
    expected = _media_sig(key, expires_at, _scope(holder, title_id, version))
    if not hmac.compare_digest(given, expected):
        raise _forbidden("media link signature does not match")
    # Same order and comparison as nginx secure_link: only a genuine link can be "expired".
    if expires_at < now:
        raise Problem("link_expired", "the media link has expired; start playback again")
    if holder == THUMBNAILS_HOLDER and not subpath.startswith(THUMBNAILS_DIR):
        raise _forbidden("a thumbnails link serves the package's thumbnails only")
    return MediaPathClaim(holder, title_id, version, subpath, expires_at)


# ---- playback tokens -------------------------------------------------------------------------

_TOKEN_CONTEXT = b"reelflow playback-token v1"
MAX_PLAYBACK_TOKEN = 1024


class BadSignedValue(ValueError):
    """A signed value that this server did not issue, or that was altered or mangled."""


def _context_key(secret: str | bytes, context: bytes) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else secret
    if len(raw) < 16:
        raise SigningConfigError("signing secret must be at least 16 bytes")
    # Domain separation: one signing secret keys tokens, cursors, webhooks and media links.
    return hmac.new(raw, context, hashlib.sha256).digest()


def sign_value(secret: str | bytes, context: bytes, data: dict[str, Any]) -> str:
    """``base64url(json) "." base64url(hmac)``: compact, URL-safe, bound to ``context``."""
    body = b64url(json.dumps(data, separators=(",", ":")).encode())
    mac = hmac.new(_context_key(secret, context), body.encode("ascii"), hashlib.sha256)
    return f"{body}.{b64url(mac.digest())}"


def open_signed_value(
    secret: str | bytes, context: bytes, token: str, *, max_chars: int = 1024
) -> Any:
    """The JSON value ``sign_value`` signed; BadSignedValue for anything else."""
    if not token or len(token) > max_chars or token.count(".") != 1 or not token.isascii():
        raise BadSignedValue("malformed")
    body, mac_text = token.split(".")
    try:
        given = b64url_decode(mac_text)
    except (binascii.Error, ValueError):
        raise BadSignedValue("malformed")
    expected = hmac.new(_context_key(secret, context), body.encode("ascii"), hashlib.sha256)
    if not hmac.compare_digest(given, expected.digest()):
        raise BadSignedValue("signature does not match")
    try:
        return json.loads(b64url_decode(body))
    except (ValueError, binascii.Error):
        raise BadSignedValue("malformed")


def issue_playback_token(
    secret: str | bytes,
    session_id: str,
    title_id: str,
    version: str,
    exp: int,
    *,
    max_pixels: int | None = None,
    drm: tuple[str, ...] = (),
) -> str:
    """A compact URL-safe token binding a playback session to one title package until exp."""
    _check_title_id(title_id)
    _check_id("version", version)
    if not ID_RE.match(session_id):
        raise SigningConfigError(f"session id {session_id!r} must match {ID_RE.pattern}")
    fields: dict[str, Any] = {"s": session_id, "t": title_id, "v": version, "e": int(exp)}
    if max_pixels is not None:
        # "p", not the height-only "h" of tokens before issue 25: those carry no pixel cap
        # and are refused by the manifest routes (failing closed) until a heartbeat renews.
        fields["p"] = int(max_pixels)
    if drm:
        fields["d"] = list(drm)
    return sign_value(secret, _TOKEN_CONTEXT, fields)


def verify_playback_token(
    secret: str | bytes,
    token: str,
    now: float,
    *,
    session_id: str | None = None,
    title_id: str | None = None,
    version: str | None = None,
) -> PlaybackClaim:
    """Check a playback token; raise Problem invalid_token, token_expired or forbidden.

    Pass the ids from the URL being served: a valid token for another title, version or
    session is refused with ``forbidden``.
    """
    try:
        data: Any = open_signed_value(secret, _TOKEN_CONTEXT, token, max_chars=MAX_PLAYBACK_TOKEN)
    except BadSignedValue as exc:
        raise Problem("invalid_token", f"playback token: {exc}")
    try:
        pixels = data.get("p")
        claim = PlaybackClaim(
            session_id=str(data["s"]),
            title_id=str(data["t"]),
            version=str(data["v"]),
            expires_at=int(data["e"]),
            max_pixels=int(pixels) if pixels is not None else None,
            drm=tuple(str(d) for d in data.get("d", ())),
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise Problem("invalid_token", "malformed playback token")
    if claim.expires_at < now:
        raise Problem("token_expired", "the playback token has expired; start playback again")
    bound = (
        (session_id, claim.session_id),
        (title_id, claim.title_id),
        (version, claim.version),
    )
    if any(want is not None and want != have for want, have in bound):
        raise Problem("forbidden", "playback token is for another session or title")
    return claim
