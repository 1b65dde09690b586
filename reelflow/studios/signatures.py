"""Studio request signatures: ``t=<unix>,v1=<hex>`` headers, one per direction.

``v1`` is the hex HMAC-SHA256 of ``f"{t}."`` followed by the exact body bytes.

- Inbound, ``Reelflow-Signature``: a studio signs its ingest requests under its webhook
  secret (checked by ``reelflow.playback_api.auth.webhook_auth``, which adds the clock
  tolerance and replay checks).
- Outbound, ``Reelflow-Callback-Signature``: reelflow signs the notifications it sends a
  studio (``reelflow.jobs.webhooks``) under a key derived from that same secret for this
  direction only, ``callback_signing_key`` = HKDF-SHA256(ikm=secret, salt=none,
  info=CALLBACK_KEY_INFO, 32 bytes). Another header and another key: a captured callback
  can never pass as a signed ingest request, or the other way round.

Several ``v1=`` entries may be given (any may match) so a sender can sign with its old and
new secret while a rotation rolls out; other schemes (``v0=``, a future ``v2=``) are
ignored so the format can grow without breaking receivers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "CALLBACK_KEY_INFO",
    "CALLBACK_SIGNATURE_HEADER",
    "SIGNATURE_HEADER",
    "MalformedSignature",
    "ParsedSignature",
    "callback_signing_key",
    "parse_signature",
    "sign_payload",
    "signature_mac",
]

SIGNATURE_HEADER = "Reelflow-Signature"
CALLBACK_SIGNATURE_HEADER = "Reelflow-Callback-Signature"
# HKDF label of the outbound key; part of the studio-facing contract (docs/api.md).
CALLBACK_KEY_INFO = b"reelflow studio callback signature v1"
# Bounds on what a receiver will look at, so a hostile header costs little to refuse.
MAX_HEADER_CHARS = 1024
MAX_SIGNATURES = 8
_HEX_MAC = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class MalformedSignature(ValueError):
    """The header is missing or does not have the ``t=<unix>,v1=<hex>`` shape."""


def signature_mac(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``v1`` value: hex HMAC-SHA256 of ``f"{timestamp}."`` + `body` under `secret`."""
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign_payload(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``Reelflow-Signature`` header value for `body` sent at `timestamp`."""
    return f"t={timestamp},v1={signature_mac(secret, body, timestamp)}"


def callback_signing_key(webhook_secret: bytes) -> bytes:
    """The key ``Reelflow-Callback-Signature`` is made with: derived from the studio's
    webhook secret for the outbound direction, so it never signs what the secret signs."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CALLBACK_KEY_INFO).derive(
        webhook_secret
    )


@dataclass(frozen=True, repr=False)
class ParsedSignature:
    timestamp: int
    signatures: tuple[str, ...]

    def __repr__(self) -> str:  # signatures stay out of logs and tracebacks
        return f"ParsedSignature(timestamp={self.timestamp}, signatures=<{len(self.signatures)}>)"

    def matches(self, secrets: Sequence[bytes], body: bytes) -> bool:
        """True when any candidate MAC signs `body` at this timestamp under any secret."""
        matched = False
        for secret in secrets:
            expected = signature_mac(secret, body, self.timestamp)
            for candidate in self.signatures:
                # Every pair is compared (no early exit) so timing does not tell which matched.
                matched |= hmac.compare_digest(expected, candidate)
        return matched


def parse_signature(header: str | None) -> ParsedSignature:
    """Split the header into its timestamp and candidate MACs (MalformedSignature if it
    is missing, too long, or not ``t=<unix>,v1=<64 hex>[,v1=...]``)."""
    if not header:
        raise MalformedSignature(f"a {SIGNATURE_HEADER} header is required")
    if len(header) > MAX_HEADER_CHARS:
        raise MalformedSignature(f"the {SIGNATURE_HEADER} header is too long")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise MalformedSignature(
                f"the {SIGNATURE_HEADER} header must look like t=<unix>,v1=<hex>"
            )
        if key == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(value):
                raise MalformedSignature("the signature needs exactly one t=<unix seconds>")
            timestamp = int(value)
        elif key == "v1":
            value = value.lower()
            if not _HEX_MAC.fullmatch(value):
                raise MalformedSignature("a v1 signature must be 64 hex characters (HMAC-SHA256)")
            candidates.append(value)
    if timestamp is None:
        raise MalformedSignature("the signature needs exactly one t=<unix seconds>")
    if not candidates:
        raise MalformedSignature("the signature has no v1=<hex> entry")
    if len(candidates) > MAX_SIGNATURES:
        raise MalformedSignature(f"at most {MAX_SIGNATURES} v1 signatures are accepted")
    return ParsedSignature(timestamp, tuple(candidates))
