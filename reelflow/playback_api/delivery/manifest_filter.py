"""Manifest filters: pure text/XML transforms of what Shaka Packager writes.

- ``filter_mpd``: drop video Representations larger than the entitled picture (in pixels,
  width x height: a 2.39:1 1280x536 rendition is HD, domain/track_classes.py), with any
  AdaptationSet (and so its ContentProtection) they leave empty; optionally add a BaseURL.
  A video Representation without a width and height is dropped too (failing closed).
- ``filter_hls_master``: drop EXT-X-STREAM-INF / EXT-X-I-FRAME-STREAM-INF variants larger
  than it (by RESOLUTION; a variant without one, such as audio only, stays).
- ``rewrite_hls_keys``: keep only the EXT-X-KEY lines for the client's key system and point
  their URI at the right place (FairPlay ``skd://``, ClearKey identity key URL).
- ``rebase_hls_uris``: make relative URIs in a playlist absolute under a base (a media
  playlist served by the API needs its segments under the signed media prefix).
- ``point_media_playlists``: send a master's media playlist URIs to ``<prefix><name>?<query>``
  (the API serves them itself, since each client needs its own key lines).

Every HLS attribute and URI rewrite of the serve path lives here, on the two regexes below,
so the rules for what an HLS attribute or URI looks like exist once.

Known limit: Shaka's CommonSystem and Widevine PSSH boxes list every KID of the package in
every AdaptationSet (and in init segments), so a filtered manifest still names withheld KIDs.
KIDs are not secrets; the license endpoints must withhold the keys themselves.
"""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from io import StringIO
from typing import Literal
from urllib.parse import urljoin

from reelflow.domain.track_classes import pixels_text

DrmSystem = Literal["fairplay", "clearkey", "widevine", "playready"]

MPD_NS = "urn:mpeg:dash:schema:mpd:2011"
_M = f"{{{MPD_NS}}}"
_SWITCHING_SCHEME = "urn:mpeg:dash:adaptation-set-switching:2016"

KEYFORMATS: dict[str, str] = {
    "fairplay": "com.apple.streamingkeydelivery",
    "clearkey": "identity",
    "widevine": "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",
    "playready": "com.microsoft.playready",
}
# Only these get a new URI; Widevine/PlayReady URIs carry the PSSH data the CDM needs.
_REWRITTEN_URI = frozenset({"fairplay", "clearkey"})


class ManifestError(ValueError):
    """The manifest cannot be parsed or filtered."""


class NoPlayableVideo(ManifestError):
    """Every video rendition is above the entitled size (callers map it to plan_insufficient)."""


# ---- DASH ------------------------------------------------------------------------------------

# ElementTree's prefix map is process-global; registration is idempotent but not atomic.
_NS_LOCK = threading.Lock()


def _register_namespaces(mpd_xml: str) -> None:
    # Keep the document's own prefixes (cenc:, mspr:, ...) on output; the MPD namespace is
    # the default one. (tostring's default_namespace= cannot be used: it rejects unqualified
    # attribute names, i.e. every MPD attribute.)
    with _NS_LOCK:
        ET.register_namespace("", MPD_NS)
        for _event, (prefix, uri) in ET.iterparse(StringIO(mpd_xml), events=("start-ns",)):
            if prefix and uri != MPD_NS and not re.fullmatch(r"ns\d+", prefix):
                ET.register_namespace(prefix, uri)


def _int_attr(el: ET.Element, name: str) -> int | None:
    value = el.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ManifestError(f"{el.tag} has a non-integer {name}={value!r}")


def _is_video(adaptation: ET.Element, rep: ET.Element) -> bool:
    content = adaptation.get("contentType", "")
    mime = rep.get("mimeType") or adaptation.get("mimeType") or ""
    return content == "video" or mime.startswith("video/")


def _too_large(adaptation: ET.Element, rep: ET.Element, max_pixels: int) -> bool:
    width = _int_attr(rep, "width") or _int_attr(adaptation, "width")
    height = _int_attr(rep, "height") or _int_attr(adaptation, "height")
    if not width or not height or width < 0 or height < 0:
        return True  # a picture of unknown size could be any class
    return width * height > max_pixels


