"""A killed multipart upload is continued, not restarted, and progress callbacks count bytes.

Run against a real S3 server (SeaweedFS) and against moto. "Killed" is an exception raised
from the progress callback once two parts are reported, the way a SIGKILLed attempt stops
with some parts on the server; the retry gets the state the attempt handed to
``UploadResume.on_change`` (as heartbeat details would carry it, through JSON). Every part
PUT is counted on the wire by the HTTP client.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import urllib3

from reelflow.storage import ObjectStore, S3Store
from reelflow.storage.base import UploadResume
from tests.storage.support import PART_SIZE, MiB, sha

PARTS = 7


class PartCounter(urllib3.PoolManager):
    """Counts UploadPart requests (PUT with partNumber) and aborts (DELETE with uploadId)."""

    def __init__(self) -> None:
        super().__init__(retries=False)
        self.parts: list[int] = []
        self.aborts = 0

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:
        if method == "PUT" and "partNumber=" in url:
            self.parts.append(int(url.split("partNumber=")[1].split("&")[0]))
        if method == "DELETE" and "uploadId=" in url:
            self.aborts += 1
        return super().urlopen(method, url, redirect=redirect, **kw)


class Killed(Exception):
    """The attempt dies here."""


@pytest.fixture(params=["seaweedfs", "moto"])
def endpoint(request: pytest.FixtureRequest) -> str:
    name = "seaweed_endpoint" if request.param == "seaweedfs" else "moto_endpoint"
    value: str = request.getfixturevalue(name)
    return value


@pytest.fixture
def counted(endpoint: str) -> tuple[S3Store, PartCounter]:
    import uuid

    counter = PartCounter()
    store = S3Store(
        endpoint=endpoint,
        access_key="testing",
        secret_key="testing",
        bucket=f"r-{uuid.uuid4().hex[:20]}",
        part_size=PART_SIZE,
        http_client=counter,
    )
    return store, counter


@pytest.fixture(scope="module")
def seven_parts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("resume") / "master.bin"
    path.write_bytes(os.urandom((PARTS - 1) * PART_SIZE + 123_456))
    return path


def kill_after(parts: int) -> Any:
    sent = 0

    def progress(n: int) -> None:
        nonlocal sent
        sent += n
        if sent >= parts * PART_SIZE:
            raise Killed

    return progress


def attempt_that_dies(store: S3Store, path: Path) -> dict[str, Any]:
    saved: dict[str, Any] = {}
    resume = UploadResume(on_change=lambda state: saved.update(json.loads(json.dumps(state))))
    with pytest.raises(Killed):
        store.put_file("masters/t/abc", path, progress=kill_after(2), resume=resume)
    assert not store.exists("masters/t/abc")
    return saved


def test_a_killed_upload_resumes_without_resending_parts(
    counted: tuple[S3Store, PartCounter], seven_parts: Path
) -> None:
    store, counter = counted
    saved = attempt_that_dies(store, seven_parts)
    first = list(counter.parts)
    assert 2 <= len(first) < PARTS and counter.aborts == 0  # left for the retry
    assert saved["upload_id"] and saved["part_size"] == PART_SIZE

    counter.parts.clear()
    resume = UploadResume(state=saved)
    reported: list[int] = []
    store.put_file("masters/t/abc", seven_parts, progress=reported.append, resume=resume)

    assert sorted(first + counter.parts) == list(range(1, PARTS + 1))  # each part sent once
    assert resume.reused_parts == len(first)
    assert sum(reported) == seven_parts.stat().st_size
    store.get_file("masters/t/abc", seven_parts.with_name("back.bin"))
    assert sha(seven_parts.with_name("back.bin")) == sha(seven_parts)


def test_parts_whose_bytes_changed_are_sent_again(
    counted: tuple[S3Store, PartCounter], seven_parts: Path, tmp_path: Path
) -> None:
    store, counter = counted
    saved = attempt_that_dies(store, seven_parts)
    first = sorted(counter.parts)
    # Same size, different first part (an output that was re-encoded differently).
    changed = tmp_path / "changed.bin"
    data = bytearray(seven_parts.read_bytes())
    data[:MiB] = os.urandom(MiB)
    changed.write_bytes(bytes(data))

    counter.parts.clear()
    resume = UploadResume(state=saved)
    store.put_file("masters/t/abc", changed, resume=resume)
    assert 1 in counter.parts  # the stale part 1 was replaced
    assert resume.reused_parts == len(first) - 1
    assert store.get_bytes("masters/t/abc") == bytes(data)


def test_a_gone_upload_starts_over(counted: tuple[S3Store, PartCounter], seven_parts: Path) -> None:
    store, counter = counted
    saved = attempt_that_dies(store, seven_parts)
    store.client._abort_multipart_upload(store.bucket, "masters/t/abc", saved["upload_id"])
    counter.parts.clear()
    resume = UploadResume(state=saved)
    store.put_file("masters/t/abc", seven_parts, resume=resume)
    assert sorted(counter.parts) == list(range(1, PARTS + 1))
    assert resume.state["upload_id"] != saved["upload_id"]
    assert store.stat("masters/t/abc").size == seven_parts.stat().st_size


def test_without_resume_a_failed_upload_is_aborted(
    counted: tuple[S3Store, PartCounter], seven_parts: Path
) -> None:
    store, counter = counted
    with pytest.raises(Killed):
        store.put_file("masters/t/abc", seven_parts, progress=kill_after(2))
    assert counter.aborts == 1


def test_progress_counts_every_byte(store: ObjectStore, big_file: Path, tmp_path: Path) -> None:
    size = big_file.stat().st_size
    for put in (
        lambda p: store.put_file("a/file", big_file, progress=p),
        lambda p: store.put_stream("a/stream", io.BytesIO(big_file.read_bytes()), size, p),
        lambda p: store.get_file("a/file", tmp_path / "copy", progress=p),
    ):
        seen: list[int] = []
        put(seen.append)
        assert sum(seen) == size and len(seen) > 1
    assert sha(tmp_path / "copy") == sha(big_file)
