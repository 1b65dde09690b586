"""The consent rule (events.privacy): an opted-out viewer's behavioural events are dropped,
operational ones kept without the pseudonym or device; a consenting viewer's are untouched."""

from __future__ import annotations

import re
import uuid

from reelflow.events.privacy import (
    ACCOUNT_PATTERN,
    ANONYMOUS,
    OPERATIONAL_TYPES,
    apply_consent,
    is_behavioural,
)
from reelflow.events.schema import EVENT_TYPES, Context, Exposure, StoredEvent, store
from tests.events.conftest import NOW, make_event

BEHAVIOURAL = {"play_start", "progress", "play_end", "search", "row_impression", "row_click",
               "exposure", "thumb"}  # fmt: skip


def _exposure() -> StoredEvent:
    made = Exposure(type="exposure", id=uuid.uuid4(), ts=NOW, experiment="rows", variant="b")
    ctx = Context(viewer="v_a", country="FR", plan="basic", session="s1", device="d1")
    return store(made, ctx, now=NOW)


def _batch() -> list[StoredEvent]:
    return [
        make_event("search", query="space"),
        make_event("progress", title="t1", position_s=3.0),
        _exposure(),  # server-made, as the API records it at playback start
        make_event("qoe", title="t1", startup_ms=300.0),
        make_event("ad_impression", ad="ad-1", title="t1"),
        make_event("ad_quartile", ad="ad-1", quartile="midpoint"),
    ]


def test_every_type_is_classified_and_the_named_ones_as_the_policy_says() -> None:
    operational = {t for t in EVENT_TYPES if not is_behavioural(t)}
    assert operational == {"qoe", "ad_impression", "ad_quartile"} == OPERATIONAL_TYPES
    assert {t for t in EVENT_TYPES if is_behavioural(t)} >= BEHAVIOURAL
    # A type nobody classified is behavioural: dropped for an opted-out viewer.
    assert is_behavioural("some_future_type")


def test_consent_keeps_everything_as_it_is() -> None:
    batch = _batch()
    kept, dropped = apply_consent(batch, True)
    assert kept == batch and dropped == 0


def test_no_consent_drops_behaviour_and_anonymises_operations() -> None:
    batch = _batch()
    kept, dropped = apply_consent(batch, False)
    assert dropped == 3
    assert [e.type for e in kept] == ["qoe", "ad_impression", "ad_quartile"]
    assert {e.viewer for e in kept} == {ANONYMOUS} and {e.device for e in kept} == {None}
    originals = {e.id: e for e in batch}
    for event in kept:
        before = originals[event.id]
        # The session (random per playback) stays so QoE counts sessions; so do the fields.
        assert (event.session, event.title, event.fields) == (
            before.session, before.title, before.fields,
        )  # fmt: skip
        assert (event.country, event.plan) == (before.country, before.plan)
    assert not ANONYMOUS.startswith("v_")  # never a viewer's pseudonym


def test_the_account_rule() -> None:
    assert re.fullmatch(ACCOUNT_PATTERN, "alice@example.com")
    assert re.fullmatch(ACCOUNT_PATTERN, "a" * 256)
    for bad in ("", "a" * 257, "bad\x01id", "line\nbreak"):
        assert re.fullmatch(ACCOUNT_PATTERN, bad) is None
