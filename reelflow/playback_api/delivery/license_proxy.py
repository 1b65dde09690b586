"""The Widevine / PlayReady / FairPlay license proxy: entitlement messages and the upstream client.

Those three systems' licenses can only be made by their owners' (or a multi-DRM vendor's)
license service, which cannot run here. So the playback API does every check it does for
ClearKey (license_auth.authorize_license), then forwards the CDM's challenge unchanged to
the configured upstream with a signed *entitlement*: a short-lived JWT saying which keys
this session may have and under which output-protection policy. The upstream builds the
real license from the challenge and the entitlement, and the API relays its answer.

The contract with the upstream (docs/drm.md repeats it for vendors):

* ``POST <license_<system>_url>``, body = the challenge bytes exactly as the player sent
  them, ``Content-Type`` as the player sent it (PlayReady: also ``SOAPAction``), and the
  header ``Reelflow-Entitlement: <JWT>``.
* The JWT is HS256 under ``license_upstream_secret``. Claims: ``iss`` "reelflow", ``aud``
  "<system>-license-upstream" (a Widevine entitlement is useless to the PlayReady
  upstream), ``iat``, ``exp`` (at most ENTITLEMENT_TTL_S later), ``jti`` (random, for
  replay detection), ``sub`` (account), ``session_id``, ``title_id``, ``package_version``,
  ``drm``, ``device_id``, ``keys`` and ``policy``.
* ``keys``: ``[{"kid": <32 hex>, "track_class": "audio"|"sd"|"hd"|"uhd", "key": <wrapped>}]``
  with ``key`` = base64url (no padding) of ``nonce(12) || AES-256-GCM(ciphertext + tag)``
  of the 16-byte content key, under ``HKDF-SHA256(ikm=secret, salt=none, info=
  KEY_WRAP_INFO, length=32)`` and with the 16 KID bytes as associated data. So keys never
  travel in the clear inside a token that is only signed, and a wrapped key cannot be
  moved onto another KID.
* ``policy``: ``license_expires_at`` (unix s: the session's current token and media-link
  expiry, minutes ahead and moved on only by heartbeats that hold the lease, so a license
  outlives the lease by at most one link lifetime and the player renews it by a new
  request, which needs a live lease), ``persistent`` false,
  ``track_classes``: for each class in ``keys``, its ``hdcp`` and Widevine
  ``security_level`` (TRACK_POLICY) and ``robustness``: the least robust client this
  system's service may give that key to, in the system's own terms (TrackPolicy).
* A 2xx answer is relayed (body and Content-Type); anything else is a 502 to the player.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from reelflow.config import ConfigError, Settings
from reelflow.domain.track_classes import TrackClass
from reelflow.playback_api.auth.signing import b64url
from reelflow.playback_api.delivery.sessions import PlaybackSession
from reelflow.playback_api.delivery.title_cache import KeyEntry
from reelflow.playback_api.http.problems import Problem

log = logging.getLogger("reelflow.api.license_proxy")

ENTITLEMENT_HEADER = "Reelflow-Entitlement"
ENTITLEMENT_ISSUER = "reelflow"
ENTITLEMENT_ALGORITHM = "HS256"
# Long enough for one upstream round trip with clock skew, short enough that a leaked
# entitlement (e.g. from an upstream's request log) is useless almost at once.
ENTITLEMENT_TTL_S = 60
KEY_WRAP_INFO = b"reelflow license-key-wrap v1"
# HS256 keys shorter than the hash output are weak (RFC 7518 section 3.2).
MIN_SECRET_BYTES = 32
# Widevine and FairPlay challenges are a few KiB, PlayReady SOAP ones under 16 KiB.
MAX_CHALLENGE_BYTES = 64 * 1024
# Licenses are small too; a bigger answer means a misbehaving upstream, not a license.
MAX_LICENSE_BYTES = 1024 * 1024

# What the player sends when it names no content type (PlayReady's CDM message says text/xml).
DEFAULT_CHALLENGE_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "widevine": "application/octet-stream",
        "playready": "text/xml; charset=utf-8",
        "fairplay": "application/octet-stream",
    }
)


@dataclass(frozen=True)
class TrackPolicy:
    hdcp: str
    security_level: str  # Widevine's term, the most detailed vocabulary
    playready: str  # PlayReady security level
    fairplay: str  # FairPlay Streaming content security level

    def robustness(self, drm: str) -> str:
        """The least robust client ``drm``'s service may give the key to, in its terms."""
        return {"playready": self.playready, "fairplay": self.fairplay}.get(
            drm, self.security_level
        )


