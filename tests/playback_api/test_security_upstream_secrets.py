"""One secret per DRM vendor (issue 13): a vendor holding the secret for its own
entitlements must not be able to mint entitlements, content keys included, that another
vendor's license service accepts."""

from __future__ import annotations

import base64
import secrets
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from reelflow.catalog.db import upgrade
from reelflow.config import ConfigError, Settings
from reelflow.playback_api.delivery.license_proxy import (
    audience,
    build_entitlement,
    check_upstream_secrets,
    upstream_secret,
    usable_upstreams,
)
from reelflow.playback_api.delivery.sessions import PlaybackSession, new_session_id
from reelflow.playback_api.delivery.title_cache import KeyEntry
from reelflow.playback_api.http.app import create_app

WIDEVINE_SECRET = "w" * 40
PLAYREADY_SECRET = "p" * 40
SHARED = "s" * 40


def _settings(tmp_path: Path, **values: object) -> Settings:
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "idp.pem").write_bytes(pem)
    base: dict[str, object] = {
        "home": tmp_path / "state",
        "env": "production",
        "api_host": "0.0.0.0",
        "signing_secret": secrets.token_urlsafe(32),
        "master_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "auth_public_key_path": tmp_path / "idp.pem",
        "license_widevine_url": "http://127.0.0.1:9/widevine",
        "license_playready_url": "http://127.0.0.1:9/playready",
    }
    base.update(values)
    return Settings(**base)  # type: ignore[arg-type]


def test_production_refuses_two_vendors_on_one_secret(tmp_path: Path) -> None:
    settings = _settings(tmp_path, license_upstream_secret=SHARED)
    with pytest.raises(ConfigError) as info:
        check_upstream_secrets(settings)
    message = str(info.value)
    assert "REELFLOW_LICENSE_WIDEVINE_SECRET" in message
    assert "REELFLOW_LICENSE_PLAYREADY_SECRET" in message
    assert SHARED not in message  # the secret itself is never in the error


def test_the_api_does_not_start_with_a_shared_vendor_secret(tmp_path: Path) -> None:
    settings = _settings(tmp_path, license_upstream_secret=SHARED)
    settings.ensure_home()
    upgrade(settings.resolved_database_url)
    with pytest.raises(ConfigError, match="share one secret"), TestClient(create_app(settings)):
        pass


def test_per_vendor_secrets_start_and_are_chosen_per_system(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        license_upstream_secret=SHARED,
        license_widevine_secret=WIDEVINE_SECRET,
        license_playready_secret=PLAYREADY_SECRET,
    )
    check_upstream_secrets(settings)
    assert upstream_secret(settings, "widevine") == WIDEVINE_SECRET.encode()
    assert upstream_secret(settings, "playready") == PLAYREADY_SECRET.encode()
    assert usable_upstreams(settings) == {"widevine", "playready"}


def test_embedded_mode_may_share_the_fallback_secret(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, env="embedded", api_host="127.0.0.1", license_upstream_secret=SHARED
    )
    check_upstream_secrets(settings)
    assert upstream_secret(settings, "widevine") == upstream_secret(settings, "playready")


def test_a_widevine_entitlement_does_not_verify_at_playready(tmp_path: Path) -> None:
    """What the Widevine vendor receives (and could replay or re-sign) is useless at
    PlayReady's service: a different secret and audience."""
    settings = _settings(
        tmp_path, license_widevine_secret=WIDEVINE_SECRET, license_playready_secret=PLAYREADY_SECRET
    )
    session = PlaybackSession(
        session_id=new_session_id(), account="acct", device_id="tv", title_id="film",
        version=1, version_dir="v1", plan="premium", country="US", max_height=2160,
        key_classes=("AUDIO", "HD", "SD", "UHD"), drm=("widevine", "playready"),
        expires_at=int(time.time()) + 300,
    )  # fmt: skip
    keys = {"11" * 16: KeyEntry("11" * 16, "HD", bytes(16), False)}
    token = build_entitlement(session, keys, "widevine", upstream_secret(settings, "widevine"))
    jwt.decode(token, WIDEVINE_SECRET, algorithms=["HS256"], audience=audience("widevine"))
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, PLAYREADY_SECRET, algorithms=["HS256"], audience=audience("widevine"))
    # Re-signed by the Widevine vendor for PlayReady: still the wrong key there.
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "aud": audience("playready")}, WIDEVINE_SECRET, "HS256")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, PLAYREADY_SECRET, algorithms=["HS256"], audience=audience("playready"))
