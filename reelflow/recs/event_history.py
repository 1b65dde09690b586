"""Watch history from the events store: the Dataset production training reads.

One row per (pseudonymous viewer, title) over the window: the furthest position reached
(``progress`` and ``play_end``), whether a play ended at the credits, the newest thumb
(``thumb``: up or down), the newest server time and the viewer's newest country. The
watched fraction is that position over the title's length (the catalog's duration, else
the longest one a player reported); a play that ended (``reason = 'ended'``) is a
completion whatever the positions say. The strength is ``interactions.watch_strength``: a
thumb decides (down: 0, seen and never recommended), else completions count fully and early
abandons weakly. Opted-out viewers' behavioural events never reach the store
(events/privacy.py), and the anonymous pseudonym is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from reelflow.catalog.recs_queries import TitleFacts
from reelflow.events.privacy import ANONYMOUS
from reelflow.events.queries import EventFiles, connect
from reelflow.recs.interactions import Dataset, ItemCatalog, build_dataset, watch_strength

_WATCHED = """
WITH seen AS (
  SELECT viewer, title, position_s, duration_s, server_ts, false AS ended, country
  FROM progress WHERE server_ts >= $since AND server_ts < $until AND viewer <> $anonymous
  UNION ALL BY NAME
  SELECT viewer, title, position_s, CAST(NULL AS DOUBLE) AS duration_s, server_ts,
         reason = 'ended' AS ended, country
  FROM play_end WHERE server_ts >= $since AND server_ts < $until AND viewer <> $anonymous
), played AS (
  SELECT viewer, title, max(position_s) AS position_s, max(duration_s) AS duration_s,
         max(server_ts) AS at, bool_or(ended) AS ended, arg_max(country, server_ts) AS country
  FROM seen GROUP BY viewer, title
), rated AS (
  SELECT viewer, title, arg_max(rating, server_ts) AS rating, max(server_ts) AS at,
         arg_max(country, server_ts) AS country
  FROM thumb WHERE server_ts >= $since AND server_ts < $until AND viewer <> $anonymous
  GROUP BY viewer, title
)
SELECT viewer, title, coalesce(p.position_s, 0), p.duration_s,
       epoch(greatest(p.at, r.at))::BIGINT, coalesce(p.ended, false),
       CASE WHEN r.at IS NULL OR p.at > r.at THEN p.country ELSE r.country END, r.rating
FROM played p FULL OUTER JOIN rated r USING (viewer, title)
ORDER BY viewer, title
"""


@dataclass(frozen=True)
class Watched:
    viewer: str
    title: str
    position_s: float
    duration_s: float | None  # the longest a player reported
    at: int  # Unix seconds, server time of the newest event
    ended: bool
    country: str | None
    rating: str | None = None  # the newest thumb: "up", "down"


def watched_rows(files: EventFiles, since: datetime, until: datetime) -> list[Watched]:
    """Per viewer and title, what the events say about their watching in [since, until)."""
    params = {"since": since, "until": until, "anonymous": ANONYMOUS}
    with connect(files, ("progress", "play_end", "thumb"), (since, until)) as con:
        rows = con.execute(_WATCHED, params).fetchall()
    return [Watched(*row) for row in rows]


def watched_fraction(row: Watched, duration_s: float | None) -> float | None:
    if row.ended:
        return 1.0
    length = duration_s or row.duration_s
    return min(1.0, row.position_s / length) if length else None


def _thumb(row: Watched) -> int | None:
    return {"up": 1, "down": -1}.get(row.rating or "")


def catalog_items(titles: Sequence[TitleFacts]) -> ItemCatalog:
    count = len(titles)
    return ItemCatalog(
        ids=tuple(t.id for t in titles),
        titles=tuple(t.name for t in titles),
        genres=tuple(t.genres for t in titles),
        years=(None,) * count,  # the catalog has no release year yet
        languages=(None,) * count,
        cast=((),) * count,
    )


def history_dataset(rows: Sequence[Watched], titles: Sequence[TitleFacts]) -> Dataset:
    """The training Dataset: every catalog title is an item (watched or not)."""
    durations = {t.id: t.duration_s for t in titles}
    countries: dict[str, tuple[int, str]] = {}
    for row in rows:
        if row.country and row.at >= countries.get(row.viewer, (-1, ""))[0]:
            countries[row.viewer] = (row.at, row.country.upper())
    return build_dataset(
        [r.viewer for r in rows],
        [r.title for r in rows],
        [r.at for r in rows],
        [watch_strength(watched_fraction(r, durations.get(r.title)), _thumb(r)) for r in rows],
        catalog_items(titles),
        {viewer: country for viewer, (_at, country) in countries.items()},
    )
