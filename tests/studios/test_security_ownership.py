"""Title ownership attacks on the catalog, on SQLite and on a real PostgreSQL server.

Each studio names its titles in a namespace of its own (catalog id ``<studio>--<id>``), so
no delivery can reach, or learn about, another studio's title: not by delivering it again,
not by racing the first delivery, not through the workflow's registration of the title.
Only the ops command ``reelflow titles transfer`` moves a title.
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
    BadStudioTitleId,
    NameTakenByNewOwner,
    TitleClaim,
    UnknownStudio,
    claim_title,
    find_studio_title,
    release_title,
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


def test_each_studio_names_titles_in_its_own_namespace(catalog: Engine) -> None:
    title_id = _id()
    first = claim_title(catalog, "acme", title_id, "Film")
    assert first == TitleClaim(f"acme--{title_id}", created=True)
    assert claim_title(catalog, "acme", title_id, "Film again") == TitleClaim(
        f"acme--{title_id}", created=False
    )
    # The same id from another studio is another title: nothing about acme's shows.
    assert claim_title(catalog, "globex", title_id, "Theirs") == TitleClaim(
        f"globex--{title_id}", created=True
    )
    row = _title(catalog, f"acme--{title_id}")
    assert (row.studio_id, row.studio_title_id, row.name) == ("acme", title_id, "Film")


def test_a_title_ops_holds_at_the_namespaced_id_is_refused(catalog: Engine) -> None:
    title_id = _id()
    q.upsert_title(catalog, title_id=f"acme--{title_id}", name="Ops film")
    assert claim_title(catalog, "acme", title_id, "Mine now") is None
    assert _title(catalog, f"acme--{title_id}").studio_id is None


def test_new_ids_must_fit_the_namespace(catalog: Engine) -> None:
    with pytest.raises(BadStudioTitleId, match="--"):
        claim_title(catalog, "acme", "a--b", "Ambiguous")  # "acme--a--b" could be studio "acme--a"
    room = 64 - len("acme--")
    assert claim_title(catalog, "acme", "x" * room, "Fits") is not None
    with pytest.raises(BadStudioTitleId, match=f"at most {room} characters"):
        claim_title(catalog, "acme", "x" * (room + 1), "Too long")


def test_a_released_claim_frees_the_id_unless_something_came_of_it(catalog: Engine) -> None:
    title_id = _id()
    claim = claim_title(catalog, "acme", title_id, "Film")
    assert claim is not None and claim.created
    assert not release_title(catalog, claim.catalog_id, "globex")  # not globex's to release
    assert release_title(catalog, claim.catalog_id, "acme")
    with Session(catalog) as s:
        assert s.get(Title, claim.catalog_id) is None
    again = claim_title(catalog, "acme", title_id, "Film")
    assert again == TitleClaim(claim.catalog_id, created=True)
    q.append_event(catalog, title_id=claim.catalog_id, event="ingest_started", actor="wf")
    assert not release_title(catalog, claim.catalog_id, "acme")
    assert _title(catalog, claim.catalog_id).studio_id == "acme"


@pytest.mark.parametrize("same_studio", [True, False])
def test_concurrent_first_claims(catalog: Engine, same_studio: bool) -> None:
    title_id = _id()
    studios = ["acme"] * 8 if same_studio else [f"studio-{i}" for i in range(8)]
    start = threading.Barrier(len(studios))
    results: list[TitleClaim | None] = []
    errors: list[BaseException] = []

    def claim(studio_id: str) -> None:
        try:
            start.wait()
            results.append(claim_title(catalog, studio_id, title_id, f"by {studio_id}"))
        except BaseException as exc:  # surfaced below: a crash must not pass as a refusal
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(sid,)) for sid in studios]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(results) == len(studios) and None not in results
    ids = {r.catalog_id for r in results if r is not None}
    created = [r for r in results if r is not None and r.created]
    if same_studio:  # one title, claimed exactly once
        assert ids == {f"acme--{title_id}"} and len(created) == 1
    else:  # every studio got its own title: no one was refused
        assert ids == {f"{sid}--{title_id}" for sid in studios} and len(created) == 8


def test_registration_never_overwrites_the_owner(catalog: Engine) -> None:
    title_id = f"acme--{_id()}"
    claim_title(catalog, "acme", title_id.removeprefix("acme--"), "Film")
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
    title_id = f"acme--{_id()}"
    claim_title(catalog, "acme", title_id.removeprefix("acme--"), "Film")
    deps = SimpleNamespace(engine=catalog, settings=settings)
    activities = CatalogActivities(cast(Deps, deps))
    inp = c.TitleInput(title_id=title_id, source="https://x/y", name="Hijack", studio_id="globex")
    with pytest.raises(ApplicationError) as exc:
        ActivityEnvironment().run(activities.register_title, inp)
    assert exc.value.non_retryable and exc.value.type == "TitleOwnedElsewhere"
    assert _title(catalog, title_id).studio_id == "acme"


def test_transfer_is_the_only_way_and_is_audited(settings: Settings, catalog: Engine) -> None:
    create_studio(settings, catalog, "globex", "Globex")
    name = _id()
    title_id = f"acme--{name}"
    claim_title(catalog, "acme", name, "Film")
    q.upsert_title(
        catalog, title_id=title_id, name="Film", studio_id="acme", callback_url="https://a/h"
    )
    assert transfer_title(catalog, title_id, "globex", actor="ops:alice") == "acme"
    row = _title(catalog, title_id)
    # The old owner's endpoint stops hearing about the title.
    assert row.studio_id == "globex" and row.callback_url is None
    # The new owner names it as the old one did; the old owner no longer has it.
    found = find_studio_title(catalog, "globex", name)
    assert found is not None and found.id == title_id
    assert find_studio_title(catalog, "acme", name) is None
    assert claim_title(catalog, "acme", name, "Back?") is None
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
    # A name the new owner already uses: refused, nothing moves.
    other = _id()
    claim_title(catalog, "acme", other, "Acme's")
    claim_title(catalog, "globex", other, "Globex's")
    with pytest.raises(NameTakenByNewOwner):
        transfer_title(catalog, f"acme--{other}", "globex", actor="ops")
    assert _title(catalog, f"acme--{other}").studio_id == "acme"


def test_cli_transfer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalog_url: str) -> None:
    from reelflow.catalog.db import make_engine
    from reelflow.cli.app import app

    monkeypatch.setenv("REELFLOW_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("REELFLOW_DATABASE_URL", catalog_url)
    get_settings.cache_clear()
    engine = make_engine(catalog_url)
    try:
        create_studio(get_settings(), engine, "globex", "Globex")
        title_id = f"acme--{_id()}"
        claim_title(engine, "acme", title_id.removeprefix("acme--"), "Film")
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
