"""Ad delivery from real Parquet files through the real writer and DuckDB."""

from __future__ import annotations

from datetime import timedelta

from reelflow.events.ad_queries import ad_delivery
from reelflow.events.log import RedisStreamLog
from reelflow.events.queries import EventFiles
from reelflow.events.writer import EventWriter
from reelflow.storage import LocalStore
from tests.events.conftest import NOW, make_event


def test_impressions_and_quartiles_per_ad_and_day_count_each_event_once(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    shown = [
        make_event("ad_impression", viewer=v, ad="spring", duration_s=15.0) for v in ("a", "b")
    ]
    quartiles = [
        make_event("ad_quartile", viewer="a", ad="spring", quartile=q)
        for q in ("first", "midpoint", "third", "complete")
    ] + [make_event("ad_quartile", viewer="b", ad="spring", quartile="first")]
    only_played = make_event("ad_quartile", viewer="c", ad="late", quartile="first")
    stream_log.append([*shown, *quartiles, only_played, shown[0], quartiles[3]])  # resent
    writer = EventWriter(stream_log, local_store, "w", block_ms=10)
    while writer.step():
        pass
    late, spring = ad_delivery(files, NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert (spring.ad, spring.day, spring.impressions, spring.viewers) == (
        "spring",
        NOW.date(),
        2,
        2,
    )
    assert (spring.first, spring.midpoint, spring.third, spring.complete) == (2, 1, 1, 1)
    assert spring.seconds == 30.0 and spring.completion == 0.5
    assert (late.impressions, late.first, late.completion) == (0, 1, None)
    assert ad_delivery(files, NOW + timedelta(hours=2), NOW + timedelta(hours=3)) == []
