"""Viewer authentication: bearer JWTs from an identity provider, verified with PyJWT.

Security choices, each deliberate:
- The algorithm allow-list is explicit and every key is bound to one algorithm family, so an
  HS256 token can never be checked against an RSA/EC public key (the classic "key confusion").
- HS256 is accepted only in embedded mode, for ``reelflow dev token``.
- Keys (PEM or JWKS file) are parsed once into key objects at construction. A JWKS URL
  (the IdP's ``jwks_uri``, fetched with PyJWT's ``PyJWKClient``) is fetched on first use and
  kept ``jwks_cache_s``; a token naming a ``kid`` the cached set lacks (a rotation) triggers
  a refetch at most once per ``jwks_refetch_s``, so tokens with random kids cannot hammer
  the IdP. A fetch runs on the calling thread with a 5 s timeout (rare: once per interval).
- Verified claims are cached by the SHA-256 of the exact token until the token's ``exp``;
  signature verification costs ~70% of a request's budget, so repeat requests (manifest,
  segments, heartbeats) skip it. ``exp`` is still checked on every use, and a cached token
  whose key left the JWKS is verified again (and refused). Revocation (revocation.py) is
  checked after this cache, on every request, so it takes effect at once.
- A token may not outlive ``max_lifetime_s`` (exp - now): revocation records live that long.

The FastAPI dependencies on a verifier (``current_viewer``, ``current_admin``,
``viewer_without_revocation_check``) live in context.py, next to the ApiContext that holds
the verifier.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from reelflow.playback_api.auth.key_ring import AuthConfigError as AuthConfigError
from reelflow.playback_api.auth.key_ring import KeyRing, RemoteJwks, alg_for_key, jwk_alg
from reelflow.playback_api.http.problems import Problem

Plan = Literal["basic", "standard", "premium"]
PLANS: tuple[str, ...] = get_args(Plan)
Algorithm = Literal["RS256", "ES256", "HS256"]
_ASYMMETRIC = frozenset({"RS256", "ES256"})
_COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")
MAX_TOKEN_CHARS = 8192
MIN_HS256_SECRET_BYTES = 32
MAX_JTI_CHARS = 256
DEFAULT_ADMIN_AUDIENCE = "reelflow-admin"
ADMIN_MAX_LIFETIME_S = 3600
log = logging.getLogger("reelflow.api")


@dataclass(frozen=True)
class Viewer:
    sub: str
    plan: Plan
    country: str
    device: str | None
    admin: bool
    exp: int
    jti: str | None = None  # the token id, for revoking one token
    iat: int | None = None  # issue time, for revoking every token of an account before it


@dataclass(frozen=True)
class VerifierConfig:
    issuer: str
    audience: str
    algorithms: tuple[Algorithm, ...]
    public_key_pem: str | bytes | None = None
    jwks_path: Path | None = None
    jwks_url: str | None = None
    jwks_cache_s: float = 300.0
    jwks_refetch_s: float = 60.0
    max_lifetime_s: float | None = None
    # Admin tokens: their own audience and a short life, so a viewer token (days long, held
    # by a player) can never carry the admin API.
    admin_audience: str = DEFAULT_ADMIN_AUDIENCE
    admin_max_lifetime_s: float = ADMIN_MAX_LIFETIME_S
    hs256_secret: str | bytes | None = None
    env: Literal["embedded", "production"] = "production"
    leeway_s: float = 30.0
    cache_size: int = 10_000


def _load_keys(config: VerifierConfig) -> KeyRing:
    unknown = set(config.algorithms) - {"RS256", "ES256", "HS256"}
    if unknown or not config.algorithms:
        raise AuthConfigError(
            f"algorithms must be a non-empty subset of RS256, ES256, HS256: {unknown}"
        )
    if not config.issuer or not config.audience:
        raise AuthConfigError("issuer and audience are required")
    ring = KeyRing()
    if "HS256" in config.algorithms:
        if config.env != "embedded":
            raise AuthConfigError("HS256 is allowed only with REELFLOW_ENV=embedded")
        secret = config.hs256_secret
        if not secret:
            raise AuthConfigError("HS256 needs hs256_secret")
        raw = secret.encode() if isinstance(secret, str) else secret
        if len(raw) < MIN_HS256_SECRET_BYTES:
            raise AuthConfigError(f"hs256_secret must be at least {MIN_HS256_SECRET_BYTES} bytes")
        ring.add("HS256", raw)
    wanted = _ASYMMETRIC.intersection(config.algorithms)
    if config.public_key_pem:
        pem = config.public_key_pem
        key = load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
        ring.add(alg_for_key(key), key)
    if config.jwks_path is not None:
        try:
            jwks = jwt.PyJWKSet.from_json(config.jwks_path.read_text())
        except (OSError, jwt.PyJWTError, json.JSONDecodeError) as exc:
            raise AuthConfigError(f"cannot load JWKS {config.jwks_path}: {exc}") from exc
        for jwk in jwks.keys:
            ring.add(jwk_alg(jwk), jwk.key, jwk.key_id)
    if wanted and config.jwks_url is None and not any(ring.by_alg.get(a) for a in wanted):
        raise AuthConfigError(f"{sorted(wanted)} configured but no matching public key given")
    return ring


def _invalid(detail: str) -> Problem:
    return Problem("invalid_token", detail)


def _viewer_from_claims(claims: dict[str, Any]) -> Viewer:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 0 < len(sub) <= 256:
        raise _invalid("sub claim must be a non-empty string")
    plan = claims.get("plan")
    if plan not in PLANS:
        raise _invalid(f"plan claim must be one of {', '.join(PLANS)}")
    country = claims.get("country")
    if not isinstance(country, str) or not _COUNTRY_RE.match(country):
        raise _invalid("country claim must be an ISO 3166 alpha-2 code")
    device = claims.get("device")
    if device is not None and (not isinstance(device, str) or len(device) > 128):
        raise _invalid("device claim must be a string of at most 128 characters")
    jti = claims.get("jti")
    if jti is not None and (not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_CHARS):
        raise _invalid(f"jti claim must be a string of at most {MAX_JTI_CHARS} characters")
    iat = claims.get("iat")
    if iat is not None and (not isinstance(iat, int | float) or isinstance(iat, bool)):
        raise _invalid("iat claim must be a number")
    exp = claims["exp"]
    return Viewer(
        sub=sub,
        plan=cast(Plan, plan),
        country=country.upper(),
        device=device,
        admin=claims.get("admin") is True,
        exp=int(exp),
        jti=jti,
        iat=int(iat) if iat is not None else None,
    )


class TokenVerifier:
    """Verifies bearer tokens into Viewers; thread-safe, with a bounded claims cache."""

    def __init__(self, config: VerifierConfig, *, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._keys = _load_keys(config)
        self._remote = (
            RemoteJwks(
                config.jwks_url,
                cache_s=config.jwks_cache_s,
                refetch_s=config.jwks_refetch_s,
                clock=clock,
            )
            if config.jwks_url
            else None
        )
        self._allowed = frozenset(config.algorithms)
        self._clock = clock
        # Viewer and, for a key from the JWKS URL, its kid (the key may rotate out).
        self._cache: OrderedDict[bytes, tuple[Viewer, str | None]] = OrderedDict()
        self._lock = threading.Lock()
        self.cache_hits = 0

    def cached(self, token: str) -> Viewer | None:
        """The viewer of a token verified before and still valid, without any I/O; None when
        it must be verified (``verify``, which may fetch the identity provider's keys: call
        that off the event loop). Raises for a token too long or expired."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise _invalid("token missing or too long")
        digest = hashlib.sha256(token.encode()).digest()
        with self._lock:
            cached = self._cache.get(digest)
            if cached is None:
                return None
            viewer, remote_kid = cached
            if viewer.exp + self._config.leeway_s <= self._clock():
                del self._cache[digest]
                raise Problem("token_expired", "the access token has expired")
            self._cache.move_to_end(digest)
        # A key from the JWKS URL must still be in the set held (no fetch here: a stale set
        # is refreshed by the next verify).
        remote = self._remote
        if remote_kid is not None and remote is not None and not remote.holds_now(remote_kid):
            return None
        self.cache_hits += 1
        return viewer

    def verify(self, token: str) -> Viewer:
        if (viewer := self.cached(token)) is not None:
            return viewer
        digest = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        viewer, remote_kid = self._verify_uncached(token, now)
        with self._lock:
            self._cache[digest] = (viewer, remote_kid)
            while len(self._cache) > self._config.cache_size:
                self._cache.popitem(last=False)
        return viewer

    def _check_admin(self, viewer: Viewer, audience: str | list[str], now: float) -> None:
        """An admin claim needs the admin audience and a life of at most an hour; a token
        for the admin audience alone must carry the claim."""
        audiences = [audience] if isinstance(audience, str) else list(audience)
        for_admin = self._config.admin_audience in audiences
        if viewer.admin:
            if not for_admin:
                raise _invalid(
                    f"an admin token must be issued for the {self._config.admin_audience!r} "
                    "audience"
                )
            longest = self._config.admin_max_lifetime_s
            if viewer.exp - now > longest + self._config.leeway_s:
                raise _invalid(f"an admin token may live at most {int(longest)} s")
        elif for_admin and self._config.audience not in audiences:
            raise _invalid("a token for the admin audience must carry the admin claim")

    def _candidates(self, alg: str, kid: str | None) -> tuple[list[Any], bool]:
        """Keys that may verify the token, and whether they came from the JWKS URL."""
        if self._remote is not None and kid is not None and (alg, kid) not in self._keys.by_kid:
            return self._remote.ring(kid).candidates(alg, kid), True
        keys = self._keys.candidates(alg, kid)
        if not keys and self._remote is not None:
            return self._remote.ring(None).by_alg.get(alg, []), True
        return keys, False

    def _verify_uncached(self, token: str, now: float) -> tuple[Viewer, str | None]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid("malformed token")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._allowed:
            raise _invalid("token algorithm is not allowed")
        kid = header.get("kid")
        kid = kid if isinstance(kid, str) else None
        keys, remote = self._candidates(alg, kid)
        if not keys:
            raise _invalid("no key for this token")
        last_error: jwt.PyJWTError | None = None
        for key in keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[alg],  # exactly the one family this key belongs to
                    audience=[self._config.audience, self._config.admin_audience],
                    issuer=self._config.issuer,
                    leeway=self._config.leeway_s,
                    options={"require": ["exp", "iss", "aud", "sub"]},
                )
            except jwt.ExpiredSignatureError:
                raise Problem("token_expired", "the access token has expired")
            except jwt.InvalidSignatureError as exc:
                last_error = exc
                continue
            except jwt.ImmatureSignatureError:
                raise _invalid("token is not valid yet (nbf)")
            except jwt.InvalidAudienceError:
                raise _invalid("token audience is wrong")
            except jwt.InvalidIssuerError:
                raise _invalid("token issuer is wrong")
            except jwt.MissingRequiredClaimError as exc:
                raise _invalid(f"token lacks the {exc.claim} claim")
            except jwt.PyJWTError:
                raise _invalid("token is invalid")
            viewer = _viewer_from_claims(claims)
            limit = self._config.max_lifetime_s
            if limit is not None and viewer.exp - now > limit + self._config.leeway_s:
                raise _invalid(f"token lifetime is longer than the {int(limit)} s this API accepts")
            self._check_admin(viewer, claims["aud"], now)
            return viewer, (kid or "") if remote else None
        raise _invalid("token signature is invalid") from last_error


