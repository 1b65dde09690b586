"""Real nginx: a deleted (taken-down) segment stops being served within seconds, and
render.py writes the config holding the link secret as a 0600 file from its first byte."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.test_nginx_edge import NGINX, SECRET, Edge, _run_edge, load_render, prefix

SEGMENT = "tt-001/v1/video/360/1.m4s"
# open_file_cache_valid is 2 s; allow for the poll step and a loaded 2-core machine.
TAKEDOWN_LIMIT_S = 4.0


@pytest.fixture
def own_edge() -> Iterator[tuple[Edge, Path]]:
    """An edge of its own: this test deletes files the shared module fixture serves."""
    if not NGINX.exists():
        pytest.fail("nginx missing: apt-get install nginx")
    base = Path(tempfile.mkdtemp(prefix="reelflow-edge-takedown-"))
    try:
        for edge in _run_edge(base):
            yield edge, base / "published"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_deleted_segment_is_404_within_seconds(own_edge: tuple[Edge, Path]) -> None:
    edge, root = own_edge
    url = f"{prefix()}{SEGMENT.split('/', 2)[2]}"
    for _ in range(5):  # warm every worker's open-file cache
        assert edge.get(url).status == 200
    (root / SEGMENT).unlink()
    deleted_at = time.monotonic()
    # Each worker holds its own cache: gone means a run of 404s, not the first one.
    statuses: list[int] = []
    gone_since: float | None = None
    while time.monotonic() - deleted_at < 15:
        status = edge.get(url).status
        statuses.append(status)
        if status != 404:
            gone_since = None
        elif gone_since is None:
            gone_since = time.monotonic()
        if statuses[-20:] == [404] * 20:
            break
        time.sleep(0.05)
    assert gone_since is not None and statuses[-20:] == [404] * 20, statuses[-20:]
    elapsed = gone_since - deleted_at
    assert elapsed < TAKEDOWN_LIMIT_S, f"deleted segment served for {elapsed:.1f} s"


def _render_args(tmp_path: Path, out: Path) -> list[str]:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    return [
        "--listen", "8080", "--root", "/srv/reelflow/published", "--runtime-dir",
        "/var/lib/reelflow-edge", "--secret-file", str(secret_file), "--output", str(out),
    ]  # fmt: skip


def test_render_output_is_private_from_creation(tmp_path: Path) -> None:
    render = load_render()
    out = tmp_path / "edge.conf"
    created: list[tuple[str, int]] = []
    real_open = os.open

    def watching_open(path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        fd = real_open(path, flags, mode)
        created.append((str(path), stat.S_IMODE(os.fstat(fd).st_mode)))
        return fd

    old_umask = os.umask(0)  # a permissive umask must not widen it
    render.os.open = watching_open  # the module's own os: observe the file as created
    try:
        assert render.main(_render_args(tmp_path, out)) == 0
    finally:
        render.os.open = real_open
        os.umask(old_umask)
    assert created and all(mode == 0o600 for _, mode in created), created
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert SECRET in out.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_render_replaces_an_existing_world_readable_file(tmp_path: Path) -> None:
    out = tmp_path / "edge.conf"
    out.write_text("old config")
    out.chmod(0o644)
    assert load_render().main(_render_args(tmp_path, out)) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert SECRET in out.read_text()
