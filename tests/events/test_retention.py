"""Retention per event type from REELFLOW_EVENTS_RETENTION_DAYS: defaults, the JSON setting,
and the ConfigError for names that are no type and counts below a day."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic_settings import SettingsError

from reelflow.config import ConfigError, Settings
from reelflow.events.retention import DEFAULT_RETENTION_DAYS, Retention, retention_from_settings
from reelflow.events.schema import EVENT_TYPES


def test_every_type_keeps_90_days_with_no_setting() -> None:
    retention = retention_from_settings(Settings())
    assert DEFAULT_RETENTION_DAYS == 90
    assert {retention.of(t) for t in EVENT_TYPES} == {timedelta(days=90)}


def test_the_env_setting_is_json_per_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELFLOW_EVENTS_RETENTION_DAYS", '{"progress": 30, "search": 400}')
    retention = retention_from_settings(Settings())
    assert retention.of("progress") == timedelta(days=30)
    assert retention.of("search") == timedelta(days=400)
    assert retention.of("qoe") == timedelta(days=90)


def test_a_name_that_is_no_event_type_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError) as caught:
        retention_from_settings(Settings(events_retention_days={"progres": 30, "qoe": 7}))
    message = str(caught.value)
    assert message.startswith("REELFLOW_EVENTS_RETENTION_DAYS: 'progres' is not an event type")
    assert "progress" in message  # the known types are listed


@pytest.mark.parametrize("days", [0, -5])
def test_less_than_a_day_is_refused(days: int) -> None:
    with pytest.raises(ConfigError, match=rf"'qoe': {days} days; give a whole number"):
        retention_from_settings(Settings(events_retention_days={"qoe": days}))


def test_every_bad_entry_is_named_at_once() -> None:
    with pytest.raises(ConfigError, match=r"'nope' is not an event type; 'qoe': 0 days"):
        retention_from_settings(Settings(events_retention_days={"qoe": 0, "nope": 1}))


def test_a_value_that_is_not_json_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELFLOW_EVENTS_RETENTION_DAYS", "progress=30")
    with pytest.raises(SettingsError, match="events_retention_days"):
        Settings()


def test_asking_for_an_unknown_type_is_an_error_not_a_default() -> None:
    with pytest.raises(ValueError, match="unknown event type 'nope'"):
        Retention().of("nope")
