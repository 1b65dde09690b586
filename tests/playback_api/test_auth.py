"""Viewer JWT verification: allow-list, key confusion, claims, caching, FastAPI deps."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from redis.asyncio import Redis

from reelflow.playback_api.auth.auth import (
    AuthConfigError,
    TokenVerifier,
    VerifierConfig,
    Viewer,
    mint_dev_token,
)
from reelflow.playback_api.auth.revocation import Revocations
from reelflow.playback_api.http.context import current_admin, current_viewer
from reelflow.playback_api.http.problems import Problem, install_problem_handlers

ISS = "https://id.example.test/"
AUD = "reelflow-playback"
ADMIN_AUD = "reelflow-admin"
DEV_SECRET = "dev-secret-" + "x" * 32


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _hs256_config(secret: str) -> VerifierConfig:
    """HS256-only, as embedded mode configures it for dev tokens."""
    return VerifierConfig(
        issuer=ISS, audience=AUD, algorithms=("HS256",), hs256_secret=secret, env="embedded"
    )


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "acct-1",
        "plan": "premium",
        "country": "us",
        "iss": ISS,
        "aud": AUD,
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture(scope="module")
def rs_verifier(rsa_key: rsa.RSAPrivateKey) -> TokenVerifier:
    config = VerifierConfig(
        issuer=ISS, audience=AUD, algorithms=("RS256",), public_key_pem=public_pem(rsa_key)
    )
    return TokenVerifier(config)


def rs_token(key: rsa.RSAPrivateKey, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm="RS256")


def problem_slug(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Problem) as info:
        verifier.verify(token)
    return info.value.slug


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge_hs256(secret: bytes, payload: dict[str, Any]) -> str:
    # PyJWT refuses to HMAC with a PEM key, so build the forgery by hand, as an attacker would.
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(payload).encode())
    sig = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(sig)}"


def test_valid_rs256_token_gives_viewer(rs_verifier: TokenVerifier, rsa_key: Any) -> None:
    viewer = rs_verifier.verify(rs_token(rsa_key, device="tv-1", admin=True, aud=ADMIN_AUD))
    assert viewer.sub == "acct-1"
    assert viewer.plan == "premium"
    assert viewer.country == "US"
    assert viewer.device == "tv-1"
    assert viewer.admin is True


def test_an_admin_token_has_its_own_audience_and_lives_an_hour_at_most(
    rs_verifier: TokenVerifier, rsa_key: Any
) -> None:
    # The admin claim in a viewer token (a player holds those for days) is refused.
    assert problem_slug(rs_verifier, rs_token(rsa_key, admin=True)) == "invalid_token"
    now = int(time.time())
    long_admin = rs_token(rsa_key, admin=True, aud=ADMIN_AUD, exp=now + 2 * 3600)
    assert problem_slug(rs_verifier, long_admin) == "invalid_token"
    # A token for the admin audience alone must be an admin's.
    assert problem_slug(rs_verifier, rs_token(rsa_key, aud=ADMIN_AUD)) == "invalid_token"
    # Both audiences: a viewer token that is also an admin's, an hour long.
    both = rs_verifier.verify(rs_token(rsa_key, sub="both", admin=True, aud=[AUD, ADMIN_AUD]))
    assert both.admin is True
    with pytest.raises(ValueError, match="at most 3600 s"):
        mint_dev_token(DEV_SECRET, sub="x", plan="basic", country="DE", issuer=ISS,
                       audience=AUD, admin=True, ttl_s=7200)  # fmt: skip


def test_admin_claim_must_be_literal_true(rs_verifier: TokenVerifier, rsa_key: Any) -> None:
    assert rs_verifier.verify(rs_token(rsa_key, admin="yes")).admin is False


def test_es256_with_jwks_selects_key_by_kid(
    tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey
) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    keys = []
    for kid, key in (("k-old", other), ("k-new", ec_key)):
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        jwk.update(kid=kid, alg="ES256", use="sig")
        keys.append(jwk)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": keys}))
    verifier = TokenVerifier(
        VerifierConfig(issuer=ISS, audience=AUD, algorithms=("ES256",), jwks_path=jwks)
    )
    good = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "k-new"})
    assert verifier.verify(good).sub == "acct-1"
    wrong_kid = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "k-old"})
    assert problem_slug(verifier, wrong_kid) == "invalid_token"
    unknown_kid = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "nope"})
    assert problem_slug(verifier, unknown_kid) == "invalid_token"
    # An RS256 token is outside this verifier's allow-list whatever key signed it.
    assert problem_slug(verifier, rs_token(rsa_key)) == "invalid_token"


def test_alg_none_is_refused(rs_verifier: TokenVerifier) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims()).encode())
    assert problem_slug(rs_verifier, f"{header}.{body}.") == "invalid_token"


def test_hs256_signed_with_public_key_pem_is_refused(
    rs_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    forged = forge_hs256(public_pem(rsa_key), claims(plan="premium", admin=True))
    assert problem_slug(rs_verifier, forged) == "invalid_token"


def test_key_confusion_refused_even_when_hs256_is_also_enabled(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    # Embedded mode with both families: the PEM is never used as an HMAC secret.
    config = VerifierConfig(
        issuer=ISS,
        audience=AUD,
        algorithms=("RS256", "HS256"),
        public_key_pem=public_pem(rsa_key),
        hs256_secret=DEV_SECRET,
        env="embedded",
    )
    verifier = TokenVerifier(config)
    forged = forge_hs256(public_pem(rsa_key), claims())
    assert problem_slug(verifier, forged) == "invalid_token"
    assert verifier.verify(rs_token(rsa_key)).plan == "premium"
    dev = mint_dev_token(DEV_SECRET, sub="d", plan="basic", country="FR", issuer=ISS, audience=AUD)
    assert verifier.verify(dev).plan == "basic"


def test_hs256_refused_in_production_config() -> None:
    with pytest.raises(AuthConfigError, match="embedded"):
        TokenVerifier(
            VerifierConfig(issuer=ISS, audience=AUD, algorithms=("HS256",), hs256_secret=DEV_SECRET)
        )
    with pytest.raises(AuthConfigError, match="at least"):
        TokenVerifier(_hs256_config("short"))
    with pytest.raises(AuthConfigError, match="no matching public key"):
        TokenVerifier(VerifierConfig(issuer=ISS, audience=AUD, algorithms=("RS256",)))


def test_public_key_of_wrong_family_is_not_used(
    ec_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(AuthConfigError):
        TokenVerifier(
            VerifierConfig(
                issuer=ISS, audience=AUD, algorithms=("RS256",), public_key_pem=public_pem(ec_key)
            )
        )


@pytest.mark.parametrize(
    ("overrides", "slug"),
    [
        ({"aud": None}, "invalid_token"),
        ({"aud": "someone-else"}, "invalid_token"),
        ({"iss": None}, "invalid_token"),
        ({"iss": "https://evil.example/"}, "invalid_token"),
        ({"exp": None}, "invalid_token"),
        ({"sub": None}, "invalid_token"),
        ({"exp": int(time.time()) - 3600}, "token_expired"),
        ({"nbf": int(time.time()) + 3600}, "invalid_token"),
        ({"plan": "gold"}, "invalid_token"),
        ({"plan": None}, "invalid_token"),
        ({"country": "USA"}, "invalid_token"),
        ({"country": "1A"}, "invalid_token"),
        ({"country": None}, "invalid_token"),
        ({"device": "x" * 500}, "invalid_token"),
    ],
)
def test_bad_claims_are_refused(
    rs_verifier: TokenVerifier, rsa_key: Any, overrides: dict[str, Any], slug: str
) -> None:
    token = jwt.encode(
        {k: v for k, v in {**claims(), **overrides}.items() if v is not None},
        rsa_key,
        algorithm="RS256",
    )
    assert problem_slug(rs_verifier, token) == slug


def test_leeway_accepts_small_clock_skew(rs_verifier: TokenVerifier, rsa_key: Any) -> None:
    now = int(time.time())
    token = rs_token(rsa_key, exp=now - 5, nbf=now + 5)
    assert rs_verifier.verify(token).sub == "acct-1"


def test_tampered_and_garbage_tokens(rs_verifier: TokenVerifier, rsa_key: Any) -> None:
    token = rs_token(rsa_key, plan="basic")
    header, _body, sig = token.split(".")
    upgraded = _b64(json.dumps(claims(plan="premium")).encode())
    assert problem_slug(rs_verifier, f"{header}.{upgraded}.{sig}") == "invalid_token"
    assert problem_slug(rs_verifier, "not-a-jwt") == "invalid_token"
    assert problem_slug(rs_verifier, "") == "invalid_token"
    assert problem_slug(rs_verifier, "a" * 10_000) == "invalid_token"


def test_cache_skips_reverification_but_still_checks_exp(rsa_key: Any) -> None:
    clock = [time.time()]
    verifier = TokenVerifier(
        VerifierConfig(
            issuer=ISS,
            audience=AUD,
            algorithms=("RS256",),
            public_key_pem=public_pem(rsa_key),
            leeway_s=0,
        ),
        clock=lambda: clock[0],
    )
    exp = int(clock[0]) + 60
    token = rs_token(rsa_key, exp=exp)
    first = verifier.verify(token)
    assert verifier.verify(token) == first
    assert verifier.cache_hits == 1
    clock[0] = exp + 1  # past exp: the cached entry must not be served
    assert problem_slug(verifier, token) == "token_expired"
    # A failed verification is never cached: the same forged token fails every time.
    forged = forge_hs256(public_pem(rsa_key), claims())
    assert problem_slug(verifier, forged) == "invalid_token"
    assert problem_slug(verifier, forged) == "invalid_token"


def test_cache_is_bounded(rsa_key: Any) -> None:
    verifier = TokenVerifier(
        VerifierConfig(
            issuer=ISS,
            audience=AUD,
            algorithms=("RS256",),
            public_key_pem=public_pem(rsa_key),
            cache_size=3,
        )
    )
    tokens = [rs_token(rsa_key, sub=f"acct-{i}") for i in range(5)]
    for token in tokens:
        verifier.verify(token)
    verifier.verify(tokens[-1])
    assert verifier.cache_hits == 1
    verifier.verify(tokens[0])  # evicted: verified again, not a hit
    assert verifier.cache_hits == 1
    assert len(verifier._cache) == 3


def test_mint_dev_token_round_trip_and_validation() -> None:
    verifier = TokenVerifier(_hs256_config(DEV_SECRET))
    token = mint_dev_token(
        DEV_SECRET, sub="me", plan="standard", country="de", admin=True, issuer=ISS, audience=AUD
    )
    viewer = verifier.verify(token)
    assert (viewer.sub, viewer.plan, viewer.country, viewer.admin) == ("me", "standard", "DE", True)
    assert viewer.exp - time.time() == pytest.approx(3600, abs=5)
    with pytest.raises(ValueError):
        mint_dev_token(DEV_SECRET, sub="me", plan="gold", country="DE", issuer=ISS, audience=AUD)  # type: ignore[arg-type]
    other = mint_dev_token("z" * 40, sub="me", plan="basic", country="DE", issuer=ISS, audience=AUD)
    assert problem_slug(verifier, other) == "invalid_token"


def test_fastapi_dependencies(rs_verifier: TokenVerifier, rsa_key: Any, redis_url: str) -> None:
    app = FastAPI()
    install_problem_handlers(app)
    # The dependencies read only the verifier and the revocations (real Redis) of the context.
    revocations = Revocations(Redis.from_url(redis_url), ttl_s=3600, prefix=f"t{time.time_ns()}:")
    app.state.ctx = SimpleNamespace(verifier=rs_verifier, revocations=revocations)

    @app.get("/me")
    async def me(viewer: Viewer = Depends(current_viewer)) -> dict[str, str]:
        return {"sub": viewer.sub, "country": viewer.country}

    @app.get("/admin")
    async def admin(viewer: Viewer = Depends(current_admin)) -> dict[str, str]:
        return {"sub": viewer.sub}

    # One event loop for every request: the asyncio Redis client belongs to it.
    with TestClient(app) as client:
        user = rs_token(rsa_key)
        boss = rs_token(rsa_key, sub="boss", admin=True, aud=ADMIN_AUD)
        assert client.get("/me", headers={"Authorization": f"Bearer {user}"}).json() == {
            "sub": "acct-1",
            "country": "US",
        }
        missing = client.get("/me")
        assert missing.status_code == 401
        assert missing.json()["type"].endswith("/invalid_token")
        assert "Bearer" in missing.headers["www-authenticate"]
        basic_auth = client.get("/me", headers={"Authorization": "Basic dXNlcjpwdw=="})
        assert basic_auth.status_code == 401
        refused = client.get("/admin", headers={"Authorization": f"Bearer {user}"})
        assert refused.status_code == 403
        assert refused.json()["type"].endswith("/forbidden")
        assert client.get("/admin", headers={"Authorization": f"Bearer {boss}"}).status_code == 200
        schema = client.get("/openapi.json").json()
        assert "HTTPBearer" in schema["components"]["securitySchemes"]
