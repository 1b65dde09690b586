"""Attacks on viewer tokens: rotated-out keys, random kids against the IdP, revoked tokens.

A real HTTP server on 127.0.0.1 serves the identity provider's JWKS (the keys rotate
during the test); the real app verifies RS256 tokens from it and checks revocations in
real Redis.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from reelflow.config import ConfigError, Settings
from reelflow.playback_api.auth.auth_config import verifier_config
from tests.playback_api.conftest import ApiHarness, OpenApi

PROBLEMS = "https://reelflow.dev/problems/"


class Idp:
    """A JWKS endpoint on loopback whose key set the test can rotate; counts its fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.fetches = 0
        # Cleared: a fetch waits here (a slow IdP) until the test sets it, at most 20 s.
        self.answering = threading.Event()
        self.answering.set()
        self.waiting = threading.Event()
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                idp.fetches += 1
                idp.waiting.set()
                idp.answering.wait(timeout=20)
                body = json.dumps({"keys": [idp.jwk(kid) for kid in idp.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"

    def jwk(self, kid: str) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(
            jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key())
        )
        return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}

    def add_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def idp() -> Iterator[Idp]:
    server = Idp()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def _token(
    api: ApiHarness,
    key: rsa.RSAPrivateKey,
    kid: str,
    *,
    sub: str = "acct-1",
    jti: str | None = None,
    ttl_s: int = 600,
    admin: bool = False,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "plan": "premium",
        "country": "US",
        "iss": api.settings.auth_issuer,
        "aud": api.settings.auth_audience,
        "iat": now,
        "exp": now + ttl_s,
        "jti": jti or uuid.uuid4().hex,
    }
    if admin:
        claims["admin"] = True
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _get(api: ApiHarness, token: str) -> Any:
    return api.client.get("/v1/titles", headers={"Authorization": f"Bearer {token}"})


def _refused(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["type"] == PROBLEMS + "invalid_token"


# ---- JWKS by URL -------------------------------------------------------------------------


def test_rotation_refuses_the_old_kid_and_accepts_the_new(open_api: OpenApi, idp: Idp) -> None:
    idp.add_key("kid-a")
    api = open_api(auth_jwks_url=idp.url, auth_jwks_refetch_s=1)
    old_key = idp.keys["kid-a"]
    cached = _token(api, old_key, "kid-a")
    assert _get(api, cached).status_code == 200
    assert _get(api, cached).status_code == 200  # from the claims cache: no second fetch
    assert idp.fetches == 1

    time.sleep(1.1)  # the refetch interval has passed: a new kid may trigger one fetch
    idp.add_key("kid-b")
    del idp.keys["kid-a"]  # the IdP rotated: kid-a is gone
    assert _get(api, _token(api, idp.keys["kid-b"], "kid-b")).status_code == 200
    assert idp.fetches == 2
    _refused(_get(api, cached))  # cached claims of a key that left the set: refused now
    _refused(_get(api, _token(api, old_key, "kid-a")))  # and fresh tokens of that key


def test_random_kids_refetch_the_jwks_at_most_once_per_interval(
    open_api: OpenApi, idp: Idp
) -> None:
    idp.add_key("kid-a")
    api = open_api(auth_jwks_url=idp.url, auth_jwks_refetch_s=1)
    key = idp.keys["kid-a"]
    assert _get(api, _token(api, key, "kid-a")).status_code == 200
    assert idp.fetches == 1
    started = time.monotonic()
    for _ in range(200):  # forged tokens naming kids the IdP never had
        _refused(_get(api, _token(api, key, f"kid-{uuid.uuid4().hex}")))
    elapsed = time.monotonic() - started
    # One fetch per started interval at most (the first interval already had its fetch).
    assert idp.fetches - 1 <= int(elapsed), (idp.fetches, elapsed)
    time.sleep(1.1)
    _refused(_get(api, _token(api, key, "kid-unknown")))
    fetched = idp.fetches
    _refused(_get(api, _token(api, key, "kid-unknown-2")))
    assert idp.fetches == fetched  # the second unknown kid in the interval fetched nothing


def test_a_slow_idp_fetch_does_not_stall_requests_with_known_tokens(
    open_api: OpenApi, idp: Idp
) -> None:
    idp.add_key("kid-a")
    api = open_api(auth_jwks_url=idp.url, auth_jwks_refetch_s=1)
    known = _token(api, idp.keys["kid-a"], "kid-a")
    assert _get(api, known).status_code == 200  # fetched once; its claims cached
    time.sleep(1.1)  # past the refetch interval: a new kid fetches again
    idp.add_key("kid-b")
    idp.answering.clear()
    idp.waiting.clear()
    first: list[int] = []
    fresh = _token(api, idp.keys["kid-b"], "kid-b")
    slow = threading.Thread(target=lambda: first.append(_get(api, fresh).status_code))
    slow.start()
    try:
        assert idp.waiting.wait(timeout=20)  # the new kid's fetch is at the IdP, held there
        # The event loop is free: a viewer whose token is known is answered meanwhile.
        assert _get(api, known).status_code == 200
        assert not first and idp.answering.is_set() is False
    finally:
        idp.answering.set()
        slow.join(timeout=30)
    assert first == [200]


def test_an_unreachable_idp_is_503_not_a_pass(open_api: OpenApi, idp: Idp) -> None:
    idp.add_key("kid-a")
    key = idp.keys["kid-a"]
    url = idp.url
    idp.server.shutdown()
    idp.server.server_close()
    api = open_api(auth_jwks_url=url)
    response = _get(api, _token(api, key, "kid-a"))
    assert (
        response.status_code == 503 and response.json()["type"] == PROBLEMS + "service_unavailable"
    )


@pytest.mark.parametrize(
    "url",
    ["http://idp.example.com/jwks.json", "file:///etc/passwd", "ftp://127.0.0.1/jwks", "https://"],
)
def test_jwks_urls_other_than_https_or_loopback_http_are_refused(url: str, tmp_path: Any) -> None:
    settings = Settings(home=tmp_path, auth_jwks_url=url)
    with pytest.raises(ConfigError, match="REELFLOW_AUTH_JWKS_URL"):
        verifier_config(settings, b"s" * 32)


# ---- revocation --------------------------------------------------------------------------


def _admin(api: ApiHarness) -> dict[str, str]:
    return api.auth(admin=True)


def test_a_revoked_jti_is_refused_at_once_even_from_the_claims_cache(api: ApiHarness) -> None:
    token = api.token(sub="acct-r")
    other = api.token(sub="acct-r")
    assert _get(api, token).status_code == 200  # cached in the verifier now
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    r = api.client.post("/v1/admin/revocations/tokens", json={"jti": jti}, headers=_admin(api))
    assert r.status_code == 201, r.text
    assert r.json()["expires_in_s"] == api.settings.auth_max_token_lifetime_s
    _refused(_get(api, token))
    start = api.start_playback("tt-any", {"Authorization": f"Bearer {token}"})
    _refused(start)  # the hand-read hot path (its rate-limit script) checks it too
    assert _get(api, other).status_code == 200  # only that token


def test_revoking_an_account_refuses_its_tokens_until_it_signs_in_again(api: ApiHarness) -> None:
    old = [api.token(sub="acct-x"), api.token(sub="acct-x")]
    assert _get(api, old[0]).status_code == 200
    bystander = api.token(sub="acct-y")
    r = api.client.post(
        "/v1/admin/revocations/accounts", json={"account": "acct-x"}, headers=_admin(api)
    )
    assert r.status_code == 201, r.text
    for token in old:
        _refused(_get(api, token))
    # The start checks it in its rate-limit script, before it even looks the title up.
    _refused(api.start_playback("tt-any", {"Authorization": f"Bearer {old[1]}"}))
    assert _get(api, bystander).status_code == 200
    time.sleep(1.05)  # iat has whole seconds: a token of the revoking second is refused too
    assert _get(api, api.token(sub="acct-x")).status_code == 200


def test_revocation_needs_an_admin_and_a_sane_body(api: ApiHarness) -> None:
    for path, body in (
        ("/v1/admin/revocations/tokens", {"jti": "j"}),
        ("/v1/admin/revocations/accounts", {"account": "a"}),
    ):
        assert api.client.post(path, json=body).status_code == 401
        viewer = api.client.post(path, json=body, headers=api.auth())
        assert viewer.status_code == 403 and viewer.json()["type"] == PROBLEMS + "forbidden"
    for body in ({"jti": ""}, {"jti": "x" * 257}, {"jti": "a\nb"}, {"jti": "j", "extra": 1}):
        r = api.client.post("/v1/admin/revocations/tokens", json=body, headers=_admin(api))
        assert r.status_code == 422, body


def test_a_token_outliving_the_maximum_lifetime_is_refused(open_api: OpenApi) -> None:
    api = open_api(auth_max_token_lifetime_s=3600)
    _refused(_get(api, api.token(ttl_s=7200)))
    assert _get(api, api.token(ttl_s=1800)).status_code == 200
