"""An experiment's events: who was exposed to which variant, and what they did from then on.

Named DuckDB queries over the event files (``events.queries.connect``: one row per event id,
only the hour partitions the window overlaps). The unit is the viewer (the pseudonym an
``exposure`` event carries); a viewer enters at its first exposure to the experiment, in the
variant of that exposure. From then on (server time), until the experiment stopped:

- per viewer, by time bucket: play starts (``play_start``), milliseconds played and stalled
  (``qoe``);
- per session (a session id on any of the viewer's events, kept when it carries an exposure to
  this experiment or began at or after the viewer's first exposure): the bucket it began in,
  the bucket of its first frame (a ``play_start`` or a reported start-up time), of its first
  failure (``qoe`` error codes or a ``play_end`` for an error), and its start-up time;
- per viewer, before the experiment started (CUPED's covariates): play starts, minutes
  played, sessions over ``pre_period``.

Buckets count from the start, so ``experiments.results`` can read the results as they stood
at the end of any bucket (the interval-over-time series) from one pass over the files.
Viewers exposed to two variants (a broken client) or to a variant the definition lacks are
counted and left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt

from reelflow.events.privacy import ANONYMOUS
from reelflow.events.queries import EventFiles, connect

NEVER = np.iinfo(np.int64).max  # the bucket of something that did not happen
TYPES = ("exposure", "session_start", "play_start", "play_end", "qoe")
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

_EXPOSED = """
CREATE TEMP TABLE exposed AS
SELECT viewer, arg_min(variant, server_ts) AS variant, min(server_ts) AS first_at,
       count(DISTINCT variant) AS n_variants
FROM exposure
WHERE experiment = $key AND server_ts >= $start AND server_ts < $until AND viewer <> $anonymous
GROUP BY viewer
"""
_UNITS = """
CREATE TEMP TABLE units AS
SELECT row_number() OVER (ORDER BY viewer) - 1 AS uid, viewer, first_at,
       list_position($variants, variant) - 1 AS v,
       (epoch_us(first_at) - $start_us) // $bucket_us AS first_b
FROM exposed WHERE n_variants = 1 AND list_contains($variants, variant)
"""
# Every event of the units in [start, until) that names a session, in one shape.
_POST = """
CREATE TEMP TABLE post AS
WITH ev AS (
  SELECT viewer, session, server_ts, 0 AS plays, CAST(0 AS DOUBLE) AS played_ms,
         CAST(0 AS DOUBLE) AS rebuffer_ms, CAST(NULL AS DOUBLE) AS startup_ms,
         false AS failed, false AS exposed
  FROM session_start
  UNION ALL SELECT viewer, session, server_ts, 0, 0, 0, NULL, false, experiment = $key
  FROM exposure
  UNION ALL SELECT viewer, session, server_ts, 1, 0, 0, NULL, false, false FROM play_start
  UNION ALL SELECT viewer, session, server_ts, 0, 0, 0, NULL, reason = 'error', false
  FROM play_end
  UNION ALL SELECT viewer, session, server_ts, 0, coalesce(played_ms, 0),
         coalesce(rebuffer_ms, 0), startup_ms, coalesce(len(errors), 0) > 0, false
  FROM qoe
)
SELECT u.uid, e.session, e.server_ts, e.plays, e.played_ms, e.rebuffer_ms, e.startup_ms,
       e.failed, e.exposed, (epoch_us(e.server_ts) - $start_us) // $bucket_us AS b
FROM ev e JOIN units u USING (viewer)
WHERE e.session IS NOT NULL AND e.server_ts >= $start AND e.server_ts < $until
"""
_KEPT = """
CREATE TEMP TABLE kept AS
SELECT p.uid, p.session FROM post p JOIN units u USING (uid)
GROUP BY p.uid, p.session, u.first_at
HAVING bool_or(p.exposed) OR min(p.server_ts) >= u.first_at
"""
_UNIT_ROWS = "SELECT v, first_b FROM units ORDER BY uid"
_SESSIONS = """
SELECT p.uid AS unit, min(p.b) AS first,
       coalesce(min(p.b) FILTER (WHERE p.plays > 0 OR p.startup_ms IS NOT NULL), $never) AS reach,
       coalesce(min(p.b) FILTER (WHERE p.failed), $never) AS fail,
       coalesce(min(p.b) FILTER (WHERE p.startup_ms IS NOT NULL), $never) AS startup_b,
       coalesce(arg_min(p.startup_ms, p.server_ts) FILTER (WHERE p.startup_ms IS NOT NULL)
                / 1000.0, 'NaN'::DOUBLE) AS startup_s
FROM post p SEMI JOIN kept k ON p.uid = k.uid AND p.session = k.session
GROUP BY p.uid, p.session ORDER BY p.uid, min(p.server_ts)
"""
_ACTIVITY = """
SELECT p.uid AS unit, p.b, sum(p.plays)::DOUBLE AS plays, sum(p.played_ms) AS played_ms,
       sum(p.rebuffer_ms) AS rebuffer_ms
