"""One Settings object for every process: env vars ``REELFLOW_*`` over embedded defaults.

Embedded defaults (no configuration at all) give a one-machine stack: SQLite and a local
object store under the state directory, the Temporal dev server and Redis on loopback, and
secrets generated into the state directory on first use. ``REELFLOW_ENV=production`` turns
the generated secrets off: they must then be given explicitly.
"""

from __future__ import annotations

import shutil
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reelflow.config.errors import ConfigError as ConfigError
from reelflow.config.licenses import LicenseLimitSettings
from reelflow.config.live import LiveSettings
from reelflow.config.recs import RecsSettings
from reelflow.config.resilience import ResilienceSettings
from reelflow.config.secrets import Secrets, load_secrets
from reelflow.config.secrets import (
    rotate_generated_master_key as rotate_generated_master_key,
)
from reelflow.config.studios import StudioQuotaSettings

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# The checkout root when running from a clone (editable install); None when installed as a wheel.
CHECKOUT_DIR: Path | None = (
    PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "pyproject.toml").exists() else None
)
PACKAGER_NPM_PATH = Path("node_modules/shaka-packager/bin/packager-linux-x64")


def _default_home() -> Path:
    if CHECKOUT_DIR is not None:
        return CHECKOUT_DIR / ".reelflow"
    return Path.home() / ".reelflow"


