"""`reelflow worker`: which queues one process may run. The metrics runtime and the client
settings are test_role_settings.py; workers under load and loss are
test_chunks_spread_over_workers.py and test_media_worker_sigkill.py."""

from __future__ import annotations

import pytest

from reelflow.config import Settings
from reelflow.workers.main import KNOWN_QUEUES, run_workers


def test_known_queues() -> None:
    assert KNOWN_QUEUES == ("control", "media", "rq")


def test_an_unknown_queue_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown queue\(s\) \['video'\]; choose from control"):
        run_workers(Settings(), ["control", "video"])


def test_the_rq_worker_runs_in_its_own_process() -> None:
    with pytest.raises(ValueError, match="run the rq worker in its own process"):
        run_workers(Settings(), ["control", "rq"])
