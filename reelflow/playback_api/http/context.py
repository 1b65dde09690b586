"""Process-wide state of the API (built once at start-up) and the FastAPI dependencies on it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.engine import Engine

from reelflow.config import Settings
from reelflow.playback_api.auth.auth import TokenVerifier, Viewer
from reelflow.playback_api.auth.revocation import Revocations
from reelflow.playback_api.auth.signing import media_link_secret
from reelflow.playback_api.delivery.file_cache import SmallFileCache
from reelflow.playback_api.delivery.key_policy import (
    KeyPolicy,
    key_policy_from_settings,
    log_key_policy,
)
from reelflow.playback_api.delivery.license_proxy import check_upstream_secrets
from reelflow.playback_api.delivery.sessions import SessionStore
from reelflow.playback_api.delivery.title_cache import TitleCache, TTLCache
from reelflow.playback_api.http.problems import Problem
from reelflow.storage import ObjectStore

if TYPE_CHECKING:
    from temporalio.client import Client

    from reelflow.events.queries import EventFiles
    from reelflow.playback_api.delivery.experiment_exposure import RunningExperiments
    from reelflow.playback_api.delivery.home_rows import HomeCatalog
    from reelflow.recs.artwork_bandit import ArtworkChooser
    from reelflow.recs.viewer_recs import RecsReader


@dataclass
class ApiContext:
    settings: Settings
    engine: Engine
    store: ObjectStore
    signing_secret: bytes
    link_secret: str
    verifier: TokenVerifier
    titles: TitleCache  # titles and keys, cached for ttl_s (title_cache.py)
    redis: Redis
    sessions: SessionStore
    public_base: str  # e.g. http://127.0.0.1:8000
    media_base: str  # base of signed /media/ URLs: the edge, or the API itself
    key_policy: KeyPolicy  # the track classes each DRM system may unlock (key_policy.py)
    revocations: Revocations  # revoked token ids and accounts, in Redis (revocation.py)
    # Filtered manifests per (kind, title, version, name, max height, drm): package content
    # under a version never changes, so only entitlement-dependent variants multiply.
    manifests: TTLCache[tuple[str, ...], str] = field(
        default_factory=lambda: TTLCache(ttl_s=300, max_entries=4096), repr=False
    )
    small_files: SmallFileCache = field(default_factory=SmallFileCache, repr=False)
    _event_files: EventFiles | None = field(default=None, repr=False)
    _experiments: RunningExperiments | None = field(default=None, repr=False)
    _artwork: ArtworkChooser | None = field(default=None, repr=False)
    _home: HomeCatalog | None = field(default=None, repr=False)
    _recs: RecsReader | None = field(default=None, repr=False)
    _temporal: Client | None = field(default=None, repr=False)
    _temporal_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @classmethod
    def build(cls, settings: Settings, engine: Engine, store: ObjectStore) -> ApiContext:
        from reelflow.playback_api.auth.auth_config import verifier_from_settings

        secrets = settings.secrets()
        public = settings.resolved_public_base_url
        key_policy = key_policy_from_settings(settings)  # ConfigError: refuse to start
        check_upstream_secrets(settings)  # ConfigError: two vendors on one secret
        log_key_policy(key_policy)
        redis = redis_client(settings)
        return cls(
            settings=settings,
            engine=engine,
            store=store,
            signing_secret=secrets.signing_secret,
            link_secret=media_link_secret(secrets.signing_secret),
            verifier=verifier_from_settings(settings, secrets.signing_secret),
            titles=TitleCache(engine, secrets.master_keys),
            redis=redis,
            sessions=SessionStore(redis, lease_ttl_s=settings.lease_ttl_s),
            public_base=public,
            media_base=(settings.media_base_url or public).rstrip("/"),
            key_policy=key_policy,
            revocations=Revocations(redis, ttl_s=settings.auth_max_token_lifetime_s),
        )

    async def temporal(self) -> Client:
        """The Temporal client, connected on first use (the API starts without Temporal)."""
        from reelflow.workflows.client import TemporalUnavailable, connect

        async with self._temporal_lock:
            if self._temporal is None:
                try:
                    self._temporal = await asyncio.wait_for(connect(self.settings), timeout=5)
                except (TemporalUnavailable, TimeoutError) as exc:
                    raise Problem(
                        "service_unavailable", "the workflow service is not reachable"
                    ) from exc
            return self._temporal

    @property
    def event_files(self) -> EventFiles:
        """Where the viewer event files are (the admin QoE queries read them), built on first
        use: DuckDB and pyarrow load only in an API that is asked for them."""
        if self._event_files is None:
            from reelflow.events.queries import EventFiles

            self._event_files = EventFiles.from_settings(self.settings)
        return self._event_files

    @property
    def experiments(self) -> RunningExperiments:
        """The running experiments a playback start assigns from, cached in-process
        (delivery/experiment_exposure.py), built on first use."""
        if self._experiments is None:
            from reelflow.playback_api.delivery.experiment_exposure import RunningExperiments

            self._experiments = RunningExperiments(self.engine)
        return self._experiments

    @property
    def home(self) -> HomeCatalog:
        """The home rows' cached catalog reads (delivery/home_rows.py), built on first use."""
        if self._home is None:
            from reelflow.playback_api.delivery.home_rows import HomeCatalog

            self._home = HomeCatalog(self.engine)
        return self._home

    @property
    def recs(self) -> RecsReader:
        """The recommender's reader of a viewer's lists (recs/serving.py: precomputed rows in
        Redis, fold-in from the serving model), built on first use: the model loads only in
        an API that serves a home or a search."""
        if self._recs is None:
            from reelflow.recs.serving import RecsService

            self._recs = RecsService.from_settings(
                self.settings, self.redis, self.store, self.engine
            )
        return self._recs

    @property
    def artwork_chooser(self) -> ArtworkChooser:
        """The per-viewer artwork bandit's posteriors (recs/artwork_bandit.py), per process."""
        if self._artwork is None:
            from reelflow.recs.artwork_bandit import ArtworkChooser

            self._artwork = ArtworkChooser(self.redis)
        return self._artwork

    async def close(self) -> None:
        await self.redis.aclose()