def mint_dev_token(
    secret: str | bytes,
    *,
    sub: str,
    plan: Plan,
    country: str,
    issuer: str,
    audience: str,
    admin: bool = False,
    device: str | None = None,
    ttl_s: int = 3600,
    now: float | None = None,
    admin_audience: str = DEFAULT_ADMIN_AUDIENCE,
) -> str:
    """An HS256 viewer token for the embedded stack (``reelflow dev token``); an admin one
    is for the admin audience and lives at most ``ADMIN_MAX_LIFETIME_S``."""
    if plan not in PLANS:
        raise ValueError(f"plan must be one of {', '.join(PLANS)}, not {plan!r}")
    if admin and ttl_s > ADMIN_MAX_LIFETIME_S:
        raise ValueError(f"an admin token may live at most {ADMIN_MAX_LIFETIME_S} s")
    if not _COUNTRY_RE.match(country):
        raise ValueError(f"country must be an ISO 3166 alpha-2 code, not {country!r}")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": sub,
        "plan": plan,
        "country": country.upper(),
        "iss": issuer,
        "aud": admin_audience if admin else audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_s,
        "jti": secrets.token_hex(16),  # revocable one by one (revocation.py)
    }
    if admin:
        claims["admin"] = True
    if device:
        claims["device"] = device
    key = secret.encode() if isinstance(secret, str) else secret
    return jwt.encode(claims, key, algorithm="HS256")
