"""The workers register exactly the typed activity definitions the workflow calls.

mypy already holds each ``@implements(stub)`` method to its stub's types; this checks what
the type checker can't see: that every definition has an implementation registered on the
worker role of its queue, under the same wire name and with the same signature.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import pytest
from temporalio import activity

from reelflow.catalog.db import upgrade
from reelflow.config import Settings
from reelflow.lifecycle import activity_defs as defs
from reelflow.workers.registry import activities_for, workflows_for


def wire_name(fn: Callable[..., Any]) -> str | None:
    # The SDK's own lookup, as the worker does when it registers the callable.
    return activity._Definition.must_from_callable(fn).name


def signature(fn: Callable[..., Any]) -> tuple[list[tuple[Any, Any]], Any]:
    """Positional parameter kinds and types (names don't travel), and the return type."""
    hints = typing.get_type_hints(fn)
    params = inspect.signature(fn).parameters.values()
    return [(p.kind, hints.get(p.name)) for p in params], hints.get("return")


@pytest.fixture
def registered(settings: Settings) -> dict[str, dict[str, Callable[..., Any]]]:
    """Role -> wire name -> registered callable, as the workers build them."""
    settings.ensure_home()
    upgrade(settings.resolved_database_url)  # the workers refuse a catalog behind the code
    out: dict[str, dict[str, Callable[..., Any]]] = {}
    for role in ("control", "media", "live"):
        fns = activities_for(role, settings)
        names = [wire_name(fn) for fn in fns]
        assert len(set(names)) == len(names), f"{role}: a name registered twice: {names}"
        out[role] = {str(name): fn for name, fn in zip(names, fns, strict=True)}
    return out


def test_each_role_registers_exactly_its_definitions(
    registered: dict[str, dict[str, Callable[..., Any]]],
) -> None:
    for role, fns in registered.items():
        expected = {name for name, queue in defs.QUEUE.items() if queue == role}
        assert set(fns) == expected, role


@pytest.mark.parametrize("name", sorted(defs.STUBS))
def test_implementation_has_the_definitions_signature(
    registered: dict[str, dict[str, Callable[..., Any]]], name: str
) -> None:
    impl = registered[defs.QUEUE[name]][name]
    assert signature(impl) == signature(defs.STUBS[name])


def test_only_the_control_role_hosts_the_workflows() -> None:
    assert [wf.__name__ for wf in workflows_for("control")] == [
        "TitleWorkflow",
        "EventsUpkeepWorkflow",
        "RecsTrainingWorkflow",
        "LiveChannelWorkflow",
    ]
    assert list(workflows_for("media")) == [] and list(workflows_for("live")) == []


def test_an_unknown_role_is_refused(settings: Settings) -> None:
    settings.ensure_home()
    upgrade(settings.resolved_database_url)
    with pytest.raises(ValueError, match="unknown worker role 'rq'"):
        activities_for("rq", settings)
