"""The admin console's QoE queries over event files (DuckDB, local and S3), against values
worked out by hand from the events each test writes through the real writer and Redis."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from reelflow.events.log import RedisStreamLog
from reelflow.events.parquet import arrow_schema, to_parquet, to_table
from reelflow.events.qoe_queries import qoe_report, qoe_sessions, qoe_timeseries
from reelflow.events.queries import EventFiles
from reelflow.events.schema import Context, StoredEvent, parse_client_event, store
from reelflow.events.writer import EventWriter
from reelflow.storage import LocalStore, ObjectStore
from reelflow.storage.layout import event_file_key
from tests.services import S3Server
from tests.storage.support import s3_store

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def beacon(
    at: datetime,
    session: str | None,
    *,
    title: str = "t1",
    plan: str | None = "basic",
    country: str | None = "FR",
    drm: str | None = "clearkey",
    device: str | None = "desktop",
    **measures: Any,
) -> StoredEvent:
    """A qoe event as POST /v1/qoe stores it, accepted at ``at``."""
    body = {"id": str(uuid.uuid4()), "type": "qoe", "ts": at.isoformat(), "title": title}
    ctx = Context(viewer="v_x", country=country, plan=plan, session=session)
    server = {"drm": drm, "device_class": device}
    return store(parse_client_event({**body, **measures}), ctx, now=at, server=server)


def write(stream_log: RedisStreamLog, store_: ObjectStore, events: list[StoredEvent]) -> None:
    stream_log.append(events)
    writer = EventWriter(stream_log, store_, "w", block_ms=10)
    for _ in range(100):  # bounded: a few batches at most
        if writer.step() == 0:
            return
    raise AssertionError("the writer did not drain the stream")


def nearest(values: list[float], p: float) -> float:
    """The nearest-rank percentile, worked out the long way."""
    return sorted(values)[max(1, math.ceil(round(p * len(values), 9))) - 1]


def test_per_title_report_matches_hand_computed(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    at = T0 + timedelta(minutes=5)
    movie = [
        beacon(at, "s0", startup_ms=100.0, played_ms=10_000.0, rebuffer_ms=500.0,
               rebuffer_count=1, errors=["net:timeout"]),
        beacon(at, "s0", startup_ms=200.0, played_ms=20_000.0, bitrate_switches=2),
        beacon(at, "s1", startup_ms=300.0, played_ms=30_000.0, rebuffer_ms=1500.0,
               rebuffer_count=2, errors=["net:timeout", "drm:license"]),
        beacon(at, "s1", startup_ms=400.0, played_ms=15_000.0, bitrate_switches=1),
        beacon(at, "s2", startup_ms=1000.0, played_ms=5_000.0, rebuffer_ms=1000.0,
               rebuffer_count=1),
        beacon(at, "s2", played_ms=20_000.0),
    ]  # fmt: skip
    other = beacon(at, "s3", title="other", startup_ms=50.0, played_ms=1_000.0)
    old = beacon(T0 - timedelta(hours=2), "s9", startup_ms=9.0)
    # Every beacon twice (a retried append): the answer must not change.
    write(stream_log, local_store, [*movie, *movie, other, old])

    report = qoe_report(files, since=T0)
    assert report.since == T0 and report.truncated is False
    first, second = report.titles  # busiest first
    assert (second.title_id, second.beacons, second.startup_p50_ms) == ("other", 1, 50.0)
    assert first.title_id == "t1" and (first.beacons, first.sessions) == (6, 3)
    # Nearest rank over [100, 200, 300, 400, 1000]: p50 is the 3rd, p95 the 5th.
    assert (first.startup_samples, first.startup_p50_ms, first.startup_p95_ms) == (5, 300.0, 1000.0)
    assert first.rebuffer_ratio == pytest.approx(3000 / 103_000)
    assert (first.rebuffer_count, first.rebuffer_ms, first.played_ms) == (4, 3000.0, 100_000.0)
    assert first.bitrate_switches == 3
    assert (first.error_count, first.beacons_with_errors) == (3, 2)
    assert [(e.code, e.count) for e in first.top_errors] == [("net:timeout", 2), ("drm:license", 1)]
    assert second.top_errors == [] and second.rebuffer_ratio == 0.0

    only = qoe_report(files, since=T0, title_id="other")
    assert [t.title_id for t in only.titles] == ["other"]
    top = qoe_report(files, since=T0, max_titles=1)
    assert top.truncated and [t.title_id for t in top.titles] == ["t1"]
    assert qoe_report(files, since=T0 + timedelta(hours=1)).titles == []
    everything = qoe_report(files, since=T0 - timedelta(hours=3))
    assert sum(t.beacons for t in everything.titles) == 8


def test_series_buckets_percentiles_and_ratios_match_hand_computed(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    rng = random.Random(7)
    hour0 = [round(rng.uniform(100, 3000), 3) for _ in range(23)]  # odd n: p50 is the middle
    hour1 = [round(rng.uniform(100, 3000), 3) for _ in range(20)]  # 0.95 * 20: float noise
    events = [beacon(T0 + timedelta(minutes=i), f"a{i}", startup_ms=v) for i, v in enumerate(hour0)]
    events += [
        beacon(T0 + timedelta(hours=1, minutes=i), f"b{i}", startup_ms=v)
        for i, v in enumerate(hour1)
    ]
    # Rebuffering and errors in hour 1 for another plan; one qoe event without dimensions
    # (a player's own, through POST /v1/events).
    events += [
        beacon(T0 + timedelta(hours=1, minutes=5), "p1", plan="premium", device="tv",
               played_ms=9000.0, rebuffer_ms=1000.0, errors=["shaka:1001"]),
        beacon(T0 + timedelta(hours=1, minutes=6), "p1", plan="premium", device="tv",
               played_ms=10_000.0),
        beacon(T0 + timedelta(minutes=2), "old", plan=None, drm=None, device=None,
               startup_ms=50.0),
    ]  # fmt: skip
    write(stream_log, local_store, events)

    until = T0 + timedelta(hours=2)
    series = qoe_timeseries(files, since=T0, until=until, by="plan", bucket_s=3600)
    assert series.groups == ["basic", "premium", "unknown"] and not series.truncated
    points = {(p.bucket_start, p.group): p for p in series.points}
    for start, values in ((T0, hour0), (T0 + timedelta(hours=1), hour1)):
        p = points[(start, "basic")]
        assert (p.startup_samples, p.beacons, p.sessions) == (len(values),) * 3
        assert p.startup_p50_ms == nearest(values, 0.5)
        assert p.startup_p95_ms == nearest(values, 0.95)
    premium = points[(T0 + timedelta(hours=1), "premium")]
    assert premium.rebuffer_ratio == pytest.approx(1000 / 20_000)
    assert (premium.failed_sessions, premium.sessions, premium.beacons) == (1, 1, 2)
    assert premium.startup_p50_ms is None
    assert points[(T0, "unknown")].startup_p50_ms == 50.0
    assert (T0 + timedelta(hours=1), "unknown") not in points
    assert [p.bucket_start for p in series.points] == sorted(p.bucket_start for p in series.points)

    narrow = qoe_timeseries(files, since=T0, until=until, by="plan", bucket_s=3600, max_groups=1)
    assert narrow.groups == ["basic"] and narrow.truncated
    assert {p.group for p in narrow.points} == {"basic"}
    by_device = qoe_timeseries(files, since=T0, until=until, by="device", bucket_s=600)
    assert by_device.groups == ["desktop", "tv", "unknown"]
    # Beacons at minutes 0-22 of hour 0 and 0-19 of hour 1: ten-minute buckets 0, 10, 20.
    assert {p.bucket_start.minute for p in by_device.points} == {0, 10, 20}
    assert sum(p.beacons for p in by_device.points if p.group == "desktop") == 43
    one = qoe_timeseries(files, since=T0, until=until, by="drm", bucket_s=7200, title_id="zz")
    assert one.groups == [] and one.points == []


def test_sessions_slowest_and_failing(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    write(stream_log, local_store, [
        beacon(T0, "slow", startup_ms=4000.0, device="mobile"),
        beacon(T0, "quick", plan="premium", startup_ms=200.0),
        beacon(T0, "broken", plan="standard", errors=["a", "b"]),
        beacon(T0 + timedelta(seconds=5), "broken", plan="standard", errors=["c"],
               played_ms=100.0),
        beacon(T0, None, startup_ms=9999.0),  # no session: no row in a session list
    ])  # fmt: skip
    slowest = qoe_sessions(files, since=T0, order="slowest")
    assert [(s.session_id, s.startup_ms) for s in slowest] == [("slow", 4000.0), ("quick", 200.0)]
    assert (slowest[0].device_class, slowest[0].drm, slowest[0].country) == (
        "mobile", "clearkey", "FR",
    )  # fmt: skip
    assert slowest[0].first_at == T0
    failing = qoe_sessions(files, since=T0, order="failing")
    assert [(s.session_id, s.error_count, s.plan, s.played_ms) for s in failing] == [
        ("broken", 3, "standard", 100.0)
    ]
    assert qoe_sessions(files, since=T0 + timedelta(seconds=1), order="slowest") == []
    assert len(qoe_sessions(files, since=T0, order="slowest", limit=1)) == 1


def test_bad_windows_are_refused(files: EventFiles) -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        qoe_timeseries(files, since=T0.replace(tzinfo=None), until=T0, by="title", bucket_s=60)
    with pytest.raises(ValueError, match="after since"):
        qoe_timeseries(files, since=T0, until=T0, by="title", bucket_s=60)
    with pytest.raises(ValueError, match="buckets"):
        qoe_timeseries(files, since=T0, until=T0 + timedelta(days=30), by="title", bucket_s=60)
    with pytest.raises(ValueError, match="max_titles"):
        qoe_report(files, since=T0, max_titles=0)
    with pytest.raises(ValueError, match="UTC offset"):
        qoe_sessions(files, since=T0.replace(tzinfo=None), order="failing")
    assert qoe_report(files, since=T0).titles == []  # an empty store answers, no error


def _old_schema_file(store_: ObjectStore, at: datetime, n: int) -> None:
    """A qoe file as the writer wrote them before drm and device_class were columns."""
    events = [beacon(at, f"old{i}", startup_ms=100.0 * (i + 1)) for i in range(n)]
    table = to_table("qoe", [e.model_dump() for e in events]).drop_columns(["drm", "device_class"])
    assert "drm" not in table.schema.names
    store_.put_bytes(event_file_key("qoe", at, "0-1_0-2.parquet"), to_parquet(table))


def test_files_older_than_a_column_read_it_as_unknown(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    _old_schema_file(local_store, T0, 3)
    write(stream_log, local_store, [beacon(T0 + timedelta(minutes=1), "new", drm="widevine")])
    series = qoe_timeseries(files, since=T0, until=T0 + timedelta(hours=1), by="drm", bucket_s=3600)
    assert {p.group: p.beacons for p in series.points} == {"unknown": 3, "widevine": 1}
    # An hour holding old files only: the column exists nowhere in what is read.
    _old_schema_file(local_store, T0 + timedelta(hours=3), 2)
    late = qoe_sessions(files, since=T0 + timedelta(hours=3), order="slowest")
    assert [(s.drm, s.device_class) for s in late] == [("unknown", "unknown")] * 2


def test_only_the_hours_of_the_window_are_read(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    write(stream_log, local_store, [beacon(T0, "s1", startup_ms=10.0)])
    # Not Parquet at all, two hours before: reading it would fail the query.
    local_store.put_bytes(event_file_key("qoe", T0 - timedelta(hours=2), "x.parquet"), b"junk")
    assert qoe_report(files, since=T0).titles[0].beacons == 1
    assert len(qoe_sessions(files, since=T0 - timedelta(minutes=59), order="slowest")) == 1
    with pytest.raises(duckdb.Error, match=r"(?i)parquet|magic"):
        qoe_report(files, since=T0 - timedelta(hours=2))


def test_the_same_answers_from_an_s3_store(stream_log: RedisStreamLog, seaweed: S3Server) -> None:
    s3 = s3_store(seaweed.endpoint)
    write(stream_log, s3, [beacon(T0, f"s{i}", startup_ms=100.0 * i) for i in range(1, 5)])
    _old_schema_file(s3, T0 + timedelta(minutes=30), 1)
    fs = pafs.S3FileSystem(
        access_key="testing", secret_key="testing", endpoint_override=seaweed.endpoint,
        scheme="http", region="us-east-1",
    )  # fmt: skip
    files = EventFiles(fs, s3.bucket)
    [title] = qoe_report(files, since=T0).titles
    # [100, 100 (the old file's), 200, 300, 400]: p50 is the 3rd, p95 the 5th.
    assert (title.beacons, title.startup_p50_ms, title.startup_p95_ms) == (5, 200.0, 400.0)
    series = qoe_timeseries(files, since=T0, until=T0 + timedelta(hours=1), by="drm", bucket_s=600)
    assert {(p.bucket_start.minute, p.group, p.beacons) for p in series.points} == {
        (0, "clearkey", 4),
        (30, "unknown", 1),
    }


def test_the_parquet_schema_has_the_server_fields_after_the_clients() -> None:
    names = arrow_schema("qoe").names
    assert names[-2:] == ["drm", "device_class"]
    assert names.index("bandwidth_kbps") < names.index("drm")
    assert arrow_schema("qoe").field("drm").type == pa.string()
    assert "drm" not in arrow_schema("search").names


def test_a_file_written_by_the_writer_holds_the_server_fields(
    stream_log: RedisStreamLog, local_store: LocalStore
) -> None:
    write(stream_log, local_store, [beacon(T0, "s1", drm="fairplay", device="tablet")])
    [info] = list(local_store.list("events/type=qoe/"))
    table = pq.read_table(local_store.local_path(info.key))
    assert table.column("drm").to_pylist() == ["fairplay"]
    assert table.column("device_class").to_pylist() == ["tablet"]
