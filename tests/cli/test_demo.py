"""``reelflow demo``'s parts that need no stack. The demo itself starts and follows the
lifecycle that test_title_lifecycle_dev_server.py covers, on a generated sample."""

from __future__ import annotations

from pathlib import Path

from reelflow.cli.demo import generate_sample, new_demo_id
from reelflow.domain.ids import is_title_id


def test_demo_ids_are_title_ids_and_differ() -> None:
    ids = {new_demo_id() for _ in range(20)}
    assert len(ids) == 20
    assert all(is_title_id(i) and i.startswith("demo-") for i in ids)


def test_a_sample_already_made_is_reused(tmp_path: Path) -> None:
    sample = tmp_path / "sample-20s.mp4"
    sample.write_bytes(b"made before")
    assert generate_sample(sample, ffmpeg="/nonexistent/ffmpeg", seconds=20) == sample
    assert sample.read_bytes() == b"made before"
