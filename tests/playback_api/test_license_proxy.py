"""The Widevine / PlayReady / FairPlay license proxy, end to end against a stand-in upstream.

The real app (real catalog, Redis, packaged titles with real keys) forwards challenges to
tests/fixtures/fake_license_upstream.py, a real HTTP server standing in for a commercial
license service, which verifies the entitlement exactly as the documented contract says.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlmodel import Session, select

from reelflow.catalog.models import ContentKeyRow
from reelflow.domain.track_classes import TrackClass
from reelflow.playback_api.auth.signing import issue_playback_token
from reelflow.playback_api.delivery.license_proxy import (
    ENTITLEMENT_TTL_S,
    MAX_CHALLENGE_BYTES,
    TRACK_POLICY,
    build_entitlement,
    key_wrap_key,
    wrap_content_key,
)
from reelflow.playback_api.delivery.sessions import PlaybackSession
from reelflow.playback_api.delivery.title_cache import KeyEntry
from tests.fixtures.fake_license_upstream import (
    ERROR_BODY,
    LICENSE_TYPES,
    EntitlementRejected,
    FakeLicenseUpstream,
    fake_license,
    verify_entitlement,
)
from tests.playback_api.conftest import ApiHarness, OpenApi
from tests.services import free_port

SECRET = b"stand-in-upstream-secret-0123456789abcdef"
SYSTEMS = ("widevine", "playready", "fairplay")
PROBLEMS = "https://reelflow.dev/problems/"
CHALLENGE_TYPES = {
    "widevine": "application/octet-stream",
    "playready": "text/xml; charset=utf-8",
    "fairplay": "application/octet-stream",
}
PLAYREADY_SOAP = "http://schemas.microsoft.com/DRM/2007/03/protocols/AcquireLicense"
# The least robust level each system's vendor knows as software DRM, and the hardware ones.
SOFTWARE = {"widevine": "SW_SECURE_CRYPTO", "playready": "SL2000", "fairplay": "baseline"}


@pytest.fixture
def upstream() -> Iterator[FakeLicenseUpstream]:
    with FakeLicenseUpstream(SECRET) as server:
        yield server


@pytest.fixture
def api(open_api: OpenApi, upstream: FakeLicenseUpstream) -> ApiHarness:
    """The app with every proxied system pointing at the stand-in."""
    return open_api(**upstream.settings())


def challenge_for(drm: str) -> bytes:
    """Something shaped like each system's challenge; the proxy must pass it on byte for byte."""
    if drm == "playready":
        return (
            b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope><soap:Body>'
            b"<AcquireLicense>challenge-\xc3\xa9</AcquireLicense></soap:Body></soap:Envelope>"
        )
    return bytes(range(256)) * 7 + drm.encode()


def start(
    api: ApiHarness, title: str, drm: str, *, plan: str = "premium", sub: str = "acct-proxy"
) -> dict[str, Any]:
    headers = api.auth(plan=plan, sub=sub)
    response = api.start_playback(title, headers, drm=(drm,))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    body["headers"] = headers
    return body


def post_license(
    api: ApiHarness,
    url: str,
    drm: str,
    body: bytes | None = None,
    *,
    viewer: dict[str, str],
    **headers: str,
) -> Any:
    """A player's license request: the session's URL and the viewer's own credential."""
    payload = challenge_for(drm) if body is None else body
    sent = {"Content-Type": CHALLENGE_TYPES[drm], **viewer, **headers}
    return api.client.post(url, content=payload, headers=sent)


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEMS + slug
    return body


# ---- happy paths ----------------------------------------------------------------------------


