"""What an operator types for ``reelflow titles ingest``, checked into a ``TitleInput``.

Every check fails with a ``CliError`` naming the flag and the rule it broke; the title-id
rule is ``domain.ids``', the codec names are ``domain.codecs``'.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from reelflow.domain.codecs import VIDEO_CODECS
from reelflow.domain.ids import TITLE_ID_RULE, is_title_id
from reelflow.lifecycle import contracts as c

CODEC_CHOICES = ", ".join(VIDEO_CODECS)
PLANS = ("basic", "standard", "premium")


class CliError(Exception):
    """A user-facing error: printed in red, exit code 2."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


def check_title_id(title_id: str, what: str = "title id") -> None:
    if not is_title_id(title_id):
        fail(f"{what} {title_id!r} is not a title id: use {TITLE_ID_RULE}")


def iso_instant(value: str | None, flag: str) -> str | None:
    """An ISO 8601 date/time with a UTC offset, normalised; None stays None (open-ended)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{flag}: {value!r} is not an ISO 8601 date/time (e.g. 2026-12-01T00:00:00+00:00)")
    if parsed.tzinfo is None:
        fail(f"{flag}: {value!r} has no UTC offset; add one, e.g. +00:00")
    return parsed.isoformat()


def _source(value: str) -> str:
    if re.match(r"^(https?|file)://|^store:", value):
        return value
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        fail(f"no such file: {value}")
    return str(path)


def _codec_list(codecs: str, codec: str) -> tuple[str, list[str]]:
    """``--codecs h264,av1``: the main (fallback) codec and the ladders beside it."""
    names = [x.strip() for x in codecs.split(",") if x.strip()]
    if not names:
        fail(f"--codecs: name at least one of {CODEC_CHOICES} (e.g. h264,av1)")
    for x in names:
        if x not in VIDEO_CODECS:
            fail(f"--codecs: unknown codec {x!r}: choose from {CODEC_CHOICES}")
        if names.count(x) > 1:
            fail(f"--codecs: {x} is named twice")
    if codec != "h264" and codec != names[0]:
        fail(f"--codec {codec} and --codecs {codecs} disagree: give --codecs alone")
    return names[0], names[1:]


def _regions(regions: str) -> list[str]:
    region_list = [r.strip().upper() for r in regions.split(",") if r.strip()]
    for r in region_list:
        if not re.fullmatch(r"[A-Z]{2}", r):
            fail(f"--regions: {r!r} is not an ISO 3166 alpha-2 code")
    return region_list


def _plans(plans: str) -> list[str]:
    plan_list = [p.strip() for p in plans.split(",") if p.strip()]
    for p in plan_list:
        if p not in PLANS:
            fail(f"--plans: unknown plan {p!r} ({', '.join(PLANS)})")
    return plan_list


def _subtitles(subtitles: list[str]) -> list[c.SubtitleSource]:
    subs: list[c.SubtitleSource] = []
    for spec in subtitles:
        lang, sep, path = spec.partition("=")
        if not sep or not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?", lang):
            fail(f"--subtitles {spec!r}: use LANG=FILE, e.g. en=captions.srt")
        subs.append(c.SubtitleSource(lang, _source(path)))
    return subs


def _window(window_start: str | None, window_end: str | None) -> tuple[str | None, str | None]:
    start = iso_instant(window_start, "--window-start")
    end = iso_instant(window_end, "--window-end")
    if start and end and datetime.fromisoformat(end) <= datetime.fromisoformat(start):
        fail("--window-end must be after --window-start")
    return start, end


def build_input(
    source: str,
    title_id: str,
    name: str,
    synopsis: str,
    genres: list[str],
    window_start: str | None,
    window_end: str | None,
    regions: str,
    plans: str,
    subtitles: list[str],
    require_approval: bool,
    ladder: str,
    codec: str,
    *,
    codecs: str | None = None,
) -> c.TitleInput:
    check_title_id(title_id, "--id")
    if not name.strip() or len(name) > 300:
        fail("--name must be 1-300 characters")
    if ladder not in ("per_title", "fixed"):
        fail(f"--ladder {ladder!r}: choose per_title or fixed")
    if codec not in VIDEO_CODECS:
        fail(f"--codec {codec!r}: choose from {CODEC_CHOICES}")
    extra: list[str] = []
    if codecs is not None:
        codec, extra = _codec_list(codecs, codec)
    start, end = _window(window_start, window_end)
    availability = c.AvailabilitySpec(start, end, _regions(regions), _plans(plans))
    subs = _subtitles(subtitles)
    return c.TitleInput(
        title_id=title_id,
        source=_source(source),
        name=name.strip(),
        synopsis=synopsis,
        genres=genres,
        options=c.TitleOptions(
            require_approval=require_approval, ladder=ladder, codec=codec, extra_codecs=extra
        ),
        availability=availability,
        subtitles=subs,
    )
