"""Input/output dataclasses of the title lifecycle's activities, and their wire names.

The workflow sees activities only through these: small values and object keys, never
media bytes (the server rejects payloads over ~2 MB) and never clear content keys. Nothing
here may grow with a title's duration (segments, chunks): lists of that kind stay in the
object store and travel by key (the history-size tests in
tests/workflows/test_title_workflow_orchestration.py hold the line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Activity type names, as they travel and sit in histories: renaming one breaks replay of
# every running title. The typed definitions in ``activity_defs`` are registered under them.
RECORD_EVENT = "record_event"
REGISTER_TITLE = "register_title"
INGEST_MASTER = "ingest_master"
RUN_QC = "run_qc"
ANALYSE_LADDER = "analyse_ladder"
ENCODE_CHUNK = "encode_chunk"
JOIN_RENDITIONS = "join_renditions"
ENCODE_AUDIO = "encode_audio"
PREPARE_SUBTITLES = "prepare_subtitles"
MAKE_THUMBNAILS = "make_thumbnails"


def parse_instant(value: str | None) -> datetime | None:
    """An ISO 8601 instant as carried in payloads (None stays None: open-ended)."""
    return datetime.fromisoformat(value) if value else None


@dataclass
class SubtitleSource:
    language: str
    source: str  # local path, http(s) URL, or store:<key>


@dataclass
class TitleOptions:
    require_approval: bool = False
    ladder: str = "per_title"  # per_title | fixed
    codec: str = "h264"  # h264 | hevc | av1: the main ladder, every player's fallback
    # Ladders encoded beside ``codec``'s into the same package (e.g. ["av1"]): each is
    # analysed for its own codec, packaged as its own adaptation sets / CODECS-labelled HLS
    # variants under the same key per track class. Empty (and absent from older payloads):
    # one ladder, as before.
    extra_codecs: list[str] = field(default_factory=list)
    max_kbps: int = 8000
    drm: bool = True
    tone_map: bool = False
    purge_on_expire: bool = False
    # Language of untagged audio ("und" in the master); the packager needs a real one.
    original_language: str = "en"
    # How long a media activity may go without a heartbeat before the server presumes its
    # worker dead and retries it elsewhere. Tests shorten it to exercise worker loss.
    media_heartbeat_timeout_s: float = 30.0


@dataclass
class AvailabilitySpec:
    window_start: str | None = None  # ISO 8601 with offset; None = now
    window_end: str | None = None  # None = open-ended
    regions: list[str] = field(default_factory=list)  # ISO 3166 alpha-2; empty = worldwide
    plans: list[str] = field(default_factory=list)  # empty = every plan


@dataclass
class TitleInput:
    title_id: str
    source: str
    name: str
    version: int = 1
    synopsis: str = ""
    genres: list[str] = field(default_factory=list)
    rating: str | None = None
    options: TitleOptions = field(default_factory=TitleOptions)
    availability: AvailabilitySpec = field(default_factory=AvailabilitySpec)
    subtitles: list[SubtitleSource] = field(default_factory=list)
    studio_id: str | None = None
    callback_url: str | None = None
    # Task queue of the media activities; the starter fills it from settings.
    media_queue: str = "reelflow-media"


@dataclass
class EventRequest:
    title_id: str
    version: int
    event: str
    actor: str
    state: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    dedupe_key: str | None = None


@dataclass
class IngestRequest:
    title_id: str
    version: int
    source: str
    # A studio's URL: fetched from public addresses only (reelflow.ingest.sources, SSRF).
    public_only: bool = False
    # The delivering studio: a studio may name store: keys under its own uploads only.
    studio_id: str | None = None


@dataclass
class IngestResult:
    master_key: str
    sha256: str
    size_bytes: int
    reused: bool


@dataclass
class QCRequest:
    title_id: str
    version: int
    master_key: str
    sha256: str


@dataclass
class QCResult:
    passed: bool
    summary: str
    failures: list[str]
    warnings: list[str]
    report_key: str
    adaptations: dict[str, Any]
    duration_s: float
    width: int
    height: int
    fps: float
    has_audio: bool
    black_intervals: list[list[float]] = field(default_factory=list)


@dataclass
class RungSpec:
    name: str
    width: int
    height: int
    bitrate_kbps: int
    codec: str


@dataclass
class ChunkSpec:
    index: int
    start_s: float
    duration_s: float


@dataclass
class AnalyseRequest:
    title_id: str
    version: int
    master_key: str
    sha256: str
    method: str
    codec: str
    max_kbps: int
    duration_s: float
    exclude: list[list[float]] = field(default_factory=list)
    # Set by workflows on the compact path: the chunk plan stays in the object store (it
    # grows with the title's duration) and the result carries only its key and length.
    plan_by_key: bool = False
    # An extra codec's ladder (``TitleOptions.extra_codecs``): the catalog keeps it beside
    # the main ladder of the version, never in its place.
    alongside: bool = False


@dataclass
class LadderResult:
    ladder_key: str
    method: str
    metric: str | None
    rungs: list[RungSpec]
    chunks: list[ChunkSpec]  # inline plan (requests without plan_by_key); else empty
    chunk_plan_key: str = ""  # the plan as JSON, chunk i at index i
    chunk_count: int = 0


@dataclass
class EncodeChunkRequest:
    title_id: str
    version: int
    master_key: str
    sha256: str
    ladder_key: str
    chunk: ChunkSpec | None  # None: chunk ``chunk_index`` of the plan at ``chunk_plan_key``
    fps: float
    adaptations: dict[str, Any]
    chunk_index: int = 0
    chunk_plan_key: str = ""


@dataclass
class EncodeChunkResult:
    index: int
    parts: dict[str, str]  # rung name -> object key
    reused: bool
    # Where every chunk of this encode lands: the join finds part i of a rung from it, so
    # the workflow need not hand back every chunk's keys (empty from older workers).
    parts_prefix: str = ""
    # "<pid>@<host>" of the worker that ran (or found) it: the encode stage's detail counts
    # chunks per worker, so an operator sees the work spread (empty from older workers).
    worker: str = ""


@dataclass
class JoinRequest:
    title_id: str
    version: int
    sha256: str
    ladder_key: str
    chunk_results: list[EncodeChunkResult]  # empty on the compact path: see parts_prefix
    duration_s: float
    fps: float
    parts_prefix: str = ""
    chunk_count: int = 0


@dataclass
class RenditionInfo:
    name: str
    kind: str  # video | audio | subtitle
    object_key: str
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    bitrate_kbps: int | None = None
    language: str | None = None
    channels: int | None = None


@dataclass
class AudioRequest:
    title_id: str
    version: int
    master_key: str
    sha256: str
    normalize: bool


@dataclass
class SubtitlesRequest:
    title_id: str
    version: int
    subtitles: list[SubtitleSource]
    public_only: bool = False


@dataclass
class ThumbnailsRequest:
    title_id: str
    version: int
    master_key: str
    sha256: str
    duration_s: float


@dataclass
class ThumbnailsResult:
    vtt_key: str
    sprite_keys: list[str]
    poster_keys: list[str]
    backdrop_keys: list[str]
    interval_s: float


@dataclass
class StageState:
    name: str
    state: str = "pending"  # pending | running | done | failed | skipped | waiting
    progress: float = 0.0  # percent
    detail: str = ""


@dataclass
class TitleStatus:
    title_id: str
    version: int
    state: str
    stage: str
    stages: list[StageState]
    qc_summary: str | None = None
    qc_failures: list[str] = field(default_factory=list)
    qc_warnings: list[str] = field(default_factory=list)
    ladder: list[RungSpec] = field(default_factory=list)
    renditions: list[RenditionInfo] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    window_start: str | None = None
    window_end: str | None = None
    # Metric the ladder was measured with ("vmaf", "psnr"; None: fixed ladder or not yet).
    # PSNR means the workers had no ffmpeg with libvmaf; defaulted, so old histories replay.
    ladder_metric: str | None = None


# ---- part 2: keys, packaging, publish, availability, expiry ------------------------------
GENERATE_KEYS = "generate_keys"
PACKAGE_TITLE = "package_title"
PUBLISH_TITLE = "publish_title"
UPDATE_AVAILABILITY = "update_availability"
EXPIRE_TITLE = "expire_title"
NOTIFY_STUDIO = "notify_studio"


@dataclass
class KeysRequest:
    title_id: str
    version: int
    classes: list[str]  # AUDIO, SD, HD, UHD


@dataclass
class KeysResult:
    kids: dict[str, str]  # track class -> KID hex; the keys stay sealed in the catalog


@dataclass
class PackageRequest:
    title_id: str
    version: int
    sha256: str
    renditions: list[RenditionInfo]
    thumbnails_vtt_key: str | None
    kids: dict[str, str]  # empty = publish clear
    segment_duration: int | None = None  # None: the worker's REELFLOW_SEGMENT_DURATION
    original_language: str = "en"
    # Set by workflows on the compact path: the file list (one entry per segment) stays in
    # the object store and PackageInfo carries its key instead.
    files_by_key: bool = False


@dataclass
class PackageInfo:
    package_prefix: str  # packages/<title>/<version>/<hash>
    mpd: str  # relative to the prefix
    hls_master: str
    files: list[str]  # relative to the prefix; empty when files_key names them
    drm_systems: list[str]
    kids: dict[str, str]
    representations: list[dict[str, Any]]
    verify_summary: str
    # A JSON object in the store whose "files" member is the full list (package.json).
    files_key: str = ""
    file_count: int = 0


@dataclass
class PublishRequest:
    title_id: str
    version: int
    package: PackageInfo
    poster_keys: list[str] = field(default_factory=list)
    backdrop_keys: list[str] = field(default_factory=list)


@dataclass
class PublishResult:
    origin_prefix: str
    newly_published: bool


@dataclass
class AvailabilityUpdate:
    title_id: str
    window_start: str | None
    window_end: str | None
    # The version whose window changed: the title's window follows it only while it is
    # the live one (0 from a run before per-version state: the title's window, as then).
    version: int = 0


@dataclass
class ExpireRequest:
    title_id: str
    version: int
    final_state: str  # expired | taken_down
    reason: str
    purge: bool = False


@dataclass
class NotifyRequest:
    title_id: str
    version: int
    event: str
    detail: dict[str, Any] = field(default_factory=dict)
