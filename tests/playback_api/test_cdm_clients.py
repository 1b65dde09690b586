"""Distinct DRM clients per session, counted at the license proxy (issue 25).

Before issue 25 one session's token and the viewer's credential, handed round, got licenses
for every CDM that asked. Now the proxy counts the clients behind a session's challenges and
refuses one past ``license_cdms_per_session`` (2 by default). The upstream is the repo's
stand-in for a commercial license service (tests/fixtures/fake_license_upstream.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from reelflow.config import Settings
from reelflow.playback_api.delivery.cdm_clients import client_id, widevine_client
from tests.playback_api.test_security_leases import (
    Stack,
    problem,
    stack,  # noqa: F401  (the fixture)
    viewer,
)


def _field(number: int, value: bytes) -> bytes:
    assert len(value) < 128  # one-byte length: enough for these messages
    return bytes([number << 3 | 2, len(value)]) + value


def widevine_challenge(device_certificate: bytes, nonce: bytes = b"n1") -> bytes:
    """A Widevine SignedMessage(LICENSE_REQUEST) whose client id is in the clear."""
    client = _field(2, device_certificate)  # ClientIdentification.token
    request = _field(1, client) + _field(2, b"pssh-" + nonce)  # LicenseRequest
    return b"\x08\x01" + _field(2, request) + _field(3, b"signature-" + nonce)


def privacy_mode_challenge(nonce: bytes) -> bytes:
    """The client id encrypted to the license service (field 8): nothing stable to read."""
    encrypted = _field(1, b"provider") + _field(3, b"ciphertext-" + nonce)
    return b"\x08\x01" + _field(2, _field(8, encrypted)) + _field(3, b"signature")


def test_the_widevine_client_id_is_the_device_certificate_whatever_else_changes() -> None:
    one = widevine_challenge(b"device-A", b"n1")
    again = widevine_challenge(b"device-A", b"n2")  # another request of the same CDM
    other = widevine_challenge(b"device-B", b"n1")
    assert widevine_client(one) == b"device-A"
    assert client_id("widevine", one, "ua") == client_id("widevine", again, "other ua")
    assert client_id("widevine", one, "ua") != client_id("widevine", other, "ua")


def test_unreadable_challenges_fall_back_to_the_user_agent() -> None:
    for challenge in (privacy_mode_challenge(b"1"), b"widevine-challenge", b"\xff" * 40):
        assert widevine_client(challenge) is None
        assert client_id("widevine", challenge, "Chrome 1") == client_id(
            "widevine", privacy_mode_challenge(b"2"), "Chrome 1"
        )
    assert client_id("playready", b"<soap/>", "Edge") != client_id("playready", b"<x/>", "Chrome")
    assert client_id("playready", b"<soap/>", "Edge") != client_id("fairplay", b"spc", "Edge")
    # A service-certificate request identifies no client: not counted.
    assert client_id("widevine", b"\x08\x04", "Chrome 1") is None


def _widevine(on: Stack, session: dict[str, Any], headers: dict[str, str], body: bytes,
              user_agent: str = "player/1") -> Any:  # fmt: skip
    return on.api.client.post(
        f"/v1/license/widevine?token={session['token']}",
        content=body,
        headers={"Content-Type": "application/octet-stream", "User-Agent": user_agent, **headers},
    )


def test_a_sessions_licenses_go_to_two_cdms_at_most(stack: Stack) -> None:  # noqa: F811
    headers = viewer(stack, "acct-crowd")
    session = stack.started(headers, "phone")
    for device in (b"cdm-own", b"cdm-after-reset", b"cdm-own"):
        assert _widevine(stack, session, headers, widevine_challenge(device)).status_code == 200
    relayed = len(stack.upstream.received)
    # A third CDM with the same token and credential: refused before the license service.
    body = problem(
        _widevine(stack, session, headers, widevine_challenge(b"cdm-of-a-friend")),
        403,
        "too_many_cdms",
    )
    assert body["max_clients"] == 2
    assert len(stack.upstream.received) == relayed
    # The two it has seen go on renewing; a certificate request is relayed, not counted.
    assert _widevine(stack, session, headers, widevine_challenge(b"cdm-own")).status_code == 200
    assert _widevine(stack, session, headers, b"\x08\x04").status_code == 200
    # The friend starts a session of their own on their device: counted afresh.
    friend = viewer(stack, "acct-friend")
    own = stack.started(friend, "laptop")
    assert _widevine(stack, own, friend, widevine_challenge(b"cdm-of-a-friend")).status_code == 200

    # Clients the proxy cannot read (privacy mode) are told apart by their User-Agent.
    private = stack.started(viewer(stack, "acct-private"), "tv")
    owner = viewer(stack, "acct-private")
    for n, agent in enumerate(("Chrome/130", "Firefox/131", "Chrome/130")):
        challenge = privacy_mode_challenge(str(n).encode())
        assert _widevine(stack, private, owner, challenge, agent).status_code == 200
    refused = _widevine(stack, private, owner, privacy_mode_challenge(b"9"), "Safari/18")
    problem(refused, 403, "too_many_cdms")


def test_the_limit_is_a_setting() -> None:
    assert Settings().license_cdms_per_session == 2
    assert Settings(license_cdms_per_session=1).license_cdms_per_session == 1
    with pytest.raises(ValueError):
        Settings(license_cdms_per_session=0)
