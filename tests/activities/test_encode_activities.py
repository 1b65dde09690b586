"""analyse_ladder reuses a stored ladder and records it (main or alongside), with its chunk
plan inline or stored by key; the join finds every chunk part in either request shape."""

from __future__ import annotations

import json

from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from reelflow.activities.deps import Deps, params_hash
from reelflow.activities.encode_activities import (
    EncodeActivities,
    _chunk_parts,
    _encode_adaptations,
)
from reelflow.catalog.models import LadderRow
from reelflow.domain.ladders import apple_fixed_ladder
from reelflow.lifecycle import contracts as c
from reelflow.storage import layout

SHA = "0123456789abcdef" * 4
PARAMS = {"method": "fixed", "codec": "h264", "max_kbps": 8000}


def analyse(deps: Deps, **kwargs: bool) -> c.LadderResult:
    req = c.AnalyseRequest(
        "film", 1, f"masters/film/{SHA}", SHA, "fixed", "h264", 8000, 60.0, **kwargs
    )
    result: c.LadderResult = ActivityEnvironment().run(EncodeActivities(deps).analyse_ladder, req)
    return result


def stored_ladder(deps: Deps) -> str:
    """A ladder already analysed: the activity must not need the master (or ffmpeg)."""
    key = layout.ladder_key("film", SHA, params_hash(PARAMS))
    deps.store.put_bytes(key, json.dumps(apple_fixed_ladder(1920, 1080).to_dict()).encode())
    return key


def test_a_stored_ladder_is_reused_and_recorded(local_deps: Deps) -> None:
    key = stored_ladder(local_deps)
    result = analyse(local_deps)
    assert result.ladder_key == key and result.method == "fixed"
    assert [r.height for r in result.rungs] == sorted(r.height for r in result.rungs)
    assert result.chunk_plan_key == "" and len(result.chunks) == result.chunk_count > 0
    with Session(local_deps.engine) as s:
        (row,) = s.exec(select(LadderRow)).all()
    assert row.method == "fixed" and "alongside" not in row.ladder


def test_the_plan_by_key_and_an_alongside_ladder(local_deps: Deps) -> None:
    stored_ladder(local_deps)
    result = analyse(local_deps, plan_by_key=True, alongside=True)
    assert result.chunks == [] and result.chunk_plan_key.endswith(".json")
    assert result.chunk_plan_key.startswith(result.ladder_key.removesuffix(".json") + "-chunks-")
    plan = json.loads(local_deps.store.get_bytes(result.chunk_plan_key))
    assert len(plan) == result.chunk_count
    with Session(local_deps.engine) as s:
        (row,) = s.exec(select(LadderRow)).all()
    assert set(row.ladder["alongside"]) == {"h264"}


def test_chunk_parts_in_both_request_shapes() -> None:
    ladder = apple_fixed_ladder(1280, 720)
    prefix = layout.rendition_prefix("film", SHA, "abc")
    names = [r.name for r in ladder.rungs]
    compact = c.JoinRequest("film", 1, SHA, "k", [], 12.0, 24.0, parts_prefix=prefix, chunk_count=2)
    got_prefix, parts = _chunk_parts(compact, ladder)
    assert got_prefix == prefix
    assert parts[names[0]] == [layout.chunk_part_key(prefix, i, names[0]) for i in (0, 1)]
    older = c.JoinRequest(
        "film",
        1,
        SHA,
        "k",
        [
            c.EncodeChunkResult(i, {n: layout.chunk_part_key(prefix, i, n) for n in names}, False)
            for i in (0, 1)
        ],
        12.0,
        24.0,
    )
    assert _chunk_parts(older, ladder) == (prefix, parts)


def test_encode_adaptations_tone_map_only_when_asked() -> None:
    hdr = _encode_adaptations({"hdr": True, "rotate_degrees": 90, "deinterlace": 1})
    assert (hdr.deinterlace, hdr.rotation, hdr.tonemap) == (True, 90, False)
    assert _encode_adaptations({"hdr": True, "tone_map": True}).tonemap is True
