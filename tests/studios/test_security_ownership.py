"""Title ownership attacks on the catalog, on SQLite and on a real PostgreSQL server.

A studio must not take over another studio's title id: not by delivering it again, not by
racing the first delivery, not through the workflow's registration of the title. Only the
ops command ``reelflow titles transfer`` moves a title.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from reelflow.activities.catalog_activities import CatalogActivities
from reelflow.activities.deps import Deps
from reelflow.catalog import titles as q
from reelflow.catalog.models import LifecycleEvent, Title
from reelflow.catalog.studio_ingest import (
    EVENT_TRANSFERRED,
    UnknownStudio,
    claim_title,
    transfer_title,
)
from reelflow.config import Settings, get_settings
from reelflow.lifecycle import contracts as c
from reelflow.studios.accounts import create_studio


def _title(engine: Engine, title_id: str) -> Title:
    with Session(engine) as s:
        row = s.get(Title, title_id)
    assert row is not None
    return row


def _id() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def test_the_first_claim_wins_and_a_second_studio_is_refused(catalog: Engine) -> None:
    title_id = _id()
    assert claim_title(catalog, title_id, "acme", "Film") == "acme"
    assert claim_title(catalog, title_id, "acme", "Film again") == "acme"  # its own: fine
    assert claim_title(catalog, title_id, "globex", "Stolen") == "acme"  # refused by caller
    row = _title(catalog, title_id)
    assert row.studio_id == "acme" and row.name == "Film"


def test_ops_titles_cannot_be_claimed_by_a_studio(catalog: Engine) -> None:
    title_id = _id()
    q.upsert_title(catalog, title_id=title_id, name="Ops film")
    assert claim_title(catalog, title_id, "acme", "Mine now") is None
    assert _title(catalog, title_id).studio_id is None


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_first_claims_leave_exactly_one_owner(catalog: Engine, round_: int) -> None:
    title_id = _id()
    studios = [f"studio-{i}" for i in range(8)]
    start = threading.Barrier(len(studios))
    results: dict[str, str | None] = {}
    errors: list[BaseException] = []

    def claim(studio_id: str) -> None:
        try:
            start.wait()
            results[studio_id] = claim_title(catalog, title_id, studio_id, f"by {studio_id}")
        except BaseException as exc:  # surfaced below: a crash must not pass as a refusal
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(sid,)) for sid in studios]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(results) == len(studios)
    owners = set(results.values())
    assert len(owners) == 1, results  # every claimant sees the same owner
    [owner] = owners
    assert owner in studios
    assert [sid for sid, seen in results.items() if seen == sid] == [owner]
    row = _title(catalog, title_id)
    assert row.studio_id == owner and row.name == f"by {owner}"


def test_registration_never_overwrites_the_owner(catalog: Engine) -> None:
    title_id = _id()
    claim_title(catalog, title_id, "acme", "Film")
    q.upsert_title(
        catalog, title_id=title_id, name="Film", studio_id="acme", callback_url="https://a/h"
    )
    with pytest.raises(q.TitleOwnedElsewhere):
        q.upsert_title(
            catalog,
            title_id=title_id,
            name="Hijacked",
            studio_id="globex",
            callback_url="https://globex.example/steal",
        )
    row = _title(catalog, title_id)
    assert (row.studio_id, row.name, row.callback_url) == ("acme", "Film", "https://a/h")
    # A run ops started (no studio) updates the metadata and keeps owner and callback.
    q.upsert_title(catalog, title_id=title_id, name="Film (ops fix)", version=2)
    row = _title(catalog, title_id)
    assert (row.studio_id, row.name, row.callback_url, row.version) == (
        "acme",
        "Film (ops fix)",
        "https://a/h",
        2,
    )


def test_the_register_title_activity_refuses_for_good(settings: Settings, catalog: Engine) -> None:
    title_id = _id()
    claim_title(catalog, title_id, "acme", "Film")
    deps = SimpleNamespace(engine=catalog, settings=settings)
    activities = CatalogActivities(cast(Deps, deps))
    inp = c.TitleInput(title_id=title_id, source="https://x/y", name="Hijack", studio_id="globex")
    with pytest.raises(ApplicationError) as exc:
        ActivityEnvironment().run(activities.register_title, inp)
    assert exc.value.non_retryable and exc.value.type == "TitleOwnedElsewhere"
    assert _title(catalog, title_id).studio_id == "acme"


def test_transfer_is_the_only_way_and_is_audited(settings: Settings, catalog: Engine) -> None:
    create_studio(settings, catalog, "globex", "Globex")
    title_id = _id()
    claim_title(catalog, title_id, "acme", "Film")
    q.upsert_title(
        catalog, title_id=title_id, name="Film", studio_id="acme", callback_url="https://a/h"
    )
    assert transfer_title(catalog, title_id, "globex", actor="ops:alice") == "acme"
    row = _title(catalog, title_id)
    # The old owner's endpoint stops hearing about the title.
    assert row.studio_id == "globex" and row.callback_url is None
    assert claim_title(catalog, title_id, "acme", "Back?") == "globex"
    with Session(catalog) as s:
        [event] = s.exec(
            select(LifecycleEvent).where(
                LifecycleEvent.title_id == title_id, LifecycleEvent.event == EVENT_TRANSFERRED
            )
        ).all()
    assert event.actor == "ops:alice" and event.detail == {"from": "acme", "to": "globex"}
    with pytest.raises(UnknownStudio):
        transfer_title(catalog, title_id, "nobody", actor="ops")
    with pytest.raises(q.TitleNotFound):
        transfer_title(catalog, _id(), "globex", actor="ops")
    assert _title(catalog, title_id).studio_id == "globex"


def test_cli_transfer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalog_url: str) -> None:
    from reelflow.catalog.db import make_engine
    from reelflow.cli.app import app

    monkeypatch.setenv("REELFLOW_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("REELFLOW_DATABASE_URL", catalog_url)
    get_settings.cache_clear()
    engine = make_engine(catalog_url)
    try:
        create_studio(get_settings(), engine, "globex", "Globex")
        title_id = _id()
        claim_title(engine, title_id, "acme", "Film")
        runner = CliRunner()
        ok = runner.invoke(app, ["titles", "transfer", title_id, "--to", "globex"])
        assert ok.exit_code == 0, ok.output
        assert "acme -> globex" in ok.output
        assert _title(engine, title_id).studio_id == "globex"
        bad: Any = runner.invoke(app, ["titles", "transfer", title_id, "--to", "nobody"])
        assert bad.exit_code == 2 and "no studio" in bad.output
        assert _title(engine, title_id).studio_id == "globex"
    finally:
        engine.dispose()
        get_settings.cache_clear()
