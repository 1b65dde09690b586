"""The one rule for title ids, and the ids built from them (workflow ids, version labels).

A title id is what a studio or an operator names a title: lower-case letters and digits,
then also ``_`` and ``-``, at most 64 characters. It appears in object keys, URLs, media
paths and workflow ids, so it carries no ``/``, ``.``, ``@`` or upper case: a title's
workflow id can never be another title's, and no key can climb out of its folder. Every
place that accepts a title id (the studio API, the CLI, QoE beacons, signed media paths,
the workflow) checks it here. Channels (live) share this id space.
"""

from __future__ import annotations

import re

# The shape of every name reelflow gives things: titles, studios, event types, model names,
# experiments and their variants. Each kind keeps its own name for it (they may diverge).
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
SLUG_RE = re.compile(SLUG_PATTERN)

TITLE_ID_MAX_LENGTH = 64
TITLE_ID_PATTERN = SLUG_PATTERN
TITLE_ID_RE = SLUG_RE
TITLE_ID_RULE = "a-z 0-9 _ -, starting with a letter or digit, at most 64 characters"

# Title ids never contain "@", so the workflow id of a version >= 2 cannot be the id of
# another title's first version.
VERSION_SEPARATOR = "@v"
_VERSION_LABEL_RE = re.compile(r"^v([1-9][0-9]{0,8})$")


class InvalidTitleId(ValueError):
    """Not a title id; the message names the rule."""


def is_title_id(value: object) -> bool:
    return isinstance(value, str) and TITLE_ID_RE.fullmatch(value) is not None


def check_title_id(value: object) -> str:
    """``value`` if it is a title id, else ``InvalidTitleId`` saying why."""
    if not is_title_id(value):
        raise InvalidTitleId(f"title id {value!r} is not valid: {TITLE_ID_RULE}")
    assert isinstance(value, str)
    return value


def workflow_id(title_id: str, version: int = 1) -> str:
    """``title-<id>`` for the first version, ``title-<id>@v<N>`` for a re-delivered one.

    The one rule for building a title's workflow id (starters, lookups, supersede).
    """
    check_title_id(title_id)
    return f"title-{title_id}" if version <= 1 else f"title-{title_id}{VERSION_SEPARATOR}{version}"


def legacy_workflow_id(title_id: str, version: int) -> str | None:
    """The id versions >= 2 were started under before ``@v`` (``title-<id>-v<N>``).

    It can also be the first version of a title named ``<id>-v<N>``: whoever follows it
    checks the run's ReelflowTitleId (``client.find_title_run``, the supersede signal).
    None for the first version, whose id never changed.
    """
    return None if version <= 1 else f"title-{title_id}-v{version}"


def version_label(version: int) -> str:
    """``v<N>``: how a version is named in object keys and media paths."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be an int >= 1, got {version!r}")
    return f"v{version}"


def parse_version_label(label: str) -> int:
    """The version in a ``v<N>`` label; ValueError for anything else."""
    m = _VERSION_LABEL_RE.fullmatch(label)
    if m is None:
        raise ValueError(f"{label!r} is not a version label (v1, v2, ...)")
    return int(m.group(1))
