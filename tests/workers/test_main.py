"""`reelflow worker`: which queues one process may run. The metrics runtime and the client
settings are test_role_settings.py; workers under load and loss are
test_chunks_spread_over_workers.py and test_media_worker_sigkill.py."""

from __future__ import annotations

import pytest

from reelflow.config import ConfigError, Settings
from reelflow.workers.main import KNOWN_QUEUES, run_workers


def test_known_queues() -> None:
    assert KNOWN_QUEUES == ("control", "media", "live", "rq")


def test_an_unknown_queue_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown queue\(s\) \['video'\]; choose from control"):
        run_workers(Settings(), ["control", "video"])


def test_the_rq_worker_runs_in_its_own_process() -> None:
    with pytest.raises(ValueError, match="run the rq worker in its own process"):
        run_workers(Settings(), ["control", "rq"])


def test_a_control_worker_refuses_a_bad_retention_setting_before_it_connects() -> None:
    bad = Settings(events_retention_days={"qoe": 0}, temporal_address="127.0.0.1:1")
    with pytest.raises(ConfigError, match="REELFLOW_EVENTS_RETENTION_DAYS: 'qoe': 0 days"):
        run_workers(bad, ["control"])
