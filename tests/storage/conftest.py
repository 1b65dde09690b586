"""Fixtures for the storage tests: a local folder, a real S3 server (SeaweedFS) and an S3
mock (moto) kept only for what a real server cannot be made to do."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from reelflow.storage import (
    LocalStore,
    ObjectStore,
)
from tests.services import S3Server
from tests.storage.support import MiB, s3_store


@pytest.fixture(scope="session")
def seaweed_endpoint(seaweed: S3Server) -> str:
    return seaweed.endpoint


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto ThreadedMotoServer: a mock that speaks S3 over HTTP on loopback and does not
    check signatures. Only for faults and wire counts a real server cannot be made to show;
    the S3 contract itself runs against SeaweedFS. Port 0 lets the OS pick a free port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"{host}:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalStore(tmp_path / "objects")
    # A fresh bucket per test keeps tests independent on the shared server.
    endpoint: str = request.getfixturevalue("seaweed_endpoint")
    return s3_store(endpoint)


@pytest.fixture(scope="session")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~11 MiB of random bytes: more than two S3 parts of 5 MiB."""
    path = tmp_path_factory.mktemp("storage") / "big.bin"
    with open(path, "wb") as fh:
        for _ in range(11):
            fh.write(os.urandom(MiB))
        fh.write(os.urandom(12345))
    return path