# How long a request waits for a free Redis connection before its 503: longer than any
# burst's queue, shorter than a player's request timeout.
REDIS_POOL_WAIT_S = 2.0


def redis_client(settings: Settings, *, wait_s: float = REDIS_POOL_WAIT_S) -> Redis:
    """The API's Redis client: at most ``redis_max_connections`` per process, and a request
    finding them all busy waits for one (up to ``wait_s``, then ConnectionError: a 503),
    where redis-py's default pool raises at once past 100, which under a burst turned
    requests into 503s. Redis itself takes 10,000 clients by default."""
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=wait_s,
        socket_timeout=5,
        socket_connect_timeout=2,
        # A pooled connection Redis has closed (a restart, a failover) fails when next used:
        # send the command once more on a new connection rather than answer a 503 for each
        # dead connection after Redis is back. Connection errors only: a command that timed
        # out may have run.
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )
    return Redis.from_pool(pool)


def api_context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


async def get_ctx(request: Request) -> ApiContext:
    """FastAPI dependency. Async on purpose: a sync dependency costs a thread-pool hop per
    request, which under load was the largest single cost of the hot paths."""
    return api_context(request)


_bearer = HTTPBearer(
    auto_error=False, description="Viewer JWT from the identity provider (RS256/ES256)"
)


def _bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem("invalid_token", "a bearer token is required")
    return token.strip()


async def verified(ctx: ApiContext, token: str) -> Viewer:
    """The token's viewer: from memory when verified before; otherwise verified in a worker
    thread, since that may fetch the identity provider's keys (seconds, at worst), which
    must not stall the event loop."""
    viewer = ctx.verifier.cached(token)
    if viewer is None:
        viewer = await asyncio.to_thread(ctx.verifier.verify, token)
    return viewer


async def viewer_without_revocation_check(request: Request) -> Viewer:
    """The token's viewer, its revocation NOT checked yet: only for the hot routes that run
    that check inside their first Redis script before any other work (POST /v1/events, the
    playback start's rate limit and the license's session read: auth/revocation.py
    ``guarded``), each saving a round trip so, and that set ``request.state.account`` after
    it. Anywhere else, a revoked token would pass."""
    return await verified(api_context(request), _bearer_token(request))


async def current_viewer(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> Viewer:
    """The authenticated viewer, or a 401 invalid_token / token_expired problem."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem("invalid_token", "a bearer token is required")
    ctx = api_context(request)
    viewer = await verified(ctx, credentials.credentials)
    await ctx.revocations.check(viewer)
    request.state.account = viewer.sub
    return viewer


async def current_admin(viewer: Viewer = Depends(current_viewer)) -> Viewer:
    if not viewer.admin:
        raise Problem("forbidden", "this endpoint needs an admin token")
    return viewer
