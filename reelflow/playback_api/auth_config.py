"""Viewer-token verification configured from Settings (auth.py stays settings-free)."""

from __future__ import annotations

import hashlib
import hmac
from typing import cast

from reelflow.config import ConfigError, Settings
from reelflow.playback_api.auth import Algorithm, TokenVerifier, VerifierConfig

_DEV_TOKEN_CONTEXT = b"reelflow dev-token v1"


def dev_token_secret(signing_secret: bytes) -> str:
    """The HS256 key of embedded-mode dev tokens, derived so it never equals the main secret."""
    return hmac.new(signing_secret, _DEV_TOKEN_CONTEXT, hashlib.sha256).hexdigest()


def _algorithms(settings: Settings) -> tuple[Algorithm, ...]:
    if settings.auth_algorithms.strip():
        names = [a.strip().upper() for a in settings.auth_algorithms.split(",") if a.strip()]
    else:
        names = ["HS256"] if settings.env == "embedded" else []
        if settings.auth_public_key_path or settings.auth_jwks_path:
            names += ["RS256", "ES256"]
    unknown = [n for n in names if n not in ("RS256", "ES256", "HS256")]
    if unknown:
        raise ConfigError(f"REELFLOW_AUTH_ALGORITHMS: unsupported {unknown} (RS256, ES256, HS256)")
    if not names:
        raise ConfigError(
            "production needs REELFLOW_AUTH_PUBLIC_KEY_PATH or REELFLOW_AUTH_JWKS_PATH "
            "(the identity provider's RS256/ES256 public key)"
        )
    return tuple(cast(Algorithm, n) for n in names)


def verifier_config(settings: Settings, signing_secret: bytes) -> VerifierConfig:
    algorithms = _algorithms(settings)
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
        hs256_secret=dev_token_secret(signing_secret) if "HS256" in algorithms else None,
        env=settings.env,
    )


def verifier_from_settings(settings: Settings, signing_secret: bytes) -> TokenVerifier:
    return TokenVerifier(verifier_config(settings, signing_secret))
