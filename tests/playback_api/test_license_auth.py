"""A session's links alone get no license: the viewer's own credential must come with them.

Whoever holds a session's links (the playback token in the license URL, the manifest, the
signed media prefix: a viewer sharing a stream hands all of them around) but not the viewer's
bearer token gets no ClearKey license, no HLS key and no proxied DRM license. Real app, real
catalog and Redis; the DRM vendor is the stand-in upstream (tests/fixtures).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest

from reelflow.playback_api.auth.auth import mint_dev_token
from reelflow.playback_api.auth.auth_config import dev_token_secret
from tests.fixtures.fake_license_upstream import FakeLicenseUpstream
from tests.playback_api.conftest import ApiHarness, OpenApi

TITLE = "tt-links"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _bearer(api: ApiHarness, sub: str, device: str | None = None) -> dict[str, str]:
    token = mint_dev_token(
        dev_token_secret(api.settings.secrets().signing_secret), sub=sub, plan="premium",
        country="US", issuer=api.settings.auth_issuer, audience=api.settings.auth_audience,
        device=device,
    )  # fmt: skip
    return {"Authorization": f"Bearer {token}"}


def _problem(response: Any, status: int, slug: str) -> str:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + slug), body
    return str(body.get("detail", ""))


@pytest.fixture
def proxied(open_api: OpenApi) -> Iterator[tuple[ApiHarness, FakeLicenseUpstream]]:
    with FakeLicenseUpstream(b"stand-in-upstream-secret-0123456789abcdef") as upstream:
        api = open_api(**upstream.settings())
        api.publish(TITLE)
        yield api, upstream


def _start(api: ApiHarness, headers: dict[str, str], drm: str, device: str = "tv-1") -> Any:
    started = api.start_playback(TITLE, headers, device_id=device, drm=(drm,))
    assert started.status_code == 201, started.text
    return started.json()


def _clearkey(api: ApiHarness, session: Any, headers: dict[str, str] | None = None) -> Any:
    kids = [base64.urlsafe_b64encode(bytes.fromhex(k)).rstrip(b"=").decode() for k in _kids(api)]
    return api.client.post(
        _path(session["licenses"]["clearkey"]), json={"kids": kids}, headers=headers or {}
    )


def _kids(api: ApiHarness) -> list[str]:
    return [key.kid_hex for key in api.published[TITLE].keys.values()]


def _hls_key(api: ApiHarness, session: Any, headers: dict[str, str] | None = None) -> Any:
    kid = _kids(api)[0]
    return api.client.get(
        f"/v1/license/hls-key/{kid}?token={session['token']}", headers=headers or {}
    )


def test_the_links_alone_get_no_clearkey_license_or_hls_key(api: ApiHarness) -> None:
    api.publish(TITLE)
    viewer = _bearer(api, "ada")
    session = _start(api, viewer, "clearkey")
    # Everything a shared link carries, nothing of the viewer's.
    assert "Authorization" in _problem(_clearkey(api, session), 401, "invalid_token")
    _problem(_hls_key(api, session), 401, "invalid_token")
    # Another account's credential with the links: still not this viewer.
    other = _bearer(api, "eve")
    assert "another account" in _problem(_clearkey(api, session, other), 403, "forbidden")
    _problem(_hls_key(api, session, other), 403, "forbidden")
    # The viewer's own player sends both.
    answered = _clearkey(api, session, viewer)
    assert answered.status_code == 200, answered.text
    assert answered.json()["keys"]
    assert _hls_key(api, session, viewer).status_code == 200
    # A later token of the same account (renewed at the identity provider) is the viewer too.
    assert _clearkey(api, session, _bearer(api, "ada")).status_code == 200


def test_a_device_bound_credential_must_name_the_sessions_device(api: ApiHarness) -> None:
    api.publish(TITLE)
    session = _start(api, _bearer(api, "bo", device="tv-1"), "clearkey", device="ignored")
    other_device = _bearer(api, "bo", device="phone-9")
    assert "another device" in _problem(_clearkey(api, session, other_device), 403, "forbidden")
    assert _clearkey(api, session, _bearer(api, "bo", device="tv-1")).status_code == 200


def test_a_revoked_credential_gets_no_license(api: ApiHarness) -> None:
    api.publish(TITLE)
    viewer = _bearer(api, "cy")
    session = _start(api, viewer, "clearkey")
    admin = api.auth(admin=True)
    revoked = api.client.post(
        "/v1/admin/revocations/accounts", json={"account": "cy"}, headers=admin
    )
    assert revoked.status_code == 201, revoked.text
    assert _clearkey(api, session, viewer).status_code == 401


def test_a_token_revoked_by_id_is_refused_at_once_though_its_claims_are_cached(
    api: ApiHarness,
) -> None:
    """The license and the playback start check revocation inside their own Redis script
    (auth/revocation.py ``guarded``), after the verifier's claims cache."""
    api.publish(TITLE)
    viewer, same_account = _bearer(api, "dee"), _bearer(api, "dee")
    session = _start(api, viewer, "clearkey")
    assert _clearkey(api, session, viewer).status_code == 200  # claims cached now
    verifier = api.client.app.state.ctx.verifier  # type: ignore[attr-defined]
    hits = verifier.cache_hits
    token = viewer["Authorization"].removeprefix("Bearer ")
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    admin = api.auth(admin=True)
    revoked = api.client.post("/v1/admin/revocations/tokens", json={"jti": jti}, headers=admin)
    assert revoked.status_code == 201, revoked.text
    assert "revoked" in _problem(_clearkey(api, session, viewer), 401, "invalid_token")
    started = api.start_playback(TITLE, viewer, device_id="tv-2", drm=("clearkey",))
    assert "revoked" in _problem(started, 401, "invalid_token")
    assert verifier.cache_hits >= hits + 2  # refused from the cache
    # Another token of the same account still gets the session's license.
    assert _clearkey(api, session, same_account).status_code == 200


def test_the_drm_proxy_needs_the_viewers_credential_too(
    proxied: tuple[ApiHarness, FakeLicenseUpstream],
) -> None:
    api, upstream = proxied
    viewer = _bearer(api, "dee")
    session = _start(api, viewer, "widevine")
    url = _path(session["licenses"]["widevine"])
    challenge, octets = b"\x08\x01" * 64, {"Content-Type": "application/octet-stream"}
    seen = len(upstream.received)
    _problem(api.client.post(url, content=challenge, headers=octets), 401, "invalid_token")
    assert len(upstream.received) == seen  # refused before the vendor was asked
    licensed = api.client.post(url, content=challenge, headers={**octets, **viewer})
    assert licensed.status_code == 200, licensed.text


def test_the_openapi_document_says_licenses_need_the_bearer_token(api: ApiHarness) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for path, method in (
        ("/v1/license/clearkey", "post"),
        ("/v1/license/hls-key/{kid}", "get"),
        ("/v1/license/widevine", "post"),
        ("/v1/license/playready", "post"),
        ("/v1/license/fairplay", "post"),
    ):
        assert paths[path][method]["security"] == [{"HTTPBearer": []}], path
    assert "security" not in paths["/v1/license/fairplay/certificate"]["get"]  # public
