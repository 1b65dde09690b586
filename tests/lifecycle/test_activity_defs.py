"""The typed activity definitions: one per wire name, on its queue, never run themselves.

That the workers register an implementation of each, with the same signature, is
tests/workers/test_registry.py.
"""

from __future__ import annotations

import pytest
from temporalio import activity

from reelflow.lifecycle import activity_defs as defs
from reelflow.lifecycle import contracts as c
from reelflow.lifecycle import events_upkeep as u
from reelflow.lifecycle import live_channels as lv
from reelflow.lifecycle import recs_training as r

# As they sit in recorded histories: renaming one breaks the replay of every running title.
CONTROL = {
    "record_event", "register_title", "generate_keys", "publish_title", "update_availability",
    "expire_title", "notify_studio",
    "plan_events_upkeep", "upkeep_event_type", "expire_events",  # EventsUpkeepWorkflow
    "train_recs_model", "promote_recs_model", "precompute_recs_rows",  # RecsTrainingWorkflow
}  # fmt: skip
MEDIA = {
    "ingest_master", "run_qc", "analyse_ladder", "encode_chunk", "join_renditions",
    "encode_audio", "prepare_subtitles", "make_thumbnails", "package_title",
}  # fmt: skip
LIVE = {"run_live_channel"}  # LiveChannelWorkflow


def test_every_wire_name_has_one_definition() -> None:
    constants = {
        value
        for module in (c, u, r)
        for key, value in vars(module).items()
        if key.isupper() and isinstance(value, str)
    }
    # live_channels also names the channel workflow's signals: only its activity counts here.
    assert set(defs.STUBS) == constants | {lv.RUN_LIVE_CHANNEL}
    for name, stub in defs.STUBS.items():
        assert activity._Definition.must_from_callable(stub).name == name


def test_wire_names_and_queues_are_pinned() -> None:
    assert {n for n, q in defs.QUEUE.items() if q == "control"} == CONTROL
    assert {n for n, q in defs.QUEUE.items() if q == "media"} == MEDIA
    assert {n for n, q in defs.QUEUE.items() if q == "live"} == LIVE


def test_definitions_refuse_to_run() -> None:
    with pytest.raises(NotImplementedError, match="is a definition"):
        defs.run_qc(c.QCRequest("t", 1, "masters/t/x", "x"))
