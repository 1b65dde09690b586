"""The object-store layout: every key reelflow writes, built from typed ids, and parsed back.

This is the one module that knows where things live. Everything else asks it for a key (or
a prefix) and hands keys around as opaque strings. Titles are checked with the one title-id
rule (``reelflow.domain.ids``); versions travel as ints and appear as ``v<N>`` labels.

```
masters/<title>/<sha256>                                 the delivered master
qc/<title>/<sha16>-<params>.json                         QC report
ladders/<title>/<sha16>-<params>.json                    the ladder
ladders/<title>/<sha16>-<params>-chunks-<plan>.json      its chunk plan (long titles)
renditions/<title>/<sha16>-<params>/<rung>.mp4           a joined video rendition
renditions/<title>/<sha16>-<params>/chunks/<00000>/<rung>.mp4   one encoded chunk
renditions/<title>/<sha16>-<params>/audio/<track file>   audio tracks (+ tracks.json)
subtitles/<title>/<sha16 of the file>/<language>.vtt     WebVTT subtitles
images/<title>/<sha16>/{sprites,art}/<file>              thumbnails, sprites, artwork
images/<title>/<sha16>/result.json                       ... and their done marker
packages/<title>/v<N>/<params>/<package files>           a package (+ package.json)
origin/<title>/v<N>/<package files>                      what players are served
origin/<title>/v<N>/art/<file>                           published posters and backdrops
uploads/<studio>/<upload id>/<file name>                 studio presigned uploads
events/type=<t>/date=<YYYY-MM-DD>/hour=<HH>/<file>       viewer events (Hive-partitioned)
events-aggregates/<name>/date=<YYYY-MM-DD>/hour=<HH>/cells.parquet   what is kept of them
                                                         past retention (e.g. qoe_hourly)
models/<name>/v<N>/<file> (and serving.json)            recommendation model versions
```

Masters and everything derived from them are keyed by content hash (``<sha16>`` is the
first 16 hex digits of the master's SHA-256) and a hash of the parameters, so a retried
activity finds its own output; packages and origin are keyed by version. These strings are
the contract with existing stores: they never change shape.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Literal

from reelflow.domain.artwork import candidate_file_name
from reelflow.domain.ids import SLUG_RE, check_title_id, parse_version_label, version_label
from reelflow.storage.keys import InvalidObjectKey, validate_key

MASTERS = "masters"
QC = "qc"
LADDERS = "ladders"
RENDITIONS = "renditions"
SUBTITLES = "subtitles"
IMAGES = "images"
PACKAGES = "packages"
ORIGIN = "origin"
UPLOADS = "uploads"
EVENTS = "events"
EVENT_AGGREGATES = "events-aggregates"
MODELS = "models"

CONTENT_HASH_LENGTH = 16  # hex digits of a SHA-256 in derived keys
ARTWORK_DIR = "art"  # under a version's origin prefix, next to the manifests
PACKAGE_DONE_NAME = "package.json"
AUDIO_DIR = "audio"
AUDIO_TRACKS_NAME = "tracks.json"
IMAGES_DONE_NAME = "result.json"
EVENT_AGGREGATE_NAME = "cells.parquet"
ImageArea = Literal["sprites", "art"]

_HEX_RE = re.compile(r"^[0-9a-f]+$")
_CHUNKS = "/chunks/"
_EVENT_KEY_RE = re.compile(r"^events/type=([^/]+)/date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/(.+)$")
_AGGREGATE_KEY_RE = re.compile(
    r"^events-aggregates/([^/]+)/date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/cells\.parquet$"
)


# ---- small checks -----------------------------------------------------------------------


def _content_hash(sha256: str) -> str:
    """The ``<sha16>`` of a key: the first 16 hex digits of a SHA-256."""
    if len(sha256) < CONTENT_HASH_LENGTH or not _HEX_RE.match(sha256):
        raise ValueError(f"{sha256!r} is not a hex SHA-256 (at least 16 hex digits)")
    return sha256[:CONTENT_HASH_LENGTH]


def _params(params_hash: str) -> str:
    if not params_hash or not _HEX_RE.match(params_hash):
        raise ValueError(f"{params_hash!r} is not a hex parameter hash")
    return params_hash


def _slug(kind: str, value: str) -> str:
    if not isinstance(value, str) or not SLUG_RE.fullmatch(value):
        raise ValueError(f"{kind} {value!r} must be 1-64 characters of a-z 0-9 _ -")
    return value


def _name(value: str) -> str:
    """One path segment (a file name, a rung name, a language)."""
    if "/" in value:
        raise InvalidObjectKey(f"{value!r} must be a single name, not a path")
    validate_key(value)
    return value


def _under(prefix: str, rel: str) -> str:
    """``<prefix>/<rel>`` for a relative path ``rel`` (checked: no ``..``, no ``//``)."""
    validate_key(rel)
    return validate_key(f"{prefix}/{rel}")


# ---- masters and what is derived from them (keyed by content hash) ----------------------


def master_key(title_id: str, sha256: str) -> str:
    _content_hash(sha256)
    return f"{MASTERS}/{check_title_id(title_id)}/{sha256}"


def qc_report_key(title_id: str, sha256: str, params_hash: str) -> str:
    return f"{QC}/{check_title_id(title_id)}/{_content_hash(sha256)}-{_params(params_hash)}.json"


def ladder_key(title_id: str, sha256: str, params_hash: str) -> str:
    t, h = check_title_id(title_id), _content_hash(sha256)
    return f"{LADDERS}/{t}/{h}-{_params(params_hash)}.json"


def chunk_plan_key(title_id: str, sha256: str, ladder_hash: str, plan_hash: str) -> str:
    """The chunk plan stored next to its ladder (it grows with the duration)."""
    stem = ladder_key(title_id, sha256, ladder_hash).removesuffix(".json")
    return f"{stem}-chunks-{_params(plan_hash)}.json"


def rendition_prefix(title_id: str, sha256: str, params_hash: str) -> str:
    """``renditions/<title>/<sha16>-<params>``: one encode's renditions and chunk parts."""
    t, h = check_title_id(title_id), _content_hash(sha256)
    return f"{RENDITIONS}/{t}/{h}-{_params(params_hash)}"


def rendition_key(prefix: str, rung: str) -> str:
    """The joined rendition of ``rung`` under a ``rendition_prefix``."""
    return _under(prefix, f"{_name(rung)}.mp4")


def chunk_part_key(prefix: str, index: int, rung: str) -> str:
    """One chunk's encode of ``rung`` under a ``rendition_prefix``."""
    if index < 0:
        raise ValueError(f"chunk index must be >= 0, got {index}")
    return _under(prefix, f"chunks/{index:05d}/{_name(rung)}.mp4")


def parts_prefix_of(part_key: str) -> str:
    """The ``rendition_prefix`` a ``chunk_part_key`` lives under."""
    prefix, found, _ = validate_key(part_key).rpartition(_CHUNKS)
    if not found or not prefix.startswith(f"{RENDITIONS}/"):
        raise InvalidObjectKey(f"{part_key!r} is not a chunk part key")
    return prefix


def audio_prefix(title_id: str, sha256: str, params_hash: str) -> str:
    return f"{rendition_prefix(title_id, sha256, params_hash)}/{AUDIO_DIR}"


def audio_tracks_key(prefix: str) -> str:
    """The list of audio tracks (their done marker) under an ``audio_prefix``."""
    return _under(prefix, AUDIO_TRACKS_NAME)


def audio_track_key(prefix: str, filename: str) -> str:
    return _under(prefix, _name(filename))


def subtitle_key(title_id: str, file_sha256: str, language: str) -> str:
    """Keyed by the hash of the delivered caption file, not the master's."""
    t, h = check_title_id(title_id), _content_hash(file_sha256)
    return validate_key(f"{SUBTITLES}/{t}/{h}/{_name(language)}.vtt")


def subtitle_folder(key: str) -> str:
    """``subtitles/<title>/<sha16>/``: the folder of a ``subtitle_key`` (purge unit)."""
    parts = validate_key(key).split("/")
    if len(parts) != 4 or parts[0] != SUBTITLES:
        raise InvalidObjectKey(f"{key!r} is not a subtitle key")
    return f"{PurePosixPath(key).parent}/"


def images_prefix(title_id: str, sha256: str) -> str:
    """``images/<title>/<sha16>``: thumbnails, sprites and artwork of one master."""
    return f"{IMAGES}/{check_title_id(title_id)}/{_content_hash(sha256)}"


def images_done_key(title_id: str, sha256: str) -> str:
    return f"{images_prefix(title_id, sha256)}/{IMAGES_DONE_NAME}"


def image_key(title_id: str, sha256: str, area: ImageArea, filename: str) -> str:
    if area not in ("sprites", "art"):
        raise ValueError(f"image area must be sprites or art, got {area!r}")
    return _under(images_prefix(title_id, sha256), f"{area}/{_name(filename)}")


def content_prefixes(title_id: str, sha256: str) -> list[str]:
    """Every prefix derived from one master (what purging it deletes), subtitles aside."""
    t, h = check_title_id(title_id), _content_hash(sha256)
    return [
        master_key(t, sha256),
        *(f"{kind}/{t}/{h}-" for kind in (QC, LADDERS, RENDITIONS)),
        f"{images_prefix(t, sha256)}/",
    ]


# ---- packages and origin (keyed by version) ---------------------------------------------


def package_version_prefix(title_id: str, version: int) -> str:
    """``packages/<title>/v<N>/``: every package built for one version."""
    return f"{PACKAGES}/{check_title_id(title_id)}/{version_label(version)}/"


def package_prefix(title_id: str, version: int, params_hash: str) -> str:
    return f"{package_version_prefix(title_id, version)}{_params(params_hash)}"


def package_done_key(prefix: str) -> str:
    """The package's description (``package.json``), written last, under a package prefix."""
    return _under(prefix, PACKAGE_DONE_NAME)


def package_file_key(prefix: str, rel: str) -> str:
    """A file the packager wrote (``rel`` relative to its output) under a package prefix."""
    return _under(prefix, rel)


def origin_prefix(title_id: str, version: int) -> str:
    """``origin/<title>/v<N>`` (no trailing slash: the catalog stores it like this)."""
    return f"{ORIGIN}/{check_title_id(title_id)}/{version_label(version)}"


def origin_key(title_id: str, version: int, subpath: str) -> str:
    """A published file: ``origin/<title>/v<N>/<subpath>``."""
    return _under(origin_prefix(title_id, version), subpath)


def origin_artwork_path(filename: str) -> str:
    """Where a poster or backdrop goes, relative to the version's origin prefix."""
    return f"{ARTWORK_DIR}/{_name(filename)}"


def artwork_candidate_key(key: str, n: int) -> str:
    """Candidate ``n`` of an artwork image key: the same folder, ``c<n>_<name>`` (the thumbnail
    step writes them side by side, so publishing finds them from the keys it is given)."""
    path = PurePosixPath(validate_key(key))
    return _under(str(path.parent), candidate_file_name(n, path.name))


@dataclass(frozen=True)
class OriginKey:
    title_id: str
    version: int
    subpath: str  # "" for the prefix itself


def parse_origin_key(key: str) -> OriginKey:
    """``origin/<title>/v<N>[/<subpath>]`` back into its parts; InvalidObjectKey otherwise."""
    parts = validate_key(key).split("/", 3)
    if len(parts) < 3 or parts[0] != ORIGIN:
        raise InvalidObjectKey(f"{key!r} is not an origin key (origin/<title>/v<N>/...)")
    try:
        title_id = check_title_id(parts[1])
        version = parse_version_label(parts[2])
    except ValueError as exc:
        raise InvalidObjectKey(f"{key!r} is not an origin key: {exc}") from None
    return OriginKey(title_id, version, parts[3] if len(parts) == 4 else "")


def origin_subpath(prefix: str, key: str) -> str:
    """``key`` relative to the origin ``prefix`` it lives under (a manifest's path)."""
    outer, inner = parse_origin_key(prefix), parse_origin_key(key)
    if outer.subpath or (outer.title_id, outer.version) != (inner.title_id, inner.version):
        raise InvalidObjectKey(f"{key!r} is not under the origin prefix {prefix!r}")
    if not inner.subpath:
        raise InvalidObjectKey(f"{key!r} names no file under {prefix!r}")
    return inner.subpath


# ---- studio uploads ---------------------------------------------------------------------


def uploads_prefix(studio_id: str) -> str:
    """``uploads/<studio>/``: a studio's presigned uploads, the only keys it may name."""
    return f"{UPLOADS}/{_slug('studio id', studio_id)}/"


def upload_key(studio_id: str, upload_id: str, filename: str) -> str:
    """A fresh folder per upload: two uploads of one file name never overwrite each other."""
    return validate_key(f"{uploads_prefix(studio_id)}{_name(upload_id)}/{_name(filename)}")


# ---- viewer events (Hive-partitioned Parquet) -------------------------------------------


def _utc_hour(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("event partitions need an aware datetime (UTC)")
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def events_type_prefix(event_type: str) -> str:
    return f"{EVENTS}/type={_slug('event type', event_type)}/"


def events_partition_prefix(event_type: str, at: datetime) -> str:
    """``events/type=<t>/date=<YYYY-MM-DD>/hour=<HH>/``: the UTC hour holding ``at``."""
    hour = _utc_hour(at)
    return f"{events_type_prefix(event_type)}date={hour:%Y-%m-%d}/hour={hour:%H}/"


def event_file_key(event_type: str, at: datetime, filename: str) -> str:
    return validate_key(events_partition_prefix(event_type, at) + _name(filename))


@dataclass(frozen=True)
class EventFileKey:
    event_type: str
    hour: datetime  # UTC, on the hour
    filename: str


def parse_event_key(key: str) -> EventFileKey:
    m = _EVENT_KEY_RE.match(validate_key(key))
    if m is None or "/" in m.group(4):
        raise InvalidObjectKey(f"{key!r} is not an event file key")
    event_type, day, hour, filename = m.groups()
    try:
        _slug("event type", event_type)
        at = datetime.strptime(f"{day} {hour}", "%Y-%m-%d %H").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidObjectKey(f"{key!r} is not an event file key: {exc}") from None
    return EventFileKey(event_type, at, filename)


# ---- what is kept of viewer events past retention (Hive-partitioned, one file an hour) --


def event_aggregates_prefix(name: str) -> str:
    return f"{EVENT_AGGREGATES}/{_slug('aggregate', name)}/"


def event_aggregate_key(name: str, at: datetime) -> str:
    """``events-aggregates/<name>/date=<YYYY-MM-DD>/hour=<HH>/cells.parquet``: the cells of
    the UTC hour holding ``at``. Outside ``events/``, so retention never reaches them and
    engines reading ``events/`` as one Hive table see no foreign tree in it."""
    hour = _utc_hour(at)
    return validate_key(
        f"{event_aggregates_prefix(name)}date={hour:%Y-%m-%d}/hour={hour:%H}/"
        + EVENT_AGGREGATE_NAME
    )


@dataclass(frozen=True)
class EventAggregateKey:
    name: str
    hour: datetime  # UTC, on the hour


def parse_event_aggregate_key(key: str) -> EventAggregateKey:
    m = _AGGREGATE_KEY_RE.match(validate_key(key))
    if m is None:
        raise InvalidObjectKey(f"{key!r} is not an event aggregate key")
    name, day, hour = m.groups()
    try:
        _slug("aggregate", name)
        at = datetime.strptime(f"{day} {hour}", "%Y-%m-%d %H").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidObjectKey(f"{key!r} is not an event aggregate key: {exc}") from None
    return EventAggregateKey(name, at)


# ---- recommendation models: models/<name>/v<N>/<file>, models/<name>/serving.json -----
def models_prefix(name: str) -> str:
    return f"{MODELS}/{_slug('model name', name)}/"


def model_file_key(name: str, version: int, filename: str) -> str:
    return validate_key(f"{models_prefix(name)}{version_label(version)}/{_name(filename)}")


def model_pointer_key(name: str) -> str:  # which version serves
    return validate_key(models_prefix(name) + "serving.json")


def parse_model_file_key(name: str, key: str) -> tuple[int, str] | None:
    """(version, file name) of one of ``name``'s version files; None for any other key."""
    label, _, filename = validate_key(key).removeprefix(models_prefix(name)).partition("/")
    if key.startswith(models_prefix(name)) and filename and "/" not in filename:
        with suppress(ValueError):
            return parse_version_label(label), filename
    return None