@pytest.mark.parametrize("drm", SYSTEMS)
def test_relays_the_challenge_with_a_signed_entitlement(
    api: ApiHarness, upstream: FakeLicenseUpstream, drm: str
) -> None:
    published = api.publish("proxy-film")
    playback = start(api, "proxy-film", drm, plan="basic", sub="acct-basic")
    extra = {"SOAPAction": PLAYREADY_SOAP} if drm == "playready" else {}
    challenge = challenge_for(drm)

    response = post_license(
        api, playback["licenses"][drm], drm, challenge, **extra, viewer=playback["headers"]
    )

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    [seen] = upstream.received
    assert seen.rejection is None and seen.entitlement is not None
    # The upstream saw the exact challenge bytes and content type, and relayed its answer.
    assert seen.body == challenge
    assert seen.headers["content-type"] == CHALLENGE_TYPES[drm]
    assert response.content == fake_license(drm, challenge, seen.entitlement.kids)
    assert response.headers["content-type"] == LICENSE_TYPES[drm]
    if drm == "playready":
        assert seen.headers["soapaction"] == PLAYREADY_SOAP
    # A basic plan is entitled to audio and SD only: the HD key never leaves the API.
    granted = {k.kid: k for k in seen.entitlement.keys}
    assert set(granted) == {published.kid("audio"), published.kid("sd")}
    assert published.kid("hd") not in seen.entitlement.kids
    for cls in ("audio", "sd"):
        key = granted[published.kid(cls)]
        assert key.key == published.keys[TrackClass(cls.upper())].key
        assert key.track_class == cls
    claims = seen.entitlement.claims
    assert claims["sub"] == "acct-basic"
    assert claims["session_id"] == playback["session_id"]
    assert claims["title_id"] == "proxy-film" and claims["package_version"] == published.version
    assert claims["drm"] == drm and claims["device_id"] == "device-1"
    assert claims["aud"] == f"{drm}-license-upstream" and claims["iss"] == "reelflow"
    assert 0 < claims["exp"] - claims["iat"] <= 60
    low = SOFTWARE[drm]  # audio and SD: a software client will do
    assert claims["policy"] == {
        "license_expires_at": playback["expires_at"],
        "persistent": False,
        "track_classes": {
            "audio": {"hdcp": "none", "security_level": "SW_SECURE_CRYPTO", "robustness": low},
            "sd": {"hdcp": "none", "security_level": "SW_SECURE_CRYPTO", "robustness": low},
        },
    }
    metrics = api.client.get("/metrics").text
    assert f'reelflow_licenses_issued_total{{drm="{drm}"}} 1.0' in metrics


def test_premium_session_gets_hd_with_its_output_protection(
    api: ApiHarness, upstream: FakeLicenseUpstream
) -> None:
    published = api.publish("proxy-hd")
    playback = start(api, "proxy-hd", "widevine", plan="premium")
    response = post_license(
        api, playback["licenses"]["widevine"], "widevine", viewer=playback["headers"]
    )
    assert response.status_code == 200, response.text
    [seen] = upstream.received
    assert seen.entitlement is not None
    assert seen.entitlement.kids == {published.kid(c) for c in ("audio", "sd", "hd")}
    hd = next(k for k in seen.entitlement.keys if k.track_class == "hd")
    assert hd.key == next(k.key for k in published.keys.values() if k.kid_hex == hd.kid)
    assert seen.entitlement.claims["policy"]["track_classes"]["hd"] == {
        "hdcp": "HDCP_V1",
        "security_level": "HW_SECURE_CRYPTO",
        "robustness": "HW_SECURE_CRYPTO",
    }


def test_each_license_gets_a_fresh_entitlement(
    api: ApiHarness, upstream: FakeLicenseUpstream
) -> None:
    api.publish("proxy-twice")
    playback = start(api, "proxy-twice", "widevine")
    for _ in range(2):
        assert (
            post_license(
                api, playback["licenses"]["widevine"], "widevine", viewer=playback["headers"]
            ).status_code
            == 200
        )
    # The stand-in refuses a replayed jti, so both passing means two distinct entitlements.
    assert [r.rejection for r in upstream.received] == [None, None]


# ---- configuration and upstream failures ----------------------------------------------------


def test_unconfigured_upstream_is_503_before_anything_is_contacted(
    open_api: OpenApi, upstream: FakeLicenseUpstream
) -> None:
    # Widevine has a URL but no secret; PlayReady and FairPlay have nothing at all.
    api = open_api(license_widevine_url=upstream.url("widevine"))
    api.publish("proxy-off")
    # Systems without a license service are not offered when playback starts ...
    for drm in SYSTEMS:
        refused = api.start_playback("proxy-off", api.auth(sub=f"acct-{drm}"), drm=(drm,))
        assert problem(refused, 406, "unsupported_drm")["supported"] == ["clearkey"]
    # ... and their license endpoints answer 503 even to a live session's token.
    playback = start(api, "proxy-off", "clearkey")
    for drm in SYSTEMS:
        url = playback["licenses"]["clearkey"].replace("/clearkey?", f"/{drm}?")
        body = problem(
            post_license(api, url, drm, viewer=playback["headers"]), 503, "license_unavailable"
        )
        assert drm in body["detail"]
    assert upstream.received == []


