"""The one title-id rule, and the ids built from it: workflow ids and version labels."""

from __future__ import annotations

import pytest

from reelflow.domain.ids import (
    TITLE_ID_MAX_LENGTH,
    TITLE_ID_RE,
    VERSION_SEPARATOR,
    InvalidTitleId,
    check_title_id,
    is_title_id,
    legacy_workflow_id,
    parse_version_label,
    version_label,
    workflow_id,
)
from reelflow.playback_api.auth import signing
from reelflow.storage import layout


@pytest.mark.parametrize(
    "value", ["a", "0", "big-buck-bunny", "demo_1a2b3c", "9to5", "a" * TITLE_ID_MAX_LENGTH]
)
def test_valid_title_ids(value: str) -> None:
    assert is_title_id(value)
    assert check_title_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "-lead",
        "_lead",
        "Upper",
        "dot.ted",
        "sl/ash",
        "../up",
        "at@v2",
        "spa ce",
        "new\nline",
        "é",
        "a" * (TITLE_ID_MAX_LENGTH + 1),
        None,
        7,
    ],
)
def test_invalid_title_ids_name_the_rule(value: object) -> None:
    assert not is_title_id(value)
    with pytest.raises(InvalidTitleId, match="a-z 0-9 _ -"):
        check_title_id(value)


def test_a_trailing_newline_is_not_a_title_id() -> None:
    # ``$`` lets "abc\n" through ``re.match``; the rule is checked with fullmatch.
    assert TITLE_ID_RE.match("abc\n") is not None
    assert not is_title_id("abc\n")
    # ...and every checker that takes the rule uses fullmatch too.
    with pytest.raises(ValueError):
        layout.events_type_prefix("qoe\n")
    with pytest.raises(ValueError):
        signing.sign_prefix(b"s" * 32, "abc\n", "v1", 10**10, holder=signing.THUMBNAILS_HOLDER)


def test_version_ids_cannot_collide_with_other_titles() -> None:
    assert workflow_id("foo", 2) == "title-foo@v2"
    assert workflow_id("foo-v2", 1) == "title-foo-v2"
    assert workflow_id("foo", 2) != workflow_id("foo-v2", 1)
    # The separator is outside the title-id alphabet, so no first version can end in it.
    assert not is_title_id(f"foo{VERSION_SEPARATOR}2")


def test_first_version_keeps_its_id() -> None:
    assert workflow_id("foo") == workflow_id("foo", 1) == "title-foo"
    assert legacy_workflow_id("foo", 1) is None


def test_legacy_ids_of_later_versions() -> None:
    assert legacy_workflow_id("foo", 2) == "title-foo-v2"
    # The collision the legacy rule had, which lookups must check for.
    assert legacy_workflow_id("foo", 2) == workflow_id("foo-v2")


@pytest.mark.parametrize("value", ["foo@v2", "Foo", "a.b"])
def test_a_workflow_id_is_refused_for_a_bad_title_id(value: str) -> None:
    with pytest.raises(InvalidTitleId):
        workflow_id(value, 1)


@pytest.mark.parametrize("version", [1, 2, 10, 999_999_999])
def test_version_labels_round_trip(version: int) -> None:
    assert parse_version_label(version_label(version)) == version


def test_version_label_spelling() -> None:
    assert version_label(1) == "v1"
    assert version_label(12) == "v12"


@pytest.mark.parametrize("version", [0, -1, True, 1.0, "1"])
def test_version_label_refuses_non_versions(version: object) -> None:
    with pytest.raises(ValueError, match="int >= 1"):
        version_label(version)  # type: ignore[arg-type]


@pytest.mark.parametrize("label", ["v0", "v01", "1", "V1", "v", "v1x", "v1\n", "v1234567890"])
def test_parse_version_label_refuses_other_strings(label: str) -> None:
    with pytest.raises(ValueError, match="not a version label"):
        parse_version_label(label)
