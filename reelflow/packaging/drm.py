"""DRM system identifiers, PSSH boxes, and readers for the signalling in MPDs and HLS playlists.

HLS key URIs: every packaged ``EXT-X-KEY`` carries ``skd://<kid hex>`` (see packager.py);
the playback API picks the lines each client needs at serve time
(``reelflow.playback_api.delivery.manifest_filter.rewrite_hls_keys``).
"""

from __future__ import annotations

import base64
import struct
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import m3u8


@dataclass(frozen=True)
class DrmSystem:
    name: str
    system_id: str  # UUID, lower case
    hls_keyformat: str | None


WIDEVINE = DrmSystem(
    "widevine",
    "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",
    "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",
)
PLAYREADY = DrmSystem(
    "playready", "9a04f079-9840-4286-ab92-e65be0885f95", "com.microsoft.playready"
)
FAIRPLAY = DrmSystem(
    "fairplay", "94ce86fb-07ff-4f43-adb8-93d2fa968ca2", "com.apple.streamingkeydelivery"
)
# The W3C common PSSH system: what ClearKey EME reads from a DASH manifest.
CLEARKEY = DrmSystem("clearkey", "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b", None)
ALL_SYSTEMS: tuple[DrmSystem, ...] = (WIDEVINE, PLAYREADY, FAIRPLAY, CLEARKEY)
SYSTEMS_BY_ID: dict[str, DrmSystem] = {s.system_id: s for s in ALL_SYSTEMS}

HLS_IDENTITY_KEYFORMAT = "identity"
PACKAGER_PROTECTION_SYSTEMS = "Widevine,PlayReady,FairPlay,CommonSystem"
# The packager writes this key URI; packager.py replaces it by skd://<kid hex> per playlist.
HLS_KEY_URI_PLACEHOLDER = "skd://reelflow-kid"

_NS = {"mpd": "urn:mpeg:dash:schema:mpd:2011", "cenc": "urn:mpeg:cenc:2013"}


# ---- PSSH boxes -----------------------------------------------------------------------
def pssh_box(
    system_id: str, *, kids: Iterable[bytes] = (), data: bytes = b"", version: int = 0
) -> bytes:
    """An ISO/IEC 23001-7 ``pssh`` box (version 1 lists the KIDs in the box header)."""
    kid_list = list(kids)
    body = struct.pack(">I", version << 24) + uuid.UUID(system_id).bytes
    if version == 1:
        body += struct.pack(">I", len(kid_list)) + b"".join(kid_list)
    body += struct.pack(">I", len(data)) + data
    return struct.pack(">I", 8 + len(body)) + b"pssh" + body


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def widevine_pssh(kids: Iterable[bytes], *, protection_scheme: str = "cbcs") -> bytes:
    """Widevine PSSH as Shaka Packager writes it: WidevinePsshData{key_id*, protection_scheme}."""
    data = b"".join(b"\x12\x10" + k for k in kids)
    data += b"\x48" + _varint(int.from_bytes(protection_scheme.encode(), "big"))
    return pssh_box(WIDEVINE.system_id, data=data)


def common_pssh(kids: Iterable[bytes]) -> bytes:
    """W3C common-system PSSH (ClearKey): a version-1 box listing the KIDs, no data."""
    return pssh_box(CLEARKEY.system_id, kids=kids, version=1)


def playready_header(kids: Iterable[bytes], *, algid: str = "AESCBC") -> bytes:
    """PlayReady Object (PRO) with a WRMHEADER 4.3 naming the KIDs (GUID byte order)."""
    # PlayReady writes KIDs as little-endian GUIDs, base64 encoded.
    values = [base64.b64encode(uuid.UUID(bytes=k).bytes_le).decode() for k in kids]
    kid_xml = "".join(f'<KID ALGID="{algid}" VALUE="{v}"></KID>' for v in values)
    xml = (
        '<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" '
        f'version="4.3.0.0"><DATA><PROTECTINFO><KIDS>{kid_xml}</KIDS></PROTECTINFO></DATA>'
        "</WRMHEADER>"
    ).encode("utf-16-le")
    record = struct.pack("<HH", 1, len(xml)) + xml
    return struct.pack("<IH", 4 + 2 + len(record), 1) + record


