"""Idempotency-Key records and title lookups behind studio ingest, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from reelflow.catalog.models import Title
from reelflow.catalog.studio_ingest import (
    PENDING,
    claim_ingest_request,
    complete_ingest_request,
    find_ingest_request,
    find_title,
    release_ingest_request,
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


def test_find_title(catalog: Engine) -> None:
    assert find_title(catalog, "t1") is None
    with Session(catalog) as s:
        s.add(Title(id="t1", name="First", studio_id="s1"))
        s.commit()
    title = find_title(catalog, "t1")
    assert title is not None and title.studio_id == "s1"
