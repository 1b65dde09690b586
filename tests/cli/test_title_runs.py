"""How the CLI reaches a title's runs, in the parts that need no Temporal server; the
commands against a real dev server are test_titles_signals.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from reelflow.catalog.db import upgrade
from reelflow.cli.title_input import CliError
from reelflow.cli.title_runs import current_version, find_run, running_runs
from reelflow.config import Settings
from reelflow.domain.ids import TITLE_ID_RULE


def test_a_title_the_catalog_does_not_know_is_at_version_1(settings: Settings) -> None:
    settings.ensure_home()
    upgrade(settings.resolved_database_url)
    assert current_version(settings, "never-ingested") == 1


@pytest.mark.parametrize("look_up", [find_run, running_runs])
async def test_a_bad_id_fails_before_reaching_temporal(
    look_up: Callable[[Settings, str], Awaitable[object]],
) -> None:
    # Nothing listens at this address: a bad id must be refused without a connection.
    settings = Settings(temporal_address="127.0.0.1:9")
    with pytest.raises(CliError, match="is not a title id") as refused:
        await look_up(settings, "Not.An.Id")
    assert TITLE_ID_RULE in str(refused.value)