def test_short_upstream_secret_counts_as_unconfigured(
    open_api: OpenApi, upstream: FakeLicenseUpstream
) -> None:
    api = open_api(**upstream.settings(**{f"license_{drm}_secret": "too-short" for drm in SYSTEMS}))
    api.publish("proxy-weak")
    # Not offered at playback start, and its endpoint answers 503 to a live session's token.
    refused = api.start_playback("proxy-weak", api.auth(), drm=("widevine",))
    assert problem(refused, 406, "unsupported_drm")["supported"] == ["clearkey"]
    playback = start(api, "proxy-weak", "clearkey")
    url = playback["licenses"]["clearkey"].replace("/clearkey?", "/widevine?")
    problem(
        post_license(api, url, "widevine", viewer=playback["headers"]), 503, "license_unavailable"
    )
    assert upstream.received == []


def test_upstream_error_is_502_without_echoing_its_body(
    api: ApiHarness, upstream: FakeLicenseUpstream
) -> None:
    api.publish("proxy-broken")
    playback = start(api, "proxy-broken", "playready")
    upstream.mode = "error"
    response = post_license(
        api, playback["licenses"]["playready"], "playready", viewer=playback["headers"]
    )
    body = problem(response, 502, "upstream_error")
    assert body["upstream_status"] == 500 and "HTTP 500" in body["detail"]
    assert ERROR_BODY.decode() not in response.text
    assert len(upstream.received) == 1
    assert "reelflow_licenses_issued_total{" not in api.client.get("/metrics").text


def test_upstream_refusing_the_entitlement_is_502(
    open_api: OpenApi, upstream: FakeLicenseUpstream
) -> None:
    # The API signs with another secret than the stand-in expects: it refuses (403).
    api = open_api(**upstream.settings(license_fairplay_secret="x" * 40))
    api.publish("proxy-mismatch")
    playback = start(api, "proxy-mismatch", "fairplay")
    response = post_license(
        api, playback["licenses"]["fairplay"], "fairplay", viewer=playback["headers"]
    )
    assert problem(response, 502, "upstream_error")["upstream_status"] == 403
    [seen] = upstream.received
    assert seen.rejection is not None and "Signature" in seen.rejection
    assert seen.rejection not in response.text


def test_upstream_timeout_is_502_within_the_timeout(
    open_api: OpenApi, upstream: FakeLicenseUpstream
) -> None:
    api = open_api(**upstream.settings(license_timeout_s=0.3))
    api.publish("proxy-slow")
    playback = start(api, "proxy-slow", "widevine")
    upstream.mode, upstream.delay_s = "slow", 3.0
    began = time.monotonic()
    response = post_license(
        api, playback["licenses"]["widevine"], "widevine", viewer=playback["headers"]
    )
    elapsed = time.monotonic() - began
    assert "did not answer within 0.3 s" in problem(response, 502, "upstream_error")["detail"]
    assert elapsed < 2.0


def test_unreachable_upstream_is_502(open_api: OpenApi, upstream: FakeLicenseUpstream) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/widevine"
    api = open_api(**upstream.settings(license_widevine_url=nowhere))
    api.publish("proxy-nowhere")
    playback = start(api, "proxy-nowhere", "widevine")
    response = post_license(
        api, playback["licenses"]["widevine"], "widevine", viewer=playback["headers"]
    )
    assert "could not be reached" in problem(response, 502, "upstream_error")["detail"]


# ---- sessions, tokens, keys and bodies ------------------------------------------------------


def test_bad_tokens_are_refused_before_the_upstream(
    api: ApiHarness, upstream: FakeLicenseUpstream
) -> None:
    api.publish("proxy-tokens")
    playback = start(api, "proxy-tokens", "widevine")
    base = "/v1/license/widevine"
    token: str = playback["token"]
    body, mac = token.split(".")
    tampered = f"{body}.{('A' if mac[0] != 'A' else 'B')}{mac[1:]}"
    ctx = api.client.app.state.ctx  # type: ignore[attr-defined]
    expired = issue_playback_token(
        ctx.signing_secret, playback["session_id"], "proxy-tokens", "v1", int(time.time()) - 5
    )
    foreign = issue_playback_token(
        b"another-deployment-signing-secret", playback["session_id"], "proxy-tokens", "v1",
        int(time.time()) + 600,
    )  # fmt: skip
    problem(post_license(api, base, "widevine", viewer=playback["headers"]), 401, "invalid_token")
    problem(
        post_license(api, f"{base}?token={tampered}", "widevine", viewer=playback["headers"]),
        401,
        "invalid_token",
    )
    problem(
        post_license(api, f"{base}?token={expired}", "widevine", viewer=playback["headers"]),
        401,
        "token_expired",
    )
    problem(
        post_license(api, f"{base}?token={foreign}", "widevine", viewer=playback["headers"]),
        401,
        "invalid_token",
    )
    # A genuine token, but its session asked for Widevine only.
    response = post_license(
        api, f"/v1/license/playready?token={token}", "playready", viewer=playback["headers"]
    )
    problem(response, 406, "unsupported_drm")
    assert upstream.received == []


