"""What activities get from their worker: parameter hashes in keys, scratch directories
that never outlive the call, and local paths for stored objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelflow.activities.deps import Deps, params_hash


def test_params_hash_is_short_stable_and_order_free() -> None:
    a = params_hash({"codec": "h264", "max_kbps": 8000})
    assert a == params_hash({"max_kbps": 8000, "codec": "h264"})
    assert len(a) == 12 and a != params_hash({"codec": "av1", "max_kbps": 8000})


def test_scratch_is_removed_even_when_the_activity_fails(local_deps: Deps) -> None:
    with pytest.raises(RuntimeError), local_deps.scratch("encode") as work:
        (work / "partial.mp4").write_bytes(b"x")
        kept = work
        raise RuntimeError("ffmpeg died")
    assert not kept.exists() and kept.parent == local_deps.work_root


def test_a_local_store_object_is_used_in_place(local_deps: Deps) -> None:
    local_deps.store.put_bytes("masters/film/abc", b"master")
    path = local_deps.local_copy("masters/film/abc")
    assert path.read_bytes() == b"master"
    assert path == local_deps.store.local_path("masters/film/abc")
    assert isinstance(path, Path)