def _filter_adaptation(adaptation: ET.Element, max_pixels: int) -> tuple[int, int]:
    """Drop Representations larger than ``max_pixels``; return (video kept, video dropped)."""
    kept = dropped = 0
    for rep in adaptation.findall(f"{_M}Representation"):
        if not _is_video(adaptation, rep):
            continue
        if _too_large(adaptation, rep, max_pixels):
            adaptation.remove(rep)
            dropped += 1
        else:
            kept += 1
    if dropped and kept and adaptation.get("maxHeight") is not None:
        reps = adaptation.findall(f"{_M}Representation")
        heights = [h for r in reps if (h := _int_attr(r, "height")) is not None]
        widths = [w for r in reps if (w := _int_attr(r, "width")) is not None]
        if heights:
            adaptation.set("maxHeight", str(max(heights)))
        if widths and adaptation.get("maxWidth") is not None:
            adaptation.set("maxWidth", str(max(widths)))
    return kept, dropped


def _prune_switching(period: ET.Element) -> None:
    remaining = {a.get("id") for a in period.findall(f"{_M}AdaptationSet")}
    for adaptation in period.findall(f"{_M}AdaptationSet"):
        for prop in adaptation.findall(f"{_M}SupplementalProperty"):
            if prop.get("schemeIdUri") != _SWITCHING_SCHEME:
                continue
            ids = [i for i in (prop.get("value") or "").split(",") if i.strip() in remaining]
            if ids:
                prop.set("value", ",".join(ids))
            else:
                adaptation.remove(prop)


def _insert_base_url(root: ET.Element, base_url: str) -> None:
    for old in root.findall(f"{_M}BaseURL"):
        root.remove(old)
    # Schema order: ProgramInformation* then BaseURL*.
    index = sum(1 for child in root if child.tag == f"{_M}ProgramInformation")
    element = ET.Element(f"{_M}BaseURL")
    element.text = base_url
    element.tail = root.text  # same indentation as the Period that follows
    root.insert(index, element)


def filter_mpd(mpd_xml: str, *, max_pixels: int, base_url: str | None = None) -> str:
    """The MPD without video larger than ``max_pixels`` (width x height); raises
    NoPlayableVideo if none is left."""
    try:
        _register_namespaces(mpd_xml)
        root = ET.fromstring(mpd_xml)
    except ET.ParseError as exc:
        raise ManifestError(f"MPD is not well-formed XML: {exc}") from exc
    if root.tag != f"{_M}MPD":
        raise ManifestError(f"not a DASH MPD (root element {root.tag})")
    total_kept = total_dropped = 0
    for period in root.findall(f"{_M}Period"):
        for adaptation in period.findall(f"{_M}AdaptationSet"):
            kept, dropped = _filter_adaptation(adaptation, max_pixels)
            total_kept += kept
            total_dropped += dropped
            if not adaptation.findall(f"{_M}Representation"):
                period.remove(adaptation)  # its ContentProtection goes with it
        _prune_switching(period)
    if total_dropped and not total_kept:
        raise NoPlayableVideo(f"no video rendition of at most {pixels_text(max_pixels)}")
    if base_url is not None:
        _insert_base_url(root, base_url)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


# ---- HLS -------------------------------------------------------------------------------------

_ATTR_RE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^",]*)')
_RESOLUTION_RE = re.compile(r"^(\d+)x(\d+)$")
_URI_ATTR_RE = re.compile(r'URI="([^"]*)"')


def parse_attributes(line: str) -> dict[str, str]:
    """HLS attribute list of a tag line, quotes removed."""
    _, _, attrs = line.partition(":")
    return {k: v.strip('"') for k, v in _ATTR_RE.findall(attrs)}


def _variant_pixels(line: str) -> int | None:
    resolution = parse_attributes(line).get("RESOLUTION")
    if resolution is None:
        return None
    match = _RESOLUTION_RE.match(resolution)
    if not match:
        raise ManifestError(f"bad RESOLUTION {resolution!r}")
    return int(match.group(1)) * int(match.group(2))


def _check_playlist(text: str) -> list[str]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "#EXTM3U":
        raise ManifestError("not an HLS playlist (missing #EXTM3U)")
    return lines


def filter_hls_master(text: str, *, max_pixels: int) -> str:
    """The master playlist without variants larger than ``max_pixels`` (width x height)."""
    lines = _check_playlist(text)
    out: list[str] = []
    kept = dropped = 0
    skip_uri = False
    for line in lines:
        if skip_uri:
            if line and not line.startswith("#"):
                skip_uri = False
            continue  # drop the URI line (and anything between tag and URI)
        if line.startswith(("#EXT-X-STREAM-INF:", "#EXT-X-I-FRAME-STREAM-INF:")):
            pixels = _variant_pixels(line)
            if pixels is not None and pixels > max_pixels:
                dropped += 1
                skip_uri = line.startswith("#EXT-X-STREAM-INF:")
                continue
            if line.startswith("#EXT-X-STREAM-INF:"):
                kept += 1
        out.append(line)
    if dropped and not kept:
        raise NoPlayableVideo(f"no HLS variant of at most {pixels_text(max_pixels)}")
    return "\n".join(out) + "\n"