# What each key class demands of the client, in one place (docs/drm.md "Which classes each
# DRM system and robustness level may unlock"). Studios' rule: software DRM for SD at most,
# hardware-backed DRM for HD and UHD. So audio and SD accept a software CDM (Widevine L3,
# PlayReady SL2000, FairPlay baseline) and browsers play them; HD needs crypto in hardware
# (Widevine HW_SECURE_CRYPTO, L2 or better; PlayReady SL3000; FairPlay main) and HDCP 1.x,
# which a software client cannot meet, so it gets SD at most; UHD needs decryption and
# decoding in hardware (Widevine HW_SECURE_ALL, L1) and HDCP 2.2.
TRACK_POLICY: Mapping[str, TrackPolicy] = MappingProxyType(
    {
        TrackClass.AUDIO: TrackPolicy("none", "SW_SECURE_CRYPTO", "SL2000", "baseline"),
        TrackClass.SD: TrackPolicy("none", "SW_SECURE_CRYPTO", "SL2000", "baseline"),
        TrackClass.HD: TrackPolicy("HDCP_V1", "HW_SECURE_CRYPTO", "SL3000", "main"),
        TrackClass.UHD: TrackPolicy("HDCP_V2_2", "HW_SECURE_ALL", "SL3000", "main"),
    }
)
# A class this table does not know gets the strictest policy: failing closed.
STRICTEST_POLICY = TRACK_POLICY[TrackClass.UHD]


def policy_for(track_class: str) -> TrackPolicy:
    return TRACK_POLICY.get(track_class, STRICTEST_POLICY)


def class_policy(track_class: str, drm: str) -> dict[str, str]:
    """One class's entry of the entitlement's ``policy.track_classes`` for ``drm``."""
    policy = policy_for(track_class)
    return {
        "hdcp": policy.hdcp,
        "security_level": policy.security_level,
        "robustness": policy.robustness(drm),
    }


def wire_class(track_class: str) -> str:
    """The upstream contract (docs/drm.md) spells classes in lower case: the one place the
    catalog's spelling is translated."""
    return track_class.lower()


def audience(drm: str) -> str:
    return f"{drm}-license-upstream"


@dataclass(frozen=True)
class UpstreamConfig:
    drm: str
    url: str
    secret: bytes = field(repr=False)  # never in a log line or a traceback


def _upstream_url(settings: Settings, drm: str) -> str:
    urls = {
        "widevine": settings.license_widevine_url,
        "playready": settings.license_playready_url,
        "fairplay": settings.license_fairplay_url,
    }
    return (urls.get(drm) or "").strip()


def upstream_secret(settings: Settings, drm: str) -> bytes:
    """The vendor's own secret (REELFLOW_LICENSE_<SYSTEM>_SECRET), else the shared one."""
    own: SecretStr | None = getattr(settings, f"license_{drm}_secret", None)
    chosen = own or settings.license_upstream_secret
    return chosen.get_secret_value().encode() if chosen else b""


def usable_upstreams(settings: Settings) -> set[str]:
    """The proxied systems with both a URL and a secret long enough to sign with."""
    return {
        drm
        for drm in ("widevine", "playready", "fairplay")
        if _upstream_url(settings, drm) and len(upstream_secret(settings, drm)) >= MIN_SECRET_BYTES
    }


def check_upstream_secrets(settings: Settings) -> None:
    """Refuse to start production with two vendors on one secret: either could then mint
    entitlements (content keys included) that the other accepts."""
    if settings.env != "production":
        return
    by_secret: dict[bytes, list[str]] = {}
    for drm in sorted(usable_upstreams(settings)):
        by_secret.setdefault(upstream_secret(settings, drm), []).append(drm)
    shared = [names for names in by_secret.values() if len(names) > 1]
    if shared:
        names = ", ".join(f"REELFLOW_LICENSE_{d.upper()}_SECRET" for d in shared[0])
        raise ConfigError(
            f"license upstreams {' and '.join(shared[0])} share one secret: set {names} "
            "to a different secret for each vendor"
        )


def upstream_config(settings: Settings, drm: str) -> UpstreamConfig:
    """The upstream for ``drm``, or license_unavailable (503) when it is not usable."""
    url = _upstream_url(settings, drm)
    if not url:
        raise Problem("license_unavailable", f"no {drm} license service is configured")
    secret = upstream_secret(settings, drm)
    if len(secret) < MIN_SECRET_BYTES:
        # An operator error, not the player's: say so in the log, keep the answer generic.
        log.error(
            "license upstream secret missing or shorter than %d bytes",
            MIN_SECRET_BYTES,
            extra={"fields": {"drm": drm}},
        )
        raise Problem("license_unavailable", f"the {drm} license service is not configured")
    return UpstreamConfig(drm, url, secret)


