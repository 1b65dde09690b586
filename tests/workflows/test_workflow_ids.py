"""The one workflow-id rule: no two title versions share an id; legacy ids stay known."""

from __future__ import annotations

import re

import pytest

from reelflow.playback_api.auth.signing import ID_RE
from reelflow.workflows.title import legacy_workflow_id, workflow_id


def test_version_ids_cannot_collide_with_other_titles() -> None:
    assert workflow_id("foo", 2) == "title-foo@v2"
    assert workflow_id("foo-v2", 1) == "title-foo-v2"
    assert workflow_id("foo", 2) != workflow_id("foo-v2", 1)
    # The separator is outside the title-id alphabet, so no first version can end in it.
    assert not re.fullmatch(ID_RE, "foo@v2")


def test_first_version_keeps_its_id() -> None:
    assert workflow_id("foo") == workflow_id("foo", 1) == "title-foo"
    assert legacy_workflow_id("foo", 1) is None


def test_legacy_ids_of_later_versions() -> None:
    assert legacy_workflow_id("foo", 2) == "title-foo-v2"
    # The collision the legacy rule had, which lookups must check for.
    assert legacy_workflow_id("foo", 2) == workflow_id("foo-v2")


def test_a_title_id_with_the_separator_is_refused() -> None:
    with pytest.raises(ValueError, match="contains '@'"):
        workflow_id("foo@v2", 1)
