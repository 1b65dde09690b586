"""Viewer auth through the real app in production mode: RS256 from an identity provider.

The verifier has its own unit tests (test_auth.py); these check the wiring: the settings
pick the algorithms and key, the app refuses every forgery with a 401 problem, and dev
tokens do not exist outside embedded mode.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fixtures.published import MediaSet
from tests.playback_api.conftest import ApiHarness, _harness

ISS = "https://id.example.test/"
AUD = "reelflow-playback"


@pytest.fixture(scope="module")
def idp_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def prod(
    tmp_path: Path,
    redis_url: str,
    media_set: MediaSet,
    packager_path: str,
    idp_key: rsa.RSAPrivateKey,
) -> Iterator[tuple[ApiHarness, bytes]]:
    pem = idp_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "idp.pem").write_bytes(pem)
    for api in _harness(
        tmp_path,
        redis_url,
        f"sqlite:///{tmp_path / 'catalog.db'}",
        media_set,
        packager_path,
        env="production",
        signing_secret=secrets.token_urlsafe(32),
        master_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        auth_issuer=ISS,
        auth_audience=AUD,
        auth_public_key_path=tmp_path / "idp.pem",
    ):
        api.publish("tt-main")
        yield api, pem


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "acct-9", "plan": "premium", "country": "US", "iss": ISS, "aud": AUD,
            "iat": now, "nbf": now, "exp": now + 600}  # fmt: skip
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def play(api: ApiHarness, token: str) -> Any:
    return api.client.post(
        "/v1/titles/tt-main/playback",
        json={"device_id": "d1"},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_a_genuine_rs256_token_starts_playback(
    prod: tuple[ApiHarness, bytes], idp_key: rsa.RSAPrivateKey
) -> None:
    api, _ = prod
    assert play(api, jwt.encode(claims(), idp_key, algorithm="RS256")).status_code == 201


def _unsigned(payload: dict[str, Any]) -> str:
    def enc(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{enc({'alg': 'none', 'typ': 'JWT'})}.{enc(payload)}."


def test_forged_tokens_are_refused(
    prod: tuple[ApiHarness, bytes], idp_key: rsa.RSAPrivateKey
) -> None:
    api, pem = prod
    import hashlib
    import hmac

    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=")
    # HS256 "signed" with the public key: the classic algorithm-confusion forgery.
    mac = hmac.new(pem, header + b"." + body, hashlib.sha256).digest()
    confused = (header + b"." + body + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forgeries = {
        "alg none": _unsigned(claims()),
        "hs256 with the public key": confused,
        "wrong signer": jwt.encode(claims(), other_key, algorithm="RS256"),
        "missing aud": jwt.encode(claims(aud=None), idp_key, algorithm="RS256"),
        "wrong aud": jwt.encode(claims(aud="another-service"), idp_key, algorithm="RS256"),
        "wrong iss": jwt.encode(claims(iss="https://evil.test/"), idp_key, algorithm="RS256"),
        "expired": jwt.encode(claims(exp=int(time.time()) - 3600), idp_key, algorithm="RS256"),
        "not yet valid": jwt.encode(
            claims(nbf=int(time.time()) + 3600), idp_key, algorithm="RS256"
        ),
        "unknown plan": jwt.encode(claims(plan="platinum"), idp_key, algorithm="RS256"),
        "garbage": "not.a.jwt",
    }
    for name, token in forgeries.items():
        response = play(api, token)
        assert response.status_code == 401, name
        assert response.headers["content-type"] == "application/problem+json", name
        assert response.headers["www-authenticate"].startswith("Bearer"), name
    assert (
        api.client.post("/v1/titles/tt-main/playback", json={"device_id": "d"}).status_code == 401
    )


def test_plan_escalation_needs_a_new_signature(
    prod: tuple[ApiHarness, bytes], idp_key: rsa.RSAPrivateKey
) -> None:
    api, _ = prod
    token = jwt.encode(claims(plan="basic"), idp_key, algorithm="RS256")
    head, body, sig = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=="))
    data["plan"] = "premium"
    forged_body = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    assert play(api, f"{head}.{forged_body}.{sig}").status_code == 401
    session = play(api, token).json()
    assert session["max_height"] == 360  # the largest SD rendition of tt-main (issue 25)


def test_dev_tokens_do_not_exist_in_production(prod: tuple[ApiHarness, bytes]) -> None:
    api, _ = prod
    assert api.client.post("/v1/dev/token", json={"plan": "premium"}).status_code == 404


def test_dev_tokens_in_embedded_mode_work_and_validate_input(api: ApiHarness) -> None:
    api.publish("tt-main")
    issued = api.client.post("/v1/dev/token", json={"plan": "basic", "country": "fr"})
    assert issued.status_code == 200
    token = issued.json()["access_token"]
    assert issued.json()["country"] == "FR"
    assert play(api, token).json()["max_height"] == 360
    for bad in ({"plan": "gold"}, {"country": "USA"}, {"sub": "a b"}, {"ttl_s": 10**9}):
        assert api.client.post("/v1/dev/token", json=bad).status_code == 422, bad
