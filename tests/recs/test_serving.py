"""Serving end to end on real parts: watching in the events store, titles and viewing
progress in the catalog (SQLite), models in a local object store, rows in Redis. Training
and precompute as the workflow's activities run them; the API's reader on top."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from reelflow.catalog.db import make_engine, upgrade
from reelflow.catalog.recs_queries import title_facts
from reelflow.catalog.viewer_queries import save_progress
from reelflow.config import Settings
from reelflow.events.pseudonym import pseudonym_key
from reelflow.events.queries import EventFiles
from reelflow.recs.event_history import history_dataset, watched_rows
from reelflow.recs.model_store import ModelStore
from reelflow.recs.precompute import precompute_rows
from reelflow.recs.rows_cache import rows_key
from reelflow.recs.serving import RecsService
from reelflow.recs.training import train_candidate
from reelflow.storage import store_from_settings
from tests.recs.production import (
    DURATION_S,
    NOW,
    account,
    add_titles,
    favourite,
    viewer_of,
    world_events,
    write_events,
)


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    s = Settings(home=tmp_path / "state", redis_url=redis_url)
    s.ensure_home()
    upgrade(s.resolved_database_url)
    add_titles(make_engine(s.resolved_database_url))
    write_events(s, world_events(s))
    return s


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[RecsService]:
    client = AsyncRedis.from_url(settings.redis_url)
    engine = make_engine(settings.resolved_database_url)
    key = pseudonym_key(settings.secrets().signing_secret)
    # Poll 0: every request checks the pointer, so a promotion shows at once.
    yield RecsService(client, ModelStore(store_from_settings(settings)), engine, key,
                      rows_ttl_s=600, poll_s=0.0)  # fmt: skip
    await client.aclose()


def train(settings: Settings) -> int:
    """What the training workflow does: train, store, promote, precompute."""
    engine = make_engine(settings.resolved_database_url)
    models = ModelStore(store_from_settings(settings))
    rows = watched_rows(EventFiles.from_settings(settings), NOW - timedelta(days=365), NOW)
    data = history_dataset(rows, title_facts(engine))
    candidate = train_candidate(data, models.load_serving())
    version = models.save(candidate.model, candidate.stored_metrics())
    models.promote(version)
    client = redis.Redis.from_url(settings.redis_url)
    active_since = int((NOW - timedelta(days=30)).timestamp())
    precompute_rows(client, models.load(version), data, active_since, 600)
    client.close()
    return version


def watch(settings: Settings, account_name: str, titles: list[str]) -> None:
    engine = make_engine(settings.resolved_database_url)
    for title in titles:
        save_progress(engine, account_name, title, DURATION_S - 60, DURATION_S)


async def test_no_model_yet_gives_empty_lists(settings: Settings) -> None:
    """Built the way the API builds it, from the settings (REELFLOW_RECS_*)."""
    configured = settings.model_copy(update={"recs_rows_ttl_s": 120, "recs_model_poll_s": 5.0})
    client = AsyncRedis.from_url(settings.redis_url)
    engine = make_engine(settings.resolved_database_url)
    service = RecsService.from_settings(configured, client, store_from_settings(settings), engine)
    assert (service._ttl, service.serving.poll_s) == (120, 5.0)
    recs = await service.viewer_recs(account(0), "FR", "hybrid")
    assert (recs.model_version, recs.top_picks, recs.trending, recs.genres) == ("", (), (), ())
    with pytest.raises(ValueError, match="unknown recommendation model"):
        await service.viewer_recs(account(0), "FR", "ease")  # type: ignore[arg-type]
    await client.aclose()


async def test_active_viewers_are_served_their_precomputed_rows(
    settings: Settings, service: RecsService
) -> None:
    assert train(settings) == 1
    recs = await service.viewer_recs(account(0), "FR", "hybrid")
    assert (recs.model, recs.model_version, recs.folded_in) == ("hybrid", "1", False)
    genre = favourite(0)
    assert all(t.startswith(f"{genre}-") for t in recs.top_picks[:5]), recs.top_picks[:8]
    assert recs.genres[0] == "Documentary"
    assert 1 <= len(recs.because) <= 3
    assert all(b.anchor.startswith(f"{genre}-") for b in recs.because)  # not the abandon
    popular = await service.viewer_recs(account(0), "FR", "popularity")
    assert popular.model == "popularity" and popular.top_picks != recs.top_picks
    assert set(popular.top_picks) <= set(popular.trending)


async def test_a_viewer_with_three_plays_is_folded_in_and_then_cached(
    settings: Settings, service: RecsService
) -> None:
    train(settings)
    newbie = f"new-{uuid.uuid4().hex[:8]}"
    watch(settings, newbie, ["com-1", "com-2", "com-3"])
    recs = await service.viewer_recs(newbie, "FR", "hybrid")
    assert recs.folded_in and recs.model_version == "1"
    assert all(t.startswith("com-") for t in recs.top_picks[:5]), recs.top_picks[:8]
    assert not {"com-1", "com-2", "com-3"} & set(recs.top_picks)
    assert recs.genres[0] == "Comedy" and recs.because[0].anchor in {"com-1", "com-2", "com-3"}
    again = await service.viewer_recs(newbie, "FR", "hybrid")
    assert not again.folded_in and again.top_picks == recs.top_picks
    # A fourth play moves their progress past the cached rows: folded in again.
    watch(settings, newbie, ["dra-1"])
    moved = await service.viewer_recs(newbie, "FR", "hybrid")
    assert moved.folded_in and "dra-1" not in moved.top_picks


async def test_a_stranger_gets_trending_and_no_key(
    settings: Settings, service: RecsService
) -> None:
    train(settings)
    stranger = f"stranger-{uuid.uuid4().hex[:8]}"
    recs = await service.viewer_recs(stranger, "FR", "hybrid")
    assert recs.top_picks == recs.trending and len(recs.trending) > 0
    assert await service.redis.exists(rows_key(viewer_of(settings, stranger))) == 0


async def test_a_new_title_reaches_matching_viewers_after_the_next_training_run(
    settings: Settings, service: RecsService
) -> None:
    train(settings)
    add_titles(make_engine(settings.resolved_database_url), {"doc-new": "Documentary"})
    fan = f"fan-{uuid.uuid4().hex[:8]}"
    watch(settings, fan, ["doc-1", "doc-2", "doc-3"])
    before = await service.viewer_recs(fan, "FR", "hybrid")
    assert "doc-new" not in before.top_picks  # metadata only: no model knows it yet
    assert train(settings) == 2  # no play of it anywhere: it comes from its metadata
    after = await service.viewer_recs(fan, "FR", "hybrid")
    assert after.model_version == "2" and after.folded_in  # rows of v1 are not reused
    assert "doc-new" in after.top_picks[:8], after.top_picks[:10]
    comedy = await service.viewer_recs(account(1), "FR", "hybrid")  # a comedy fan's rows
    assert comedy.top_picks.index("doc-new") > 8


async def test_rollback_serves_the_earlier_version(
    settings: Settings, service: RecsService
) -> None:
    train(settings)
    train(settings)
    viewer = f"new-{uuid.uuid4().hex[:8]}"
    watch(settings, viewer, ["dra-1", "dra-2", "dra-3"])
    assert (await service.viewer_recs(viewer, "FR", "hybrid")).model_version == "2"
    ModelStore(store_from_settings(settings)).rollback(1)
    recs = await service.viewer_recs(viewer, "FR", "hybrid")
    assert recs.model_version == "1" and recs.folded_in  # v2's rows are refolded with v1
    # An active viewer known only to the events store keeps v2's rows until a precompute.
    active = await service.viewer_recs(account(0), "FR", "hybrid")
    assert active.model_version == "2" and not active.folded_in


async def test_without_redis_every_request_folds_in(settings: Settings) -> None:
    train(settings)
    down = AsyncRedis.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    engine = make_engine(settings.resolved_database_url)
    key = pseudonym_key(settings.secrets().signing_secret)
    models = ModelStore(store_from_settings(settings))
    service = RecsService(down, models, engine, key, rows_ttl_s=600, poll_s=60.0)
    viewer = f"new-{uuid.uuid4().hex[:8]}"
    watch(settings, viewer, ["doc-1", "doc-2", "doc-3"])
    for _ in range(2):
        recs = await service.viewer_recs(viewer, "FR", "hybrid")
        assert recs.folded_in and recs.top_picks[0].startswith("doc-")
    await down.aclose()
