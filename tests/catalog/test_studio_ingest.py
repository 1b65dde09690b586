"""Idempotency-Key records and title lookups behind studio ingest, on SQLite and PostgreSQL;
migration 0008 (studio namespaces, quotas) up over titles claimed before it, and down."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reelflow.catalog import titles
from reelflow.catalog.db import alembic_config, make_engine, upgrade
from reelflow.catalog.models import Title
from reelflow.catalog.studio_ingest import (
    FINAL_EVENTS,
    PENDING,
    claim_ingest_request,
    claim_title,
    complete_ingest_request,
    find_ingest_request,
    find_studio_title,
    release_ingest_request,
    version_is_final,
)


def test_a_key_is_claimed_once_then_answered(catalog: Engine) -> None:
    assert find_ingest_request(catalog, "s1", "k1") is None
    row_id = claim_ingest_request(catalog, "s1", "k1", "a" * 64, "t1")
    assert row_id is not None
    # The unique (studio, key) pair makes the claim exclusive, whatever the body.
    assert claim_ingest_request(catalog, "s1", "k1", "b" * 64, "t1") is None
    # Keys are per studio.
    assert claim_ingest_request(catalog, "s2", "k1", "a" * 64, "t1") is not None

    pending = find_ingest_request(catalog, "s1", "k1")
    assert pending is not None and pending.id == row_id
    assert pending.status_code == PENDING and pending.response == {}
    assert pending.body_sha256 == "a" * 64 and pending.title_id == "t1"

    complete_ingest_request(catalog, row_id, 202, {"title_id": "t1"})
    answered = find_ingest_request(catalog, "s1", "k1")
    assert answered is not None
    assert answered.status_code == 202 and answered.response == {"title_id": "t1"}


def test_only_a_pending_claim_is_released(catalog: Engine) -> None:
    pending = claim_ingest_request(catalog, "s1", "gone", "a" * 64, "t1")
    assert pending is not None
    release_ingest_request(catalog, pending)
    assert find_ingest_request(catalog, "s1", "gone") is None
    # Released: the key can be claimed afresh.
    assert claim_ingest_request(catalog, "s1", "gone", "a" * 64, "t1") is not None

    answered = claim_ingest_request(catalog, "s1", "kept", "a" * 64, "t1")
    assert answered is not None
    complete_ingest_request(catalog, answered, 202, {})
    release_ingest_request(catalog, answered)  # a late release of a finished request
    kept = find_ingest_request(catalog, "s1", "kept")
    assert kept is not None and kept.status_code == 202


def test_find_studio_title_looks_only_in_the_studios_namespace(catalog: Engine) -> None:
    assert find_studio_title(catalog, "s1", "t1") is None
    with Session(catalog) as s:
        s.add(Title(id="s1--t1", name="First", studio_id="s1", studio_title_id="t1"))
        s.add(Title(id="t1", name="Ops", studio_id=None))
        s.commit()
    title = find_studio_title(catalog, "s1", "t1")
    assert title is not None and title.id == "s1--t1"
    assert find_studio_title(catalog, "s2", "t1") is None


def test_a_version_is_final_once_published_taken_down_or_rejected(catalog: Engine) -> None:
    titles.upsert_title(catalog, title_id="s1--f", name="F", studio_id="s1")
    titles.append_event(catalog, title_id="s1--f", event="failed", actor="wf", version=1)
    titles.append_event(catalog, title_id="s1--f", event="qc_failed", actor="wf", version=2)
    assert not version_is_final(catalog, "s1--f", 1)
    assert not version_is_final(catalog, "s1--f", 2)
    for version, event in enumerate(FINAL_EVENTS, start=3):
        titles.append_event(catalog, title_id="s1--f", event=event, actor="wf", version=version)
        assert version_is_final(catalog, "s1--f", version)


def test_migration_0008_keeps_earlier_studio_titles_under_their_ids(catalog_url: str) -> None:
    command.downgrade(alembic_config(catalog_url), "0007")
    engine = make_engine(catalog_url)
    assert "studio_title_id" not in {c["name"] for c in inspect(engine).get_columns("titles")}
    with engine.begin() as conn:  # the shared namespace of before: bare ids
        for title_id, studio in (("old-film", "acme"), ("ops-film", None)):
            conn.execute(
                text(
                    "INSERT INTO titles (id, name, synopsis, genres, version, state, studio_id,"
                    " created_at, updated_at) VALUES (:id, 'F', '', '[]', 1, 'published',"
                    " :studio, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": title_id, "studio": studio},
            )
    engine.dispose()
    upgrade(catalog_url)
    engine = make_engine(catalog_url)
    try:
        legacy = find_studio_title(engine, "acme", "old-film")
        assert legacy is not None and legacy.id == "old-film"  # still its catalog id
        again = claim_title(engine, "acme", "old-film", "F v2", 2)
        assert again is not None and (again.catalog_id, again.created) == ("old-film", False)
        # Another studio's "old-film" is a title of its own; the ops title is nobody's.
        theirs = claim_title(engine, "globex", "old-film", "Theirs")
        assert theirs is not None and theirs.catalog_id == "globex--old-film"
        with Session(engine) as s:
            ops = s.get(Title, "ops-film")
        assert ops is not None and ops.studio_title_id is None
    finally:
        engine.dispose()


def test_search_finds_titles_from_before_and_after_migration_0008(catalog_url: str) -> None:
    """0008 rebuilds `titles` on SQLite; the full-text index must follow (a regression: the
    rebuild dropped its triggers, and new titles could not be found)."""
    from reelflow.catalog.search import match_subquery
    from reelflow.catalog.titles import upsert_title

    command.downgrade(alembic_config(catalog_url), "0007")
    engine = make_engine(catalog_url)
    with engine.begin() as conn:  # as 0007's code wrote it
        conn.execute(
            text(
                "INSERT INTO titles (id, name, synopsis, genres, version, state, created_at,"
                " updated_at) VALUES ('before', 'Harbour Lights', '', '[]', 1, 'published',"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    upgrade(catalog_url)
    engine = make_engine(catalog_url)
    try:
        upsert_title(engine, title_id="after", name="Harbour Nights")
        upsert_title(engine, title_id="before", name="Harbour Lights Revisited")

        def found(q: str) -> set[str]:
            sub = match_subquery(engine.dialect.name, q)
            assert sub is not None
            with Session(engine) as s:
                return {str(row[0]) for row in s.execute(select(sub.c.title_id))}

        assert found("harbour") == {"before", "after"}
        assert found("revisited") == {"before"} and found("nights") == {"after"}
    finally:
        engine.dispose()