def key_wrap_key(secret: bytes) -> bytes:
    """The AES-256 key wrapping content keys inside entitlements (domain-separated by HKDF)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_WRAP_INFO).derive(secret)


def wrap_content_key(wrapping_key: bytes, kid: bytes, key: bytes) -> str:
    nonce = os.urandom(12)
    return b64url(nonce + AESGCM(wrapping_key).encrypt(nonce, key, kid))


def build_entitlement(
    session: PlaybackSession,
    keys: Mapping[str, KeyEntry],
    drm: str,
    secret: bytes,
    *,
    now: int | None = None,
) -> str:
    """The signed entitlement JWT for one license request (see the module docstring)."""
    issued = int(time.time()) if now is None else now
    wrapping_key = key_wrap_key(secret)
    entries: list[dict[str, str]] = []
    for kid_hex, entry in sorted(keys.items()):
        kid = bytes.fromhex(kid_hex)
        entries.append(
            {
                "kid": kid_hex.lower(),
                "track_class": wire_class(entry.track_class),
                "key": wrap_content_key(wrapping_key, kid, entry.key),
            }
        )
    classes = sorted({entry.track_class for entry in keys.values()})
    claims: dict[str, Any] = {
        "iss": ENTITLEMENT_ISSUER,
        "aud": audience(drm),
        "iat": issued,
        "exp": issued + ENTITLEMENT_TTL_S,
        "jti": secrets.token_urlsafe(16),
        "sub": session.account,
        "session_id": session.session_id,
        "title_id": session.title_id,
        "package_version": session.version,
        "drm": drm,
        "device_id": session.device_id,
        "keys": entries,
        "policy": {
            # The live session's link expiry (renewed by heartbeats), never hours ahead.
            "license_expires_at": session.expires_at,
            "persistent": False,
            "track_classes": {wire_class(c): class_policy(c, drm) for c in classes},
        },
    }
    return jwt.encode(claims, secret, algorithm=ENTITLEMENT_ALGORITHM)


@dataclass(frozen=True)
class UpstreamAnswer:
    body: bytes
    content_type: str


def _upstream_error(drm: str, detail: str, reason: str, **extra: Any) -> Problem:
    # Only the kind of failure is logged: upstream bodies may quote the challenge or keys.
    log.warning("license upstream failed", extra={"fields": {"drm": drm, "reason": reason}})
    return Problem("upstream_error", detail, **extra)


class LicenseUpstreamClient:
    """One pooled HTTP client for every upstream, created on first use, closed at shutdown."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # No redirects: a license service that redirects is misconfigured, and following
            # one would send the entitlement to a host nobody configured.
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s), follow_redirects=False
            )
        return self._client

    async def forward(
        self, upstream: UpstreamConfig, challenge: bytes, headers: Mapping[str, str]
    ) -> UpstreamAnswer:
        """POST the challenge; the 2xx answer, or upstream_error (502) naming what failed.

        Never retried: a challenge carries a CDM nonce, and the player retries on its own.
        """
        drm = upstream.drm
        try:
            # httpx's timeout applies per read; this caps the whole exchange, so an upstream
            # trickling bytes cannot hold the request open indefinitely.
            async with asyncio.timeout(self.timeout_s):
                async with self._http().stream(
                    "POST", upstream.url, content=challenge, headers=dict(headers)
                ) as response:
                    status = response.status_code
                    if not 200 <= status < 300:
                        raise _upstream_error(
                            drm,
                            f"the {drm} license service answered HTTP {status}",
                            f"http {status}",
                            upstream_status=status,
                        )
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_LICENSE_BYTES:
                            raise _upstream_error(
                                drm,
                                f"the {drm} license service answered with an oversized body",
                                "oversized answer",
                            )
                    content_type = response.headers.get("content-type", "")
        except (TimeoutError, httpx.TimeoutException):
            raise _upstream_error(
                drm,
                f"the {drm} license service did not answer within {self.timeout_s:g} s",
                "timeout",
            )
        except httpx.HTTPError as exc:
            raise _upstream_error(
                drm, f"the {drm} license service could not be reached", type(exc).__name__
            )
        if not content_type or len(content_type) > 200:
            content_type = "application/octet-stream"
        return UpstreamAnswer(bytes(body), content_type)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
