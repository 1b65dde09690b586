"""Distinct DRM clients (CDMs) per playback session, counted at the license proxy.

A session's links and token can be handed round; its viewer's credential is needed for a
license too (license_auth.py), but a viewer sharing on purpose hands that round as well.
What a crowd cannot share is one CDM: each player's CDM identifies itself in its challenge.
So the proxy counts, per session and DRM system, the distinct clients whose challenges its
licenses answer, and refuses (403 ``too_many_cdms``) a client past
``license_cdms_per_session``. Redis: ``<p>cdm:<session id>:<system>``, a set of client ids.

What identifies a client, as far as the proxy can see without vendor code:

* Widevine: the challenge is a public protobuf (``SignedMessage`` type 1 whose ``msg`` is a
  ``LicenseRequest``); field 1 of that is the ``ClientIdentification`` in the clear, whose
  field 2 (``token``) is the device's DRM certificate: stable per CDM installation. Its
  SHA-256 is the client id.
* Widevine in privacy mode (a service certificate set: field 8, the client id encrypted to
  the license service), PlayReady (the client certificate sits inside the challenge's
  encrypted data) and FairPlay (the SPC is encrypted to the provider's key): the proxy sees
  no client id. It falls back to a digest of the system and the request's User-Agent: that
  tells different browsers and builds apart, not two copies of the same one. The license
  service, which decrypts the client id, is where an exact device limit for those belongs.

A challenge that is no license request (a Widevine service-certificate request) identifies
no client and is not counted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from reelflow.playback_api.delivery.sessions import SessionStore
from reelflow.playback_api.http.problems import Problem

_LICENSE_REQUEST = 1  # widevine SignedMessage.MessageType LICENSE_REQUEST
_MAX_USER_AGENT = 512
# A client seen before in this session is admitted; a new one only while there is room.
# The set lives as long as a session can (a day at most: renewed by every request).
_ADMIT = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return 1
end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""
_SET_TTL_S = 24 * 3600


class _Malformed(ValueError):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _Malformed("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: varints as int, length-delimited as bytes,
    fixed-width fields skipped. Protobuf's public wire format, no vendor schema."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, value
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise _Malformed("truncated field")
            yield number, buf[pos : pos + size]
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise _Malformed(f"wire type {wire}")
    if pos != len(buf):
        raise _Malformed("truncated fixed field")


def _field(buf: bytes, number: int) -> int | bytes | None:
    return next((value for n, value in _fields(buf) if n == number), None)


def _signed_message(challenge: bytes) -> tuple[int | bytes | None, int | bytes | None]:
    """(type, msg) of a Widevine ``SignedMessage``; (None, None) when it is none."""
    try:
        return _field(challenge, 1), _field(challenge, 2)
    except _Malformed:
        return None, None


def widevine_client(challenge: bytes) -> bytes | None:
    """The clear ``ClientIdentification.token`` (or, lacking one, the whole client id) of a
    Widevine license request; None when it is not readable (privacy mode, not protobuf)."""
    kind, msg = _signed_message(challenge)
    if kind not in (None, _LICENSE_REQUEST) or not isinstance(msg, bytes):
        return None
    try:
        client = _field(msg, 1)
        token = _field(client, 2) if isinstance(client, bytes) else None
    except _Malformed:
        return None
    if isinstance(token, bytes) and token:
        return token
    return client if isinstance(client, bytes) and client else None


def client_id(drm: str, challenge: bytes, user_agent: str) -> str | None:
    """A stable hex id of the CDM behind ``challenge`` (module docstring); None for a
    challenge that identifies no client (a Widevine service-certificate request)."""
    if drm == "widevine":
        kind, _ = _signed_message(challenge)
        if kind is not None and kind != _LICENSE_REQUEST:
            return None
        token = widevine_client(challenge)
        if token is not None:
            return hashlib.sha256(b"widevine client\x00" + token).hexdigest()
    seen = f"{drm}\x00{user_agent[:_MAX_USER_AGENT]}".encode("utf-8", "replace")
    return hashlib.sha256(b"user agent\x00" + seen).hexdigest()


async def admit_client(
    sessions: SessionStore, session_id: str, drm: str, client: str | None, limit: int
) -> None:
    """Count ``client`` for the session and DRM system (a device brings one CDM per system);
    too_many_cdms (403) past ``limit`` distinct ones."""
    if client is None:
        return
    script = sessions.redis.register_script(_ADMIT)
    key = f"{sessions.prefix}cdm:{session_id}:{drm}"
    if int(await script(keys=[key], args=[client, limit, _SET_TTL_S])) != 1:
        raise Problem(
            "too_many_cdms",
            f"this playback session's licenses already went to {limit} DRM client(s); "
            "start playback on this device",
            max_clients=limit,
        )