class Settings(
    BaseSettings,
    RecsSettings,
    ResilienceSettings,
    StudioQuotaSettings,
    LicenseLimitSettings,
    LiveSettings,
):
    model_config = SettingsConfigDict(env_prefix="REELFLOW_", extra="ignore")

    env: Literal["embedded", "production"] = "embedded"
    home: Path = Field(default_factory=_default_home, description="state directory")

    # Catalog
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in the state dir"
    )
    # Connection pool per process (PostgreSQL; SQLite ignores them). Unset = the role's
    # default from catalog.db.POOL_DEFAULTS (api, worker, rq).
    db_pool_size: int | None = Field(default=None, ge=1, le=200)
    db_max_overflow: int | None = Field(default=None, ge=0, le=200)

    # Object store
    store: Literal["local", "s3"] = "local"
    store_root: Path | None = Field(default=None, description="LocalStore folder")
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: str = ""
    s3_secret_key: SecretStr = SecretStr("")
    s3_bucket: str = "reelflow"
    s3_region: str = "us-east-1"
    s3_secure: bool = False
    s3_part_size: int = 16 * 1024 * 1024
    # Media workers' local copies of S3 inputs: least recently used evicted past this size,
    # never a file an activity is using.
    media_cache_bytes: int = Field(default=20 * 1024**3, gt=0)

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_url: str = "http://127.0.0.1:8233"
    # TLS / mTLS to the Temporal frontend (a TLS cluster or Temporal Cloud): PEM files.
    # A client cert needs its key; a CA alone verifies the server; an API key turns TLS on.
    temporal_tls_cert_path: Path | None = None
    temporal_tls_key_path: Path | None = None
    temporal_tls_ca_path: Path | None = None
    temporal_api_key: SecretStr | None = None
    # Workers' Prometheus endpoint for Temporal SDK metrics (host:port); unset = none.
    worker_metrics_bind: str | None = None
    control_queue: str = "reelflow-control"
    media_queue: str = "reelflow-media"
    # A worker's name in workflow history (who ran each activity); default <pid>@<hostname>,
    # which repeats across hosts that share a hostname (containers, network namespaces).
    worker_identity: str | None = None

    # Redis / rq
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_max_connections: int = Field(default=100, ge=1, le=10_000)  # API pool, http/context.py
    rq_queue: str = "reelflow"
    # Viewer events writer: entries another writer read and has not acknowledged for this
    # long are taken for a dead writer's and claimed (docs/events.md). Well above a batch's
    # write time, so a live writer's batch is not written twice.
    events_claim_idle_ms: int = Field(default=15_000, ge=100, le=600_000)
    # Raw events' retention in days by type, JSON ({"progress": 30}); unnamed types keep 90.
    # Checked against the event types by events/retention.py (workers refuse a bad one).
    events_retention_days: dict[str, int] = Field(default_factory=dict)
    # The events writer's Prometheus endpoint (host:port): events written by type and the QoE
    # histograms the Grafana dashboard reads (events/metrics.py); unset = none.
    events_metrics_bind: str | None = None

    # Playback API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Embedded mode (dev tokens, HS256) refuses a non-loopback api_host unless this is set:
    # REELFLOW_EMBEDDED_ALLOW_PUBLIC_BIND=1 (e.g. the demo inside a container), warned at start.
    embedded_allow_public_bind: bool = False
    public_base_url: str | None = None
    # Base of signed media URLs handed to players: the nginx edge / CDN in production;
    # default: the API itself (embedded origin).
    media_base_url: str | None = None
    api_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Comma-separated origins whose pages may call the API from a browser. None by default:
    # the web pages the API serves are same-origin; a wildcard would let any site's page use it.
    cors_origins: str = ""
    access_log: bool = True  # one JSON line per request on stderr

    # Viewer auth (JWTs from an identity provider). Embedded mode also accepts HS256 dev
    # tokens signed with a key derived from the signing secret (`reelflow dev token`).
    auth_issuer: str = "reelflow-dev"
    auth_audience: str = "reelflow-playback"
    auth_algorithms: str = Field(
        default="", description="comma-separated allow-list; default RS256,ES256 (+HS256 embedded)"
    )
    auth_public_key_path: Path | None = None
    auth_jwks_path: Path | None = None
    # The IdP's JWKS by URL (https, or http on loopback): kept auth_jwks_cache_s; a token
    # naming an unknown kid refetches it at most once per auth_jwks_refetch_s.
    auth_jwks_url: str | None = None
    auth_jwks_cache_s: int = Field(default=300, ge=10)
    auth_jwks_refetch_s: int = Field(default=60, ge=1)
    # Longest viewer-token lifetime accepted (exp - now); revocation records live this long.
    auth_max_token_lifetime_s: int = Field(default=7 * 24 * 3600, ge=60)
    # The audience an admin token must be issued for (and it lives at most an hour), so a
    # viewer token can never carry the admin API.
    auth_admin_audience: str = Field(default="reelflow-admin", min_length=1)

    # Playback sessions
    # Tokens and media links live minutes and are renewed by heartbeats while the lease is
    # held, so an ended or replaced session stops playing within one lifetime.
    media_link_ttl_s: int = Field(
        default=300, ge=10, le=3600, description="token and media-link lifetime (renewed)"
    )
    lease_ttl_s: int = Field(default=60, ge=1, description="a stream's lease without heartbeat")
    license_rate_per_minute: int = Field(default=60, ge=1)
    # Playback starts per account and minute: a real player's restarts, retries and ad
    # breaks stay far below it; a shared token handed round a crowd does not.
    playback_starts_per_minute: int = Field(default=60, ge=1)

    # Viewer analytics consent for an account that has not chosen (docs/privacy.md): on
    # keeps its behavioural events (opt-out); a deployment whose law or policy asks for
    # opt-in sets REELFLOW_ANALYTICS_CONSENT_DEFAULT=false. An account's own choice wins.
    analytics_consent_default: bool = True

    # License proxy upstreams (a DRM vendor's service); unset: that system answers 503.
    license_widevine_url: str | None = None
    license_playready_url: str | None = None
    license_fairplay_url: str | None = None
    # Each vendor's own HS256 secret for its entitlements, so one vendor cannot mint
    # entitlements another vendor accepts; the shared secret is only a fallback, refused in
    # production when two configured vendors would share it (license_proxy.py).
    license_widevine_secret: SecretStr | None = None
    license_playready_secret: SecretStr | None = None
    license_fairplay_secret: SecretStr | None = None
    license_upstream_secret: SecretStr | None = None
    license_timeout_s: float = 10.0
    fairplay_certificate_path: Path | None = None

    # Key policy: the track classes (AUDIO,SD,HD,UHD) each DRM system may unlock; unset:
    # the mode's default (production: ClearKey AUDIO,SD, the others all; embedded: all).
    # Parsed and checked by playback_api/delivery/key_policy.py at API start-up.
    key_policy_clearkey: str | None = None
    key_policy_widevine: str | None = None
    key_policy_playready: str | None = None
    key_policy_fairplay: str | None = None

    # Studio ingest
    ingest_source_schemes: str = Field(
        default="https,http", description="URL schemes a studio may give as a source"
    )
    # Test-only: studio callbacks may reach 127/8 and ::1 (no other non-public address),
    # so tests can deliver to a receiver on this machine. Refused in production.
    allow_loopback_callbacks: bool = False

    @field_validator("allow_loopback_callbacks")
    @classmethod
    def _no_loopback_callbacks_in_production(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("env") == "production":
            raise ValueError("REELFLOW_ALLOW_LOOPBACK_CALLBACKS is test-only: not in production")
        return value

    # Secrets: generated into the state dir in embedded mode, required in production.
    signing_secret: SecretStr | None = None
    master_key: SecretStr | None = Field(
        default=None, description="base64 of 32 bytes; encrypts content keys at rest"
    )
    master_key_version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    # Earlier master keys still needed to open keys sealed before a rotation:
    # "1:<base64>,2:<base64>". Drop them once `reelflow keys rotate-master` has run.
    retired_master_keys: SecretStr | None = None

    # Binaries: settings, then PATH, then the npm package (packager).
    ffmpeg_path: str | None = None
    ffprobe_path: str | None = None
    packager_path: str | None = None
    vmaf_ffmpeg_path: str | None = Field(
        default=None, description="an ffmpeg with libvmaf; default: imageio-ffmpeg's static build"
    )

    # Media defaults
    segment_duration: int = 6
    gop_seconds: int = 2
    ingest_max_bytes: int = 50 * 1024**3
    ingest_timeout_s: float = 30.0
    loudness_target_lufs: float = -23.0
    loudness_tolerance_lu: float = 2.0
    # An ffmpeg or packager that shows no progress this long is killed (SIGTERM, then
    # SIGKILL after the grace) and its activity retried; generous, since a slow input
    # read is not a hang (docs/operations.md, "Long titles").
    subprocess_stall_s: float = Field(default=300.0, gt=0)
    subprocess_kill_grace_s: float = Field(default=10.0, ge=0)

    # ---- derived values -------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'catalog.db'}"

    @property
    def resolved_store_root(self) -> Path:
        return self.store_root if self.store_root is not None else self.home / "objects"

    @property
    def resolved_public_base_url(self) -> str:
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return f"http://{self.api_host}:{self.api_port}"

    def ensure_home(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home

    def secrets(self) -> Secrets:
        return load_secrets(self)

    def binary(self, name: Literal["ffmpeg", "ffprobe", "packager"]) -> str:
        """Absolute path of a required binary; raises ConfigError naming the fix."""
        found = find_binary(self, name)
        if found is None:
            raise ConfigError(_MISSING_BINARY_FIX[name])
        return found


_MISSING_BINARY_FIX = {
    "ffmpeg": "ffmpeg not found: apt-get install ffmpeg, or set REELFLOW_FFMPEG_PATH",
    "ffprobe": "ffprobe not found: apt-get install ffmpeg, or set REELFLOW_FFPROBE_PATH",
    "packager": (
        "Shaka Packager not found: run `npm ci` in the checkout (npm package shaka-packager), "
        "or set REELFLOW_PACKAGER_PATH"
    ),
}


def find_binary(settings: Settings, name: Literal["ffmpeg", "ffprobe", "packager"]) -> str | None:
    configured = getattr(settings, f"{name}_path")
    if configured:
        return str(configured) if Path(configured).exists() else None
    on_path = shutil.which(name)
    if on_path:
        return on_path
    if name == "packager":
        for base in filter(None, (CHECKOUT_DIR, Path.cwd())):
            candidate = base / PACKAGER_NPM_PATH
            if candidate.exists():
                return str(candidate)
    return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