def test_ended_session_gets_no_license(api: ApiHarness, upstream: FakeLicenseUpstream) -> None:
    api.publish("proxy-ended")
    playback = start(api, "proxy-ended", "fairplay")
    url = playback["licenses"]["fairplay"]
    assert post_license(api, url, "fairplay", viewer=playback["headers"]).status_code == 200
    ended = api.client.delete(f"/v1/sessions/{playback['session_id']}", headers=playback["headers"])
    assert ended.status_code == 204
    problem(post_license(api, url, "fairplay", viewer=playback["headers"]), 410, "session_expired")
    assert len(upstream.received) == 1


def test_revoked_keys_are_withheld(api: ApiHarness, upstream: FakeLicenseUpstream) -> None:
    api.publish("proxy-revoked")
    playback = start(api, "proxy-revoked", "widevine", plan="basic")
    with Session(api.engine) as s:
        for row in s.exec(select(ContentKeyRow).where(ContentKeyRow.title_id == "proxy-revoked")):
            if row.track_class in ("AUDIO", "SD"):
                row.revoked = True
                s.add(row)
        s.commit()
    api.client.app.state.ctx.titles.invalidate()  # type: ignore[attr-defined]
    problem(
        post_license(api, playback["licenses"]["widevine"], "widevine", viewer=playback["headers"]),
        403,
        "key_withheld",
    )
    assert upstream.received == []


def test_challenge_size_limits(api: ApiHarness, upstream: FakeLicenseUpstream) -> None:
    api.publish("proxy-size")
    playback = start(api, "proxy-size", "widevine")
    url = playback["licenses"]["widevine"]
    response = post_license(
        api, url, "widevine", b"\0" * (MAX_CHALLENGE_BYTES + 1), viewer=playback["headers"]
    )
    problem(response, 413, "payload_too_large")

    def chunked() -> Iterator[bytes]:  # no Content-Length: cut off while streaming
        for _ in range(80):
            yield b"\1" * 1024

    problem(api.client.post(url, content=chunked()), 413, "payload_too_large")
    problem(
        post_license(api, url, "widevine", b"", viewer=playback["headers"]), 422, "validation_error"
    )
    assert upstream.received == []
    exactly = post_license(
        api, url, "widevine", b"\2" * MAX_CHALLENGE_BYTES, viewer=playback["headers"]
    )
    assert exactly.status_code == 200, exactly.text
    assert upstream.received[0].body == b"\2" * MAX_CHALLENGE_BYTES