FROM post p SEMI JOIN kept k ON p.uid = k.uid AND p.session = k.session
GROUP BY p.uid, p.b ORDER BY p.uid, p.b
"""
# CUPED's covariates: the same per-viewer metrics over the period before the start.
_PRE = """
WITH ev AS (
  SELECT viewer, session, server_ts, 0 AS plays, CAST(0 AS DOUBLE) AS played_ms
  FROM session_start
  UNION ALL SELECT viewer, session, server_ts, 1, 0 FROM play_start
  UNION ALL SELECT viewer, session, server_ts, 0, 0 FROM play_end
  UNION ALL SELECT viewer, session, server_ts, 0, coalesce(played_ms, 0) FROM qoe
)
SELECT u.uid AS unit, sum(e.plays)::DOUBLE AS plays, sum(e.played_ms) / 60000.0 AS minutes,
       count(DISTINCT e.session)::DOUBLE AS sessions
FROM ev e JOIN units u USING (viewer)
WHERE e.server_ts >= $pre_since AND e.server_ts < $start
GROUP BY u.uid
"""
_LEFT_OUT = """
SELECT count(*) FILTER (WHERE n_variants > 1),
       count(*) FILTER (WHERE n_variants = 1 AND NOT list_contains($variants, variant))
FROM exposed
"""


@dataclass(frozen=True, eq=False)
class ExperimentEvents:
    """Arrays by unit (viewer, ``uid`` 0..n-1), by session and by (unit, bucket)."""

    variants: tuple[str, ...]
    start: datetime
    bucket: timedelta
    buckets: int  # buckets in [start, until): the last may be partial
    unit_variant: Ints  # index into variants
    unit_first: Ints  # bucket of the first exposure
    pre_plays: Floats
    pre_minutes: Floats
    pre_sessions: Floats
    session_unit: Ints
    session_first: Ints
    session_reach: Ints  # first frame; NEVER if none
    session_fail: Ints  # first failure; NEVER if none
    session_startup_b: Ints  # when its start-up time was reported; NEVER if none
    session_startup_s: Floats  # nan where none
    activity_unit: Ints
    activity_b: Ints
    activity_plays: Floats
    activity_played_ms: Floats
    activity_rebuffer_ms: Floats
    multiple_variants: int  # viewers exposed to two variants: left out
    unknown_variant: int  # viewers exposed to a variant the definition lacks: left out

    @property
    def units(self) -> int:
        return int(self.unit_variant.size)


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
           ) -> dict[str, npt.NDArray[Any]]:  # fmt: skip
    # Columns as numpy arrays (no nulls: every nullable column is coalesced in the SQL).
    return {k: np.asarray(v) for k, v in con.execute(sql, params or {}).fetchnumpy().items()}


def experiment_events(
    files: EventFiles,
    *,
    key: str,
    variants: tuple[str, ...],
    start: datetime,
    until: datetime,
    bucket: timedelta,
    pre_period: timedelta,
) -> ExperimentEvents:
    """The events of experiment ``key`` exposed in [start, until), in ``bucket``s from start."""
    if start.tzinfo is None or until.tzinfo is None:
        raise ValueError("start and until need a UTC offset")
    bucket_us = int(bucket.total_seconds() * 1_000_000)
    start_us = int(start.timestamp() * 1_000_000)
    scope = {"key": key, "start": start, "until": until}
    numbered = {"start_us": start_us, "bucket_us": bucket_us}
    with connect(files, TYPES, (start - pre_period, until)) as con:
        con.execute(_EXPOSED, {**scope, "anonymous": ANONYMOUS})
        con.execute(_UNITS, {"variants": list(variants), **numbered})
        con.execute(_POST, {**scope, **numbered})
        con.execute(_KEPT)
        units = _fetch(con, _UNIT_ROWS)
        sessions = _fetch(con, _SESSIONS, {"never": int(NEVER)})
        activity = _fetch(con, _ACTIVITY)
        pre = _fetch(con, _PRE, {"pre_since": start - pre_period, "start": start})
        left = con.execute(_LEFT_OUT, {"variants": list(variants)}).fetchone() or (0, 0)
    n = int(units["v"].size)
    by_unit = {name: np.zeros(n) for name in ("plays", "minutes", "sessions")}
    for name, column in by_unit.items():
        column[pre["unit"].astype(np.int64)] = pre[name]
    return ExperimentEvents(
        variants=variants,
        start=start,
        bucket=bucket,
        buckets=max(1, math.ceil((until - start) / bucket)),
        unit_variant=units["v"].astype(np.int64),
        unit_first=units["first_b"].astype(np.int64),
        pre_plays=by_unit["plays"],
        pre_minutes=by_unit["minutes"],
        pre_sessions=by_unit["sessions"],
        session_unit=sessions["unit"].astype(np.int64),
        session_first=sessions["first"].astype(np.int64),
        session_reach=sessions["reach"].astype(np.int64),
        session_fail=sessions["fail"].astype(np.int64),
        session_startup_b=sessions["startup_b"].astype(np.int64),
        session_startup_s=sessions["startup_s"].astype(float),
        activity_unit=activity["unit"].astype(np.int64),
        activity_b=activity["b"].astype(np.int64),
        activity_plays=activity["plays"].astype(float),
        activity_played_ms=activity["played_ms"].astype(float),
        activity_rebuffer_ms=activity["rebuffer_ms"].astype(float),
        multiple_variants=int(left[0]),
        unknown_variant=int(left[1]),
    )
