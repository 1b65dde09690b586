"""Catalog tables (SQLModel). One module so Alembic sees the whole schema at once.

JSON columns hold small structured documents (probe output, QC report, ladder) that the
catalog stores but never queries inside; everything that is filtered on is a real column.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def stamped(*, index: bool = False) -> Any:
    """A timezone-aware timestamp column, set to now when the row is made."""
    column = Column(DateTime(timezone=True), nullable=False, index=True if index else None)
    return Field(default_factory=utcnow, sa_column=column)


def optional_time() -> Any:
    """A timezone-aware timestamp column, empty until something happens."""
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class TitleState:
    """Lifecycle states a title moves through (strings, so the column stays portable)."""

    INGESTING = "ingesting"
    QC = "qc"
    QC_FAILED = "qc_failed"
    AWAITING_APPROVAL = "awaiting_approval"
    REJECTED = "rejected"
    PROCESSING = "processing"
    PACKAGING = "packaging"
    PUBLISHED = "published"
    EXPIRED = "expired"
    TAKEN_DOWN = "taken_down"
    FAILED = "failed"
    SUPERSEDED = "superseded"  # a version's, when a newer one went live (title_versions)


class Title(SQLModel, table=True):
    __tablename__ = "titles"
    __table_args__ = (
        UniqueConstraint("studio_id", "studio_title_id", name="uq_title_studio_title_id"),
    )

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=300)
    synopsis: str = Field(default="", max_length=5000)
    genres: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    rating: str | None = Field(default=None, max_length=16)
    version: int = Field(default=1)
    state: str = Field(default=TitleState.INGESTING, index=True, max_length=32)
    studio_id: str | None = Field(default=None, index=True, max_length=64)
    # The id the owning studio names this title by (its own namespace: "<studio>--<id>" is
    # the catalog id of a title a studio claimed; older ones kept their bare id).
    studio_title_id: str | None = Field(default=None, max_length=64)
    callback_url: str | None = Field(default=None, max_length=2048)
    duration_s: float | None = None
    created_at: datetime = stamped()
    updated_at: datetime = stamped()


class Asset(SQLModel, table=True):
    """A master file as ingested: stored by content hash, so re-ingest reuses it."""

    __tablename__ = "assets"
    __table_args__ = (UniqueConstraint("title_id", "version", name="uq_asset_title_version"),)

    id: int | None = Field(default=None, primary_key=True)
    title_id: str = Field(foreign_key="titles.id", index=True, max_length=64)
    version: int
    master_key: str = Field(max_length=1024)
    sha256: str = Field(max_length=64, index=True)
    size_bytes: int
    probe: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = stamped()


class QCReportRow(SQLModel, table=True):
    __tablename__ = "qc_reports"

    id: int | None = Field(default=None, primary_key=True)
    title_id: str = Field(foreign_key="titles.id", index=True, max_length=64)
    version: int
    passed: bool
    warnings: int = 0
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = stamped()


class LadderRow(SQLModel, table=True):
    __tablename__ = "ladders"
    __table_args__ = (UniqueConstraint("title_id", "version", name="uq_ladder_title_version"),)

    id: int | None = Field(default=None, primary_key=True)
    title_id: str = Field(foreign_key="titles.id", index=True, max_length=64)
    version: int
    method: str = Field(max_length=16)  # per_title | fixed
    metric: str = Field(max_length=16)  # vmaf | psnr
    ladder: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = stamped()


class Rendition(SQLModel, table=True):
    __tablename__ = "renditions"
    __table_args__ = (
        UniqueConstraint("title_id", "version", "name", name="uq_rendition_title_version_name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    title_id: str = Field(foreign_key="titles.id", index=True, max_length=64)
    version: int
    kind: str = Field(max_length=16)  # video | audio | subtitle | thumbnails | artwork
    name: str = Field(max_length=128)
    object_key: str = Field(max_length=1024)
    codec: str | None = Field(default=None, max_length=32)
    width: int | None = None
    height: int | None = None
    bitrate_kbps: int | None = None
    language: str | None = Field(default=None, max_length=16)
    channels: int | None = None


class Package(SQLModel, table=True):
    __tablename__ = "packages"
    __table_args__ = (UniqueConstraint("title_id", "version", name="uq_package_title_version"),)

    id: int | None = Field(default=None, primary_key=True)
    title_id: str = Field(foreign_key="titles.id", index=True, max_length=64)
    version: int
    origin_prefix: str = Field(max_length=1024)
    mpd_key: str | None = Field(default=None, max_length=1024)
    hls_key: str | None = Field(default=None, max_length=1024)
    encrypted: bool = True
    drm_systems: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    kids: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    representations: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # Artwork copied to origin with the package, as paths relative to origin_prefix:
    # {"poster": [...], "backdrop": [...] (largest first), "thumbnails": ["thumbs/x.vtt"]}.
    artwork: dict[str, list[str]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )
    published_at: datetime | None = optional_time()
    removed_at: datetime | None = optional_time()


class ContentKeyRow(SQLModel, table=True):
    """A content key sealed at rest (AES-GCM under the master key of `key_version`)."""

    __tablename__ = "content_keys"

    kid: str = Field(primary_key=True, max_length=32)  # hex
    title_id: str = Field(foreign_key="titles.id", index=True, max_length=64)
    version: int
    track_class: str = Field(max_length=8)  # audio | sd | hd | uhd
    sealed_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    key_version: int = 1
    revoked: bool = False
    created_at: datetime = stamped()


class Availability(SQLModel, table=True):
    __tablename__ = "availability"

    title_id: str = Field(foreign_key="titles.id", primary_key=True, max_length=64)
    window_start: datetime | None = optional_time()
    window_end: datetime | None = optional_time()
    regions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    plans: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class TitleVersion(SQLModel, table=True):
    """One delivered version's own lifecycle state and availability window.

    ``titles.state`` and ``availability`` are what players see: the live version's (the
    newest with a published, not removed package) or, while no version is live, those of
    the runs in progress. A re-delivery processed beside a live version writes only its row
    here, so the live one stays listed and playable; its publish copies this row's
    availability to the title's (``queries.make_version_live``).
    """

    __tablename__ = "title_versions"

    title_id: str = Field(foreign_key="titles.id", primary_key=True, max_length=64)
    version: int = Field(primary_key=True)
    state: str = Field(default=TitleState.INGESTING, max_length=32)
    window_start: datetime | None = optional_time()
    window_end: datetime | None = optional_time()
    regions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    plans: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = stamped()


class LifecycleEvent(SQLModel, table=True):
    """Append-only audit of every state change: who, what, when."""

    __tablename__ = "lifecycle_events"

    id: int | None = Field(default=None, primary_key=True)
    title_id: str = Field(index=True, max_length=64)
    version: int = 1
    event: str = Field(max_length=64)
    state: str | None = Field(default=None, max_length=32)
    actor: str = Field(max_length=128)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Idempotency key for activity retries: the same transition recorded twice is one row.
    dedupe_key: str | None = Field(default=None, unique=True, max_length=200)
    at: datetime = stamped()


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Studio(SQLModel, table=True):
    """A content partner: an API key (stored as its SHA-256) and a webhook signing secret
    (sealed under the master key, since verifying an HMAC needs the secret itself)."""

    __tablename__ = "studios"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    api_key_sha256: str = Field(max_length=64, unique=True, index=True)
    sealed_webhook_secret: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    key_version: int = 1
    disabled: bool = False
    # Quotas of this studio; None: the REELFLOW_STUDIO_* default (config/studios.py).
    ingests_per_minute: int | None = None
    ingests_per_hour: int | None = None
    max_upload_bytes: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = stamped()


class IngestRequestRow(SQLModel, table=True):
    """A studio ingest answered once per (studio, Idempotency-Key): retries get the same answer."""

    __tablename__ = "ingest_requests"
    __table_args__ = (
        UniqueConstraint("studio_id", "idempotency_key", name="uq_ingest_studio_idempotency"),
    )

    id: int | None = Field(default=None, primary_key=True)
    studio_id: str = Field(max_length=64, index=True)
    idempotency_key: str = Field(max_length=200)
    body_sha256: str = Field(max_length=64)
    title_id: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = stamped()


class ViewingProgress(SQLModel, table=True):
    """Resume position per account and title ("continue watching")."""

    __tablename__ = "viewing_progress"

    account: str = Field(primary_key=True, max_length=256)
    title_id: str = Field(primary_key=True, max_length=64)
    position_s: float = 0.0
    duration_s: float | None = None
    updated_at: datetime = stamped(index=True)


class ViewerPrivacy(SQLModel, table=True):
    """An account's own analytics choice; no row means it follows the deployment's default
    (``analytics_consent_default``). Mirrored in Redis for the ingest path
    (``events/consent.py``); this row is the durable copy."""

    __tablename__ = "viewer_privacy"

    account: str = Field(primary_key=True, max_length=256)
    analytics_consent: bool
    updated_at: datetime = stamped()


class ErasureStatus:
    STARTED = "started"  # still so after a crash mid-erasure: run it again
    DONE = "done"
    FAILED = "failed"


class ErasureAudit(SQLModel, table=True):
    """One erasure of an account's events: written ``started`` before anything is removed,
    then ``done`` with the counts or ``failed`` with the reason (and what was removed)."""

    __tablename__ = "erasure_audit"

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(max_length=256, index=True)
    actor: str = Field(max_length=256)  # "cli", or the admin token's subject
    status: str = Field(default=ErasureStatus.STARTED, max_length=16)
    stream_entries: int = 0
    files_rewritten: int = 0
    rows: int = 0
    reason: str | None = Field(default=None, max_length=1000)
    started_at: datetime = stamped(index=True)
    finished_at: datetime | None = optional_time()


class ExperimentStatus:
    DRAFT = "draft"  # editable; no viewer is in it
    RUNNING = "running"  # viewers are assigned; its definition is frozen
    STOPPED = "stopped"  # no new exposures; its results stay readable


class Experiment(SQLModel, table=True):
    """An A/B test (docs/experiments.md): who may enter, how it is judged, and when it ran.
    Its variants are rows of ``experiment_variants``; every change is in ``experiment_audit``."""

    __tablename__ = "experiments"

    key: str = Field(primary_key=True, max_length=64)  # the hashing seed: never renamed
    hypothesis: str = Field(default="", max_length=2000)
    # The target: empty lists admit everyone; share is the part of those let in.
    target_countries: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    target_plans: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    target_devices: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    target_share: float = 1.0
    # A layer and the experiment's slice [start, end) of it; experiments sharing a layer
    # never share a viewer.
    layer: str | None = Field(default=None, max_length=64, index=True)
    layer_start: float = 0.0
    layer_end: float = 1.0
    primary_metric: str = Field(max_length=64)
    guardrails: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    mde: float | None = None  # relative minimum detectable effect of the primary metric
    status: str = Field(default=ExperimentStatus.DRAFT, max_length=16, index=True)
    created_at: datetime = stamped()
    updated_at: datetime = stamped()
    started_at: datetime | None = optional_time()
    stopped_at: datetime | None = optional_time()


class ExperimentVariant(SQLModel, table=True):
    """One variant of an experiment, in the experiment's order (the first is control)."""

    __tablename__ = "experiment_variants"

    experiment_key: str = Field(foreign_key="experiments.key", primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=64)
    position: int
    weight: float
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ExperimentAudit(SQLModel, table=True):
    """One change of an experiment: who, when, and what (``changes``: the definition made,
    each edited field from and to, or the status moved)."""

    __tablename__ = "experiment_audit"

    id: int | None = Field(default=None, primary_key=True)
    experiment_key: str = Field(max_length=64, index=True)
    actor: str = Field(max_length=256)  # "cli", or the admin token's subject
    action: str = Field(max_length=16)  # create, update, start, stop
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = stamped(index=True)


class LiveChannelRow(SQLModel, table=True):
    """A live channel: its settings and its sealed stream key. Its state is its workflow's
    (``channel-<id>``), read by query."""

    __tablename__ = "live_channels"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    sealed_stream_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    key_version: int = 1
    created_at: datetime = stamped()
