"""Viewer-token verification configured from Settings (auth.py stays settings-free).

Embedded mode's dev auth (``POST /v1/dev/token`` and HS256 tokens) is safe only while no one
else can reach the API: it is on only while ``api_host`` is loopback, and embedded mode on
another bind refuses to start (``check_embedded_bind``) unless explicitly overridden.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import cast
from urllib.parse import urlsplit

from reelflow.config import ConfigError, Settings
from reelflow.playback_api.auth.auth import Algorithm, TokenVerifier, VerifierConfig

_DEV_TOKEN_CONTEXT = b"reelflow dev-token v1"


def dev_token_secret(signing_secret: bytes) -> str:
    """The HS256 key of embedded-mode dev tokens, derived so it never equals the main secret."""
    return hmac.new(signing_secret, _DEV_TOKEN_CONTEXT, hashlib.sha256).hexdigest()


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``; anything else (0.0.0.0, "", a name) may be public."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def dev_auth_enabled(settings: Settings) -> bool:
    """Dev tokens and HS256: embedded mode on loopback (or on the explicit public override)."""
    return settings.env == "embedded" and (
        is_loopback_host(settings.api_host) or settings.embedded_allow_public_bind
    )


def check_embedded_bind(settings: Settings) -> str | None:
    """Refuse embedded mode on a public bind; with the override, the warning to log."""
    if settings.env != "embedded" or is_loopback_host(settings.api_host):
        return None
    if not settings.embedded_allow_public_bind:
        raise ConfigError(
            f"refusing to start embedded mode on the non-loopback address "
            f"{settings.api_host!r}: embedded mode hands out dev viewer tokens for any account "
            "and plan to anyone who can reach it. Set REELFLOW_ENV=production (with your "
            "identity provider's key), bind REELFLOW_API_HOST=127.0.0.1, or, knowing this, "
            "set REELFLOW_EMBEDDED_ALLOW_PUBLIC_BIND=1"
        )
    return (
        f"embedded mode on the non-loopback address {settings.api_host!r} "
        "(REELFLOW_EMBEDDED_ALLOW_PUBLIC_BIND=1): POST /v1/dev/token issues viewer tokens "
        "for any account and plan to anyone who can reach this API; use REELFLOW_ENV=production "
        "for anything but a private demo"
    )


def _algorithms(settings: Settings) -> tuple[Algorithm, ...]:
    if settings.auth_algorithms.strip():
        names = [a.strip().upper() for a in settings.auth_algorithms.split(",") if a.strip()]
    else:
        names = ["HS256"] if dev_auth_enabled(settings) else []
        if settings.auth_public_key_path or settings.auth_jwks_path or settings.auth_jwks_url:
            names += ["RS256", "ES256"]
    unknown = [n for n in names if n not in ("RS256", "ES256", "HS256")]
    if unknown:
        raise ConfigError(f"REELFLOW_AUTH_ALGORITHMS: unsupported {unknown} (RS256, ES256, HS256)")
    if "HS256" in names and not dev_auth_enabled(settings):
        raise ConfigError(
            "REELFLOW_AUTH_ALGORITHMS: HS256 (dev tokens) is accepted only in embedded mode "
            "bound to loopback; production verifies RS256/ES256 from the identity provider"
        )
    if not names:
        raise ConfigError(
            "production needs REELFLOW_AUTH_JWKS_URL, REELFLOW_AUTH_JWKS_PATH or "
            "REELFLOW_AUTH_PUBLIC_KEY_PATH (the identity provider's RS256/ES256 public key)"
        )
    return tuple(cast(Algorithm, n) for n in names)


def _jwks_url(settings: Settings) -> str | None:
    """The JWKS URL if set: https, or http to a loopback host (a local IdP or a test)."""
    url = settings.auth_jwks_url
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and is_loopback_host(parts.hostname):
        return url
    raise ConfigError(
        "REELFLOW_AUTH_JWKS_URL must be an https:// URL (http:// only on a loopback host): "
        "keys fetched in the clear could be swapped on the way"
    )


def verifier_config(settings: Settings, signing_secret: bytes) -> VerifierConfig:
    algorithms = _algorithms(settings)
    asymmetric = any(a != "HS256" for a in algorithms)
    pem: bytes | None = None
    if settings.auth_public_key_path is not None:
        try:
            pem = settings.auth_public_key_path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"REELFLOW_AUTH_PUBLIC_KEY_PATH: {exc}") from exc
    # Only PEM/JWKS keys that match the allow-list are loaded (auth._load_keys), so a
    # configured RS256-only deployment never accepts a key of another family.
    return VerifierConfig(
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        algorithms=algorithms,
        public_key_pem=pem if any(a != "HS256" for a in algorithms) else None,
        jwks_path=settings.auth_jwks_path if any(a != "HS256" for a in algorithms) else None,
        jwks_url=_jwks_url(settings) if asymmetric else None,
        jwks_cache_s=settings.auth_jwks_cache_s,
        jwks_refetch_s=settings.auth_jwks_refetch_s,
        max_lifetime_s=settings.auth_max_token_lifetime_s,
        admin_audience=settings.auth_admin_audience,
        hs256_secret=dev_token_secret(signing_secret) if "HS256" in algorithms else None,
        env=settings.env,
    )


def verifier_from_settings(settings: Settings, signing_secret: bytes) -> TokenVerifier:
    return TokenVerifier(verifier_config(settings, signing_secret))
