"""Reading the recommendation inputs from files: interactions, item metadata, user lists.

Interactions: ``user_id,item_id,timestamp[,weight]`` with string ids, Unix seconds and a
weight that is any non-negative number (a star rating, a watched fraction). A first line
naming a ``user_id`` column is a header (its columns in any order); it may also name
``watched_fraction`` and ``thumb`` (-1, 0 or 1) columns, the raw watching facts reelflow's
own history has, which become the weight by
:func:`reelflow.recs.interactions.watch_strength`, and a ``country``.
Items: ``item_id,title,genres,year`` (genres ``|``-separated, the year blank or ``1995.0``),
optionally ``language`` and ``cast`` (``|``-separated) when a header names them.
Every refusal names the file, the line and the column: the file is someone's export, and
the line is where they will look.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from reelflow.recs.interactions import Dataset, ItemCatalog, build_dataset, watch_strength

INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp", "weight")
ITEM_COLUMNS = ("item_id", "title", "genres", "year")
# Columns a row may leave out (or a header not name): their absence has a meaning.
OPTIONAL = frozenset({"weight", "watched_fraction", "thumb", "country", "genres", "year",
                      "language", "cast"})  # fmt: skip
NO_GENRES = "(no genres listed)"  # MovieLens writes this instead of leaving the field blank
MAX_ID_LENGTH = 256


class InputError(ValueError):
    """A file the recommender cannot use; the message says where and why."""

    def __init__(self, path: Path, line: int, column: str | None, problem: str) -> None:
        where = f"{path}, line {line}" + (f", column {column}" if column else "")
        super().__init__(f"{where}: {problem}")


@dataclass
class InteractionRows:
    """Parsed interaction rows, in file order."""

    users: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    countries: dict[str, str] = field(default_factory=dict)  # user -> country, when given


@dataclass
class _ItemRows:
    """Item metadata as it is read, in file order."""

    ids: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    genres: list[tuple[str, ...]] = field(default_factory=list)
    years: list[int | None] = field(default_factory=list)
    languages: list[str | None] = field(default_factory=list)
    cast: list[tuple[str, ...]] = field(default_factory=list)


def _numbered(path: Path) -> Iterator[tuple[int, list[str]]]:
    # csv.reader's line_num counts physical lines (a quoted title may span two), so it is
    # the number an editor shows.
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, strict=True)
            try:
                for row in reader:
                    if any(cell.strip() for cell in row):
                        yield reader.line_num, [cell.strip() for cell in row]
            except csv.Error as exc:
                raise InputError(path, reader.line_num, None, f"not valid CSV ({exc})") from None
            except UnicodeDecodeError as exc:
                raise InputError(path, reader.line_num + 1, None, "not UTF-8 text") from exc
    except OSError as exc:
        raise InputError(path, 0, None, f"cannot be read ({exc.strerror or exc})") from None


def _layout(
    path: Path, line: int, first: list[str], positional: tuple[str, ...], required: tuple[str, ...]
) -> tuple[dict[str, int], bool]:
    """Column positions, and whether the first row was a header (it names the columns)."""
    names = [cell.lower() for cell in first]
    if positional[0] not in names:
        return {name: i for i, name in enumerate(positional)}, False
    for name in required:
        if name not in names:
            raise InputError(path, line, name, f"the header has no {name} column")
    if len(set(names)) != len(names):
        raise InputError(path, line, None, "the header names a column twice")
    return {name: i for i, name in enumerate(names)}, True


def _cell(path: Path, line: int, row: list[str], columns: dict[str, int], name: str) -> str:
    index = columns.get(name)
    if index is None or index >= len(row):
        if name in OPTIONAL:
            return ""
        raise InputError(path, line, name, f"missing (the row has {len(row)} fields)")
    return row[index]


def _check_width(path: Path, line: int, row: list[str], columns: dict[str, int]) -> None:
    width = max(columns.values()) + 1
    if len(row) > width:
        raise InputError(path, line, None, f"{len(row)} fields, at most {width}")


def _identifier(path: Path, line: int, column: str, value: str) -> str:
    if not value:
        raise InputError(path, line, column, "empty")
    if len(value) > MAX_ID_LENGTH:
        raise InputError(path, line, column, f"longer than {MAX_ID_LENGTH} characters")
    return value


def _number(path: Path, line: int, column: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise InputError(path, line, column, f"{value[:40]!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise InputError(path, line, column, f"{value[:40]!r} is not a non-negative number")
    return number


def _timestamp(path: Path, line: int, value: str) -> int:
    seconds = _number(path, line, "timestamp", value)
    if seconds != int(seconds) or seconds > 2**40:
        raise InputError(path, line, "timestamp", f"{value[:40]!r} is not Unix seconds")
    return int(seconds)


def _weight(path: Path, line: int, row: list[str], columns: dict[str, int]) -> float:
    weight = _cell(path, line, row, columns, "weight")
    fraction = _cell(path, line, row, columns, "watched_fraction")
    thumb = _cell(path, line, row, columns, "thumb")
    base = _number(path, line, "weight", weight) if weight else 1.0
    if not fraction and not thumb:
        return base
    watched = _number(path, line, "watched_fraction", fraction) if fraction else None
    if thumb not in ("", "-1", "0", "1"):
        raise InputError(path, line, "thumb", f"{thumb[:40]!r} is not -1, 0 or 1")
    return base * watch_strength(watched, int(thumb) if thumb else None)


def read_interactions(path: Path) -> InteractionRows:
    """Every interaction in the file, or an :class:`InputError` naming the first bad cell."""
    out = InteractionRows()
    columns: dict[str, int] = {}
    for line, row in _numbered(path):
        if not columns:
            columns, header = _layout(path, line, row, INTERACTION_COLUMNS, INTERACTION_COLUMNS[:3])
            if header:
                continue
        _check_width(path, line, row, columns)
        user = _identifier(path, line, "user_id", _cell(path, line, row, columns, "user_id"))
        item = _identifier(path, line, "item_id", _cell(path, line, row, columns, "item_id"))
        out.times.append(_timestamp(path, line, _cell(path, line, row, columns, "timestamp")))
        out.weights.append(_weight(path, line, row, columns))
        out.users.append(user)
        out.items.append(item)
        if country := _cell(path, line, row, columns, "country"):
            out.countries[user] = country.upper()
    if not out.users:
        raise InputError(path, 1, None, "no interactions (expected user_id,item_id,timestamp)")
    return out


def _year(path: Path, line: int, value: str) -> int | None:
    if not value:
        return None
    year = _number(path, line, "year", value)
    if year != int(year) or not 1800 <= year <= 2200:
        raise InputError(path, line, "year", f"{value[:40]!r} is not a year")
    return int(year)


def _tags(value: str) -> tuple[str, ...]:
    if value == NO_GENRES:
        return ()
    return tuple(dict.fromkeys(tag.strip() for tag in value.split("|") if tag.strip()))


def read_items(path: Path) -> ItemCatalog:
    """Every item in the file; an item named twice is refused (which line would count?)."""
    out = _ItemRows()
    columns: dict[str, int] = {}
    first_line: dict[str, int] = {}
    for line, row in _numbered(path):
        if not columns:
            columns, header = _layout(path, line, row, ITEM_COLUMNS, ITEM_COLUMNS[:2])
            if header:
                continue
        _check_width(path, line, row, columns)
        item = _identifier(path, line, "item_id", _cell(path, line, row, columns, "item_id"))
        if item in first_line:
            raise InputError(path, line, "item_id", f"{item!r} also on line {first_line[item]}")
        first_line[item] = line
        out.ids.append(item)
        out.titles.append(_cell(path, line, row, columns, "title"))
        out.genres.append(_tags(_cell(path, line, row, columns, "genres")))
        out.years.append(_year(path, line, _cell(path, line, row, columns, "year")))
        out.languages.append(_cell(path, line, row, columns, "language").lower() or None)
        out.cast.append(_tags(_cell(path, line, row, columns, "cast")))
    return ItemCatalog(
        tuple(out.ids),
        tuple(out.titles),
        tuple(out.genres),
        tuple(out.years),
        tuple(out.languages),
        tuple(out.cast),
    )


def read_user_ids(path: Path) -> list[str]:
    """One user id per line (blank lines skipped, duplicates kept once, in order)."""
    users: dict[str, None] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(path, 1, None, "not UTF-8 text") from None
    except OSError as exc:
        raise InputError(path, 0, None, f"cannot be read ({exc.strerror or exc})") from None
    for line, raw in enumerate(text.splitlines(), start=1):
        if value := raw.strip():
            users[_identifier(path, line, "user_id", value)] = None
    return list(users)


def load_dataset(interactions: Path, items: Path | None = None) -> Dataset:
    """The interactions file as a dataset whose item universe also holds every item of the
    items file (those nobody watched are cold-start candidates)."""
    rows = read_interactions(interactions)
    catalog = read_items(items) if items is not None else None
    return build_dataset(
        rows.users, rows.items, rows.times, rows.weights, catalog, rows.countries or None
    )