def _normalise_kid(kid: str) -> str:
    hexkid = kid.lower().removeprefix("0x").replace("-", "")
    if not re.fullmatch(r"[0-9a-f]{32}", hexkid):
        raise ManifestError(f"bad key id {kid!r}")
    return hexkid


def _set_uri(line: str, uri: str) -> str:
    if '"' in uri or "\n" in uri:
        raise ManifestError("key URI must not contain quotes or newlines")
    if _URI_ATTR_RE.search(line):
        return _URI_ATTR_RE.sub(lambda _m: f'URI="{uri}"', line, count=1)
    return f'{line},URI="{uri}"'


def _rewrite_key_group(
    group: list[str],
    drm: DrmSystem,
    key_uri_for_kid: Callable[[str], str] | None,
    kid: str | None,
) -> list[str]:
    attrs = [parse_attributes(line) for line in group]
    if all(a.get("METHOD") == "NONE" for a in attrs):
        return group
    wanted = KEYFORMATS[drm]
    chosen = [
        line
        for line, a in zip(group, attrs, strict=True)
        if a.get("KEYFORMAT", "identity") == wanted
    ]
    if not chosen:
        raise ManifestError(f"playlist has no EXT-X-KEY for {drm} (KEYFORMAT={wanted})")
    if drm not in _REWRITTEN_URI:
        return chosen
    if key_uri_for_kid is None:
        raise ManifestError(f"{drm} needs key_uri_for_kid")
    found = next((a["KEYID"] for a in attrs if "KEYID" in a), None) or kid
    if found is None:
        raise ManifestError("no KEYID in the key group and no kid given")
    hexkid = _normalise_kid(found)
    return [_set_uri(line, key_uri_for_kid(hexkid)) for line in chosen]


def rewrite_hls_keys(
    media_playlist: str,
    *,
    drm: DrmSystem,
    key_uri_for_kid: Callable[[str], str] | None = None,
    kid: str | None = None,
) -> str:
    """Keep only ``drm``'s EXT-X-KEY lines and set their URI.

    ``key_uri_for_kid`` gets the KID as 32 lowercase hex digits (taken from the group's
    KEYID attribute, which Shaka writes on the Widevine line, else from ``kid``) and returns
    the URI: ``skd://<kid>`` for FairPlay, a key URL carrying the session token for ClearKey.
    Widevine and PlayReady lines keep their data: URI (it holds the PSSH).
    """
    if drm not in KEYFORMATS:
        raise ManifestError(f"unknown DRM system {drm!r}")
    lines = _check_playlist(media_playlist)
    out: list[str] = []
    group: list[str] = []
    for line in lines:
        if line.startswith("#EXT-X-KEY:"):
            group.append(line)
            continue
        if group:
            out.extend(_rewrite_key_group(group, drm, key_uri_for_kid, kid))
            group = []
        out.append(line)
    if group:
        out.extend(_rewrite_key_group(group, drm, key_uri_for_kid, kid))
    return "\n".join(out) + "\n"


def point_media_playlists(master: str, prefix: str, query: str) -> str:
    """The master with each media playlist URI (URI lines, EXT-X-MEDIA and
    EXT-X-I-FRAME-STREAM-INF URI attributes) replaced by ``<prefix><uri>?<query>``."""
    out: list[str] = []
    for line in master.splitlines():
        if line and not line.startswith("#"):
            out.append(f"{prefix}{line.strip()}?{query}")
        elif line.startswith(("#EXT-X-MEDIA:", "#EXT-X-I-FRAME-STREAM-INF:")):
            out.append(_URI_ATTR_RE.sub(lambda m: f'URI="{prefix}{m.group(1)}?{query}"', line))
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def rebase_hls_uris(playlist: str, base_url: str) -> str:
    """Resolve relative URIs (URI lines, EXT-X-MAP/MEDIA/I-FRAME URI attributes) on base_url.

    EXT-X-KEY URIs are left alone: they are rewritten by ``rewrite_hls_keys``.
    """
    lines = _check_playlist(playlist)
    out: list[str] = []
    for line in lines:
        if line and not line.startswith("#"):
            out.append(urljoin(base_url, line.strip()))
        elif line.startswith(("#EXT-X-MAP:", "#EXT-X-MEDIA:", "#EXT-X-I-FRAME-STREAM-INF:")):
            out.append(_URI_ATTR_RE.sub(lambda m: f'URI="{urljoin(base_url, m.group(1))}"', line))
        else:
            out.append(line)
    return "\n".join(out) + "\n"
