"""Fail-closed defaults: embedded mode's dev auth exists only while the API is on loopback.

Real app (real catalog, real Redis) through the TestClient, and the real ``reelflow api``
command in a subprocess for the start-up refusal.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from reelflow.config import ConfigError, Settings
from reelflow.playback_api.auth.auth_config import is_loopback_host, verifier_from_settings
from reelflow.playback_api.http.app import create_app
from tests.playback_api.conftest import ApiHarness, OpenApi
from tests.services import free_port

# Addresses that are not loopback, each a way embedded mode could end up reachable.
PUBLIC_BINDS = [
    "0.0.0.0",  # every IPv4 interface
    "::",  # every IPv6 interface
    "",  # uvicorn/asyncio: every interface
    "192.168.1.10",  # a LAN address
    "203.0.113.7",  # a public address
    "::ffff:203.0.113.7",  # IPv4-mapped public address
    "example.test",  # a name that resolves elsewhere
    "localhost.example.test",  # looks like localhost, is not
    "127.0.0.1.nip.io",  # looks like loopback, is a public name
]
LOOPBACK_BINDS = ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"]


def _play(api: ApiHarness, token: str) -> int:
    response = api.client.post(
        "/v1/titles/tt-sec/playback",
        json={"device_id": "d1"},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status_code


@pytest.mark.parametrize("host", LOOPBACK_BINDS)
def test_loopback_spellings(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", PUBLIC_BINDS)
def test_embedded_refuses_to_build_on_a_public_bind(host: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        create_app(Settings(home=tmp_path, api_host=host))
    message = str(err.value)
    assert "REELFLOW_ENV=production" in message
    assert "REELFLOW_EMBEDDED_ALLOW_PUBLIC_BIND=1" in message
    assert repr(host) in message


def test_explicit_hs256_does_not_bypass_the_bind_rule(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="non-loopback"):
        create_app(Settings(home=tmp_path, api_host="0.0.0.0", auth_algorithms="HS256"))


def test_reelflow_api_refuses_a_public_bind(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFLOW_")}
    env["REELFLOW_HOME"] = str(tmp_path / "state")
    reelflow = Path(sys.executable).with_name("reelflow")
    proc = subprocess.run(
        [str(reelflow), "api", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    out = " ".join((proc.stdout + proc.stderr).split())  # rich wraps long lines
    assert "refusing to start embedded mode" in out
    assert "REELFLOW_ENV=production" in out and "REELFLOW_EMBEDDED_ALLOW_PUBLIC_BIND=1" in out


def test_embedded_on_loopback_serves_dev_tokens(open_api: OpenApi) -> None:
    api = open_api()
    api.publish("tt-sec")
    issued = api.client.post("/v1/dev/token", json={"plan": "basic", "sub": "dev-1"})
    assert issued.status_code == 200, issued.text
    assert _play(api, issued.json()["access_token"]) == 201


def test_public_bind_override_starts_warns_and_serves_dev_tokens(
    open_api: OpenApi, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="reelflow.api"):
        api = open_api(api_host="0.0.0.0", embedded_allow_public_bind=True)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("REELFLOW_EMBEDDED_ALLOW_PUBLIC_BIND=1" in w and "0.0.0.0" in w for w in warnings), (
        warnings
    )
    assert api.client.get("/healthz").status_code == 200
    assert api.client.post("/v1/dev/token", json={}).status_code == 200


@pytest.fixture
def production(open_api: OpenApi, tmp_path: Path) -> ApiHarness:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "idp.pem").write_bytes(pem)
    api = open_api(
        env="production",
        api_host="0.0.0.0",  # production may bind anywhere: it has no dev auth
        signing_secret=secrets.token_urlsafe(32),
        master_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        auth_issuer="https://id.example.test/",
        auth_audience="reelflow-playback",
        auth_public_key_path=tmp_path / "idp.pem",
    )
    api.publish("tt-sec")
    return api


def test_production_has_no_dev_route_and_refuses_hs256(production: ApiHarness) -> None:
    api = production
    for body in ({}, {"plan": "premium", "sub": "attacker"}):
        response = api.client.post("/v1/dev/token", json=body)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    assert "/v1/dev/token" not in api.client.get("/openapi.json").json()["paths"]
    # A token minted exactly as embedded mode would, with this deployment's own secret.
    assert _play(api, api.token(plan="premium")) == 401


def test_production_refuses_to_configure_hs256(tmp_path: Path) -> None:
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "idp.pem").write_bytes(pem)
    settings = Settings(
        home=tmp_path / "state",
        env="production",
        signing_secret=secrets.token_urlsafe(32),
        master_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        auth_public_key_path=tmp_path / "idp.pem",
        auth_algorithms="RS256,HS256",
    )
    with pytest.raises(ConfigError, match="HS256"):
        verifier_from_settings(settings, settings.secrets().signing_secret)