def test_nothing_secret_is_logged(
    api: ApiHarness, upstream: FakeLicenseUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    published = api.publish("proxy-logs")
    playback = start(api, "proxy-logs", "widevine")
    caplog.set_level(logging.DEBUG)
    marker = b"CHALLENGE-MARKER-1234"
    assert (
        post_license(
            api, playback["licenses"]["widevine"], "widevine", marker, viewer=playback["headers"]
        ).status_code
        == 200
    )
    upstream.mode = "error"
    assert (
        post_license(
            api, playback["licenses"]["widevine"], "widevine", marker, viewer=playback["headers"]
        ).status_code
        == 502
    )
    entitlements = [r.headers["reelflow-entitlement"] for r in upstream.received]
    # Everything but the test client's own request lines (those carry the token by design).
    records = [
        r for r in caplog.records if not (r.name == "httpx" and "127.0.0.1:8000" in r.getMessage())
    ]
    logged = "".join(f"{r.getMessage()} {getattr(r, 'fields', '')!r}" for r in records)
    forbidden = [marker.decode(), playback["token"], SECRET.decode(), *entitlements]
    forbidden += [upstream.secret_for(drm).decode() for drm in SYSTEMS]
    forbidden += [k.key.hex() for k in published.keys.values()]
    assert not [s for s in forbidden if s in logged]
    assert any("license upstream failed" in r.getMessage() for r in caplog.records)


# ---- FairPlay certificate -------------------------------------------------------------------


def test_fairplay_certificate_is_served_from_its_file(open_api: OpenApi, tmp_path: Path) -> None:
    certificate = tmp_path / "fairplay.der"
    certificate.write_bytes(b"\x30\x82\x01\x0a fake application certificate")
    api = open_api(fairplay_certificate_path=certificate)
    response = api.client.get("/v1/license/fairplay/certificate")  # no token: public
    assert response.status_code == 200
    assert response.content == certificate.read_bytes()
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["cache-control"] == "public, max-age=86400"
    certificate.unlink()
    problem(api.client.get("/v1/license/fairplay/certificate"), 503, "license_unavailable")


def test_fairplay_certificate_unconfigured_is_503(open_api: OpenApi) -> None:
    api = open_api()
    problem(api.client.get("/v1/license/fairplay/certificate"), 503, "license_unavailable")


# ---- the stand-in's verification side (what a vendor must check) ----------------------------


def _session() -> PlaybackSession:
    return PlaybackSession(
        session_id="s" + "0" * 32,
        account="acct-unit",
        device_id="device-9",
        title_id="unit-title",
        version=3,
        version_dir="v3",
        plan="standard",
        country="US",
        max_height=1080,
        key_classes=("AUDIO", "HD", "SD"),
        drm=("widevine",),
        expires_at=int(time.time()) + 3600,
    )


KEYS = {
    "11" * 16: KeyEntry("11" * 16, "SD", bytes(range(16)), False),
    "22" * 16: KeyEntry("22" * 16, "HD", bytes(range(16, 32)), False),
}


def _resign(claims: dict[str, Any], secret: bytes = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_stand_in_accepts_a_genuine_entitlement() -> None:
    token = build_entitlement(_session(), KEYS, "widevine", SECRET)
    verified = verify_entitlement(token, SECRET, "widevine")
    assert {k.kid: k.key for k in verified.keys} == {kid: e.key for kid, e in KEYS.items()}
    assert verified.claims["policy"]["track_classes"] == {
        c.lower(): {
            "hdcp": TRACK_POLICY[c].hdcp,
            "security_level": TRACK_POLICY[c].security_level,
            "robustness": TRACK_POLICY[c].security_level,
        }
        for c in ("HD", "SD")
    }
    assert verified.claims["exp"] - verified.claims["iat"] == ENTITLEMENT_TTL_S


def _tampered(case: str) -> str:
    token = build_entitlement(_session(), KEYS, "widevine", SECRET)
    header, payload, signature = token.split(".")
    claims = _claims(token)
    keys = [dict(k) for k in claims["keys"]]
    if case == "payload":  # another account, original signature kept
        return f"{header}.{_resign({**claims, 'sub': 'acct-thief'}).split('.')[1]}.{signature}"
    if case == "signature":
        return f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    if case == "secret":
        return build_entitlement(_session(), KEYS, "widevine", b"s" * 40)
    if case == "expired":
        return _resign({**claims, "iat": claims["iat"] - 120, "exp": claims["iat"] - 60})
    if case == "lifetime":
        return _resign({**claims, "exp": claims["iat"] + 3600})
    if case == "alg-none":
        return jwt.encode(claims, "", algorithm="none")
    if case == "missing-claim":
        return _resign({k: v for k, v in claims.items() if k != "device_id"})
    if case == "moved-key":  # the SD key's wrapped bytes on the HD KID (KID is GCM AAD)
        keys[0]["key"], keys[1]["key"] = keys[1]["key"], keys[0]["key"]
    elif case == "flipped-key":
        wrapped = keys[0]["key"]
        keys[0]["key"] = wrapped[:-2] + ("AA" if wrapped[-2:] != "AA" else "BB")
    return _resign({**claims, "keys": keys})


@pytest.mark.parametrize(
    "case",
    ["payload", "signature", "secret", "expired", "lifetime", "alg-none", "missing-claim",
     "moved-key", "flipped-key"],
)  # fmt: skip
def test_stand_in_rejects_a_tampered_entitlement(case: str) -> None:
    with pytest.raises(EntitlementRejected):
        verify_entitlement(_tampered(case), SECRET, "widevine")


def test_stand_in_rejects_an_entitlement_for_another_system() -> None:
    token = build_entitlement(_session(), KEYS, "widevine", SECRET)
    with pytest.raises(EntitlementRejected, match="Audience"):
        verify_entitlement(token, SECRET, "playready")


def test_wrapped_keys_are_not_the_clear_keys() -> None:
    wrapping = key_wrap_key(SECRET)
    kid, key = bytes.fromhex("33" * 16), bytes(16)
    first, second = wrap_content_key(wrapping, kid, key), wrap_content_key(wrapping, kid, key)
    assert first != second  # fresh nonce each time
    token = build_entitlement(_session(), KEYS, "widevine", SECRET)
    for entry in KEYS.values():
        assert entry.key.hex() not in token and entry.key.hex() not in str(_claims(token))