def playready_pssh(kids: Iterable[bytes]) -> bytes:
    return pssh_box(PLAYREADY.system_id, data=playready_header(kids))


def pssh_for(system: DrmSystem, kids: Iterable[bytes]) -> bytes | None:
    """The PSSH box for a system, or None where the system has none (FairPlay)."""
    kid_list = list(kids)
    if system is WIDEVINE:
        return widevine_pssh(kid_list)
    if system is PLAYREADY:
        return playready_pssh(kid_list)
    if system is CLEARKEY:
        return common_pssh(kid_list)
    return None


# ---- DASH -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ContentProtection:
    adaptation_set: str  # AdaptationSet id
    content_type: str
    scheme_id_uri: str
    value: str | None
    default_kid: str | None  # hex, no dashes
    pssh: bytes | None

    @property
    def system(self) -> DrmSystem | None:
        uri = self.scheme_id_uri.lower()
        return (
            SYSTEMS_BY_ID.get(uri.removeprefix("urn:uuid:"))
            if uri.startswith("urn:uuid:")
            else None
        )


def mpd_content_protection(mpd: str | bytes | Path) -> list[ContentProtection]:
    """Every ContentProtection element of an MPD (file path or XML text)."""
    text = mpd.read_bytes() if isinstance(mpd, Path) else mpd
    root = ET.fromstring(text)
    out: list[ContentProtection] = []
    for aset in root.iter(f"{{{_NS['mpd']}}}AdaptationSet"):
        for cp in aset.iter(f"{{{_NS['mpd']}}}ContentProtection"):
            pssh_el = cp.find("cenc:pssh", _NS)
            kid = cp.get(f"{{{_NS['cenc']}}}default_KID")
            out.append(
                ContentProtection(
                    adaptation_set=aset.get("id", ""),
                    content_type=aset.get("contentType", ""),
                    scheme_id_uri=cp.get("schemeIdUri", ""),
                    value=cp.get("value"),
                    default_kid=kid.replace("-", "").lower() if kid else None,
                    pssh=base64.b64decode(pssh_el.text)
                    if pssh_el is not None and pssh_el.text
                    else None,
                )
            )
    return out


def mpd_drm_systems(mpd: str | bytes | Path) -> set[str]:
    """Names of the DRM systems (widevine, playready, clearkey) an MPD signals."""
    return {cp.system.name for cp in mpd_content_protection(mpd) if cp.system is not None}


# ---- HLS ------------------------------------------------------------------------------
@dataclass(frozen=True)
class HlsKey:
    method: str
    uri: str | None
    keyformat: str  # "identity" when absent, as RFC 8216 says
    keyid: str | None  # hex, from KEYID=0x...
    iv: str | None


def parse_hls_keys(playlist: str) -> list[HlsKey]:
    """The EXT-X-KEY lines of a media playlist."""
    keys: list[HlsKey] = []
    # m3u8.parse, not the Playlist model: the model's Key drops KEYID. Unencrypted
    # segments show up as None entries.
    for attrs in m3u8.parse(playlist)["keys"]:
        if attrs is None:
            continue
        keyid = attrs.get("keyid")
        keys.append(
            HlsKey(
                method=attrs.get("method", ""),
                uri=attrs.get("uri"),
                keyformat=attrs.get("keyformat", HLS_IDENTITY_KEYFORMAT),
                keyid=keyid[2:].lower() if keyid and keyid.lower().startswith("0x") else keyid,
                iv=attrs.get("iv"),
            )
        )
    return keys


def hls_key_formats(playlist: str) -> set[str]:
    return {k.keyformat for k in parse_hls_keys(playlist)}
