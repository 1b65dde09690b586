"""The Reelflow-Signature format: what reelflow signs is what its parser accepts."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from reelflow.studios.signatures import (
    CALLBACK_SIGNATURE_HEADER,
    MAX_HEADER_CHARS,
    MAX_SIGNATURES,
    SIGNATURE_HEADER,
    MalformedSignature,
    callback_signing_key,
    parse_signature,
    sign_payload,
    signature_mac,
)

SECRET = b"studio-shared-secret"
BODY = b'{"event":"published"}'
T = 1_700_000_000


def test_signature_round_trip_and_rejections() -> None:
    header = sign_payload(SECRET, BODY, T)
    assert header == f"t={T},v1={signature_mac(SECRET, BODY, T)}"
    parsed = parse_signature(header)
    assert parsed.timestamp == T
    assert parsed.matches([SECRET], BODY)
    assert not parsed.matches([SECRET], BODY + b" ")
    assert not parsed.matches([b"other-secret"], BODY)
    assert not parsed.matches([], BODY)
    # The timestamp is part of what is signed: moving it breaks the MAC.
    assert not parse_signature(header.replace(f"t={T}", f"t={T + 1}")).matches([SECRET], BODY)
    # Rotation: a header carrying an old and a new signature verifies under either secret.
    rotated = header + ",v1=" + signature_mac(b"new", BODY, T)
    assert parse_signature(rotated).matches([b"new"], BODY)
    assert parse_signature(rotated).matches([SECRET], BODY)
    assert parse_signature(rotated).matches([b"unrelated", b"new"], BODY)


def test_parser_normalises_and_ignores_other_schemes() -> None:
    parsed = parse_signature(f"t=1,v1={'A' * 64},v9=zz")
    assert parsed.timestamp == 1 and parsed.signatures == ("a" * 64,)
    assert "a" * 64 not in repr(parsed)
    spaced = parse_signature(f" t=2 , v0=abc, v1={'1' * 64} ")
    assert spaced.timestamp == 2 and spaced.signatures == ("1" * 64,)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        "t=1",
        "v1=" + "0" * 64,
        f"t=abc,v1={'0' * 64}",
        f"t=-1,v1={'0' * 64}",
        f"t=1,t=1,v1={'0' * 64}",
        "t=1,v1=xyz",
        "t=1," + ",".join(f"v1={'0' * 64}" for _ in range(MAX_SIGNATURES + 1)),
        f"t=1,v1={'0' * 64}," + "x" * MAX_HEADER_CHARS,
    ],
)
def test_malformed_headers_are_refused(header: str | None) -> None:
    with pytest.raises(MalformedSignature):
        parse_signature(header)
    assert issubclass(MalformedSignature, ValueError)


def _documented_callback_key(secret: str) -> bytes:
    """The recipe docs/api.md gives studios (stdlib HKDF-SHA256), copied verbatim."""
    prk = hmac.new(b"\0" * 32, secret.encode(), hashlib.sha256).digest()
    return hmac.new(prk, b"reelflow studio callback signature v1\x01", hashlib.sha256).digest()


def test_callbacks_use_a_derived_key_studios_can_compute() -> None:
    secret = "whsec_example"
    key = callback_signing_key(secret.encode())
    assert key == _documented_callback_key(secret) and len(key) == 32
    assert key != secret.encode() and CALLBACK_SIGNATURE_HEADER != SIGNATURE_HEADER
    # What reelflow sends out does not verify as an inbound signature, and vice versa.
    outbound = parse_signature(sign_payload(key, BODY, T))
    assert outbound.matches([key], BODY)
    assert not outbound.matches([secret.encode()], BODY)
    inbound = parse_signature(sign_payload(secret.encode(), BODY, T))
    assert not inbound.matches([key], BODY)
