"""The keys that verify viewer tokens: a ring of keys by algorithm and ``kid``, and the
identity provider's JWKS by URL (cached, refetched for an unknown ``kid`` at most once per
interval, a failed refresh keeping the set held). auth.py verifies tokens with them."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from reelflow.playback_api.http.problems import Problem

JWKS_FETCH_TIMEOUT_S = 5.0
log = logging.getLogger("reelflow.api")


class AuthConfigError(ValueError):
    """The verifier configuration is unsafe or incomplete; the message says what to fix."""


@dataclass
class KeyRing:
    """Key objects by algorithm; JWKS keys also by ``kid``."""

    by_alg: dict[str, list[Any]] = field(default_factory=dict)
    by_kid: dict[tuple[str, str], Any] = field(default_factory=dict)

    def add(self, alg: str, key: Any, kid: str | None = None) -> None:
        self.by_alg.setdefault(alg, []).append(key)
        if kid:
            self.by_kid[(alg, kid)] = key

    def candidates(self, alg: str, kid: str | None) -> list[Any]:
        if kid is not None and (alg, kid) in self.by_kid:
            return [self.by_kid[(alg, kid)]]
        if kid is not None and self.by_kid:
            return []  # a JWKS is configured and the token names a key it does not hold
        return self.by_alg.get(alg, [])


def alg_for_key(key: Any) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise AuthConfigError(f"unsupported public key type {type(key).__name__} (RSA or EC P-256)")


def jwk_alg(jwk: jwt.PyJWK) -> str:
    """The one algorithm family a JWK may verify; its declared alg must agree."""
    alg = alg_for_key(jwk.key)
    if jwk.algorithm_name != alg:
        raise AuthConfigError(
            f"JWKS key {jwk.key_id!r} declares alg {jwk.algorithm_name}, not {alg}"
        )
    return alg


class RemoteJwks:
    """The identity provider's JWKS by URL, cached, refetched for unknown kids at most once
    per ``refetch_s``. A failed fetch keeps the set already held; with none, 503."""

    def __init__(
        self, url: str, *, cache_s: float, refetch_s: float, clock: Callable[[], float]
    ) -> None:
        # PyJWKClient fetches and parses; the caching and rate limit are ours, so an
        # unknown kid cannot make it refetch on every token.
        self._client = jwt.PyJWKClient(
            url, cache_keys=False, cache_jwk_set=False, timeout=JWKS_FETCH_TIMEOUT_S
        )
        self._cache_s = cache_s
        self._refetch_s = refetch_s
        self._clock = clock
        self._ring: KeyRing | None = None
        self._fetched_at = -math.inf  # last fetch attempt, successful or not
        self._lock = threading.Lock()

    def ring(self, kid: str | None) -> KeyRing:
        """The current key set; refetched when old, or for a kid it lacks (rate-limited)."""
        with self._lock:
            since = self._clock() - self._fetched_at
            unknown = kid is not None and not any(k == kid for _, k in self._current().by_kid)
            if since >= self._cache_s or (unknown and since >= self._refetch_s):
                self._fetch()
            return self._current()

    def holds_now(self, kid: str) -> bool:
        """Whether the set held now, if still fresh, has ``kid``. Never fetches and never
        waits for the lock a fetch holds (two attribute reads, each atomic): this is what the
        event loop calls."""
        fresh = self._clock() - self._fetched_at < self._cache_s
        return fresh and any(k == kid for _, k in self._current().by_kid)

    def _current(self) -> KeyRing:
        return self._ring if self._ring is not None else KeyRing()

    def _fetch(self) -> None:
        self._fetched_at = self._clock()
        try:
            jwks = self._client.get_jwk_set(refresh=True)
            ring = KeyRing()
            for jwk in jwks.keys:
                if jwk.public_key_use not in (None, "sig"):
                    continue
                ring.add(jwk_alg(jwk), jwk.key, jwk.key_id)
        except (jwt.PyJWTError, AuthConfigError) as exc:
            log.warning("JWKS fetch failed: %s", type(exc).__name__)
            if self._ring is None:
                raise Problem(
                    "service_unavailable", "the identity provider's keys cannot be fetched"
                ) from exc
            return
        self._ring = ring
