"""Viewer events: the writer's throughput and the QoE query over millions, each beside a baseline.

- writer: N qoe events appended to a real Redis Stream (100 per pipeline, as the API does),
  then drained by (a) the baseline, the log alone: read through the consumer group, parse
  each event, acknowledge and delete, no file; (b) ``EventWriter``: the same plus one Parquet
  file per partition in a LocalStore. Printed: events/s of each, the ratio, peak RSS.
  ``--writer-minutes M`` instead runs a producer at ``--rate`` events/s for M minutes against
  one real writer process (``reelflow events writer``) and samples its RSS every 10 s (aim:
  >= 20,000 events/s, RSS flat); the end prints the rate written, the backlog left, and
  the peak RSS of the first and of the last minute and the growth between them.
- ingest (bench/events_ingest.py): POST /v1/events, 20 events per request, beside the
  bare FastAPI JSON endpoint on real uvicorn processes: the request-rate ratio (aim
  >= 0.4x), events/s per API worker, p99 at a fixed 200 requests/s (aim <= 10 ms).
- query: M generated qoe events written straight to Parquet in the events layout (hourly
  partitions over a week, 200 titles x 10 countries x 4 plans, each hour one compacted file
  as the compaction schedule leaves it; then again as uncompacted files), then the admin QoE
  aggregate (startup p50/p95 and rebuffer ratio by title x country x plan x hour) on DuckDB
  over the files (``events.queries.qoe_cells_table``, deduplication included) beside the same
  aggregate on a PostgreSQL table of the same rows (the beacon table's shape, indexed on
  the received time), each the best of 3. Also the console's read
  (``events.aggregates.qoe_console_cells``): the hours upkeep has settled read from their
  kept cells, which upkeep writes once per hour (its cost printed). Aim: <= 2 s on DuckDB
  for 10 million.

    .venv/bin/python bench/events.py [--events 200000] [--query-events 1000000]
    .venv/bin/python bench/events.py --only query --query-events 10000000
    .venv/bin/python bench/events.py --only writer --writer-minutes 10
    .venv/bin/python bench/events.py --only ingest [--seconds 5] [--rounds 3]

Both share the machine's 2 cores with the servers they talk to (Redis, PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.fs as pafs  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import redis  # noqa: E402

from reelflow.events.aggregates import qoe_console_cells, write_qoe_hourly  # noqa: E402
from reelflow.events.log import RedisStreamLog  # noqa: E402
from reelflow.events.maintenance import COMPACTED_NAME  # noqa: E402
from reelflow.events.parquet import arrow_schema  # noqa: E402
from reelflow.events.queries import EventFiles, qoe_cells_table  # noqa: E402
from reelflow.events.schema import Context, StoredEvent, parse_client_event, store  # noqa: E402
from reelflow.events.writer import EventWriter  # noqa: E402
from reelflow.storage import LocalStore  # noqa: E402
from reelflow.storage.layout import event_file_key  # noqa: E402
from tests.services import postgres_server, redis_server  # noqa: E402

START = datetime(2026, 11, 30, tzinfo=UTC)


def _qoe_events(n: int) -> list[StoredEvent]:
    now = datetime.now(UTC)
    ctx = Context(viewer="v_bench", country="FR", plan="basic", session="s1", device="d1")
    out = []
    for i in range(n):
        body = {
            "id": str(uuid.uuid4()), "type": "qoe", "ts": now.isoformat(), "title": f"t{i % 50}",
            "startup_ms": float(100 + i % 900), "played_ms": 30_000.0, "rebuffer_ms": float(i % 7),
        }  # fmt: skip
        out.append(store(parse_client_event(body), ctx, now=now))
    return out


def _append(log: RedisStreamLog, events: list[StoredEvent]) -> None:
    for i in range(0, len(events), 100):
        log.append(events[i : i + 100])


def _drain_baseline(log: RedisStreamLog) -> int:
    log.ensure_group()
    n = 0
    while batch := log.read("baseline", 5000, None):
        n += sum(1 for e in batch if e.record is not None)
        log.done([e.entry_id for e in batch])
    return n


def bench_writer(redis_url: str, n: int) -> None:
    client = redis.Redis.from_url(redis_url)
    events = _qoe_events(n)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("baseline", "writer"):
            log = RedisStreamLog(client, stream=f"bench:{name}")
            _append(log, events)
            t0 = time.perf_counter()
            if name == "baseline":
                done = _drain_baseline(log)
            else:
                writer = EventWriter(log, LocalStore(Path(tmp) / "objects"), "w1", block_ms=1)
                done = 0
                while step := writer.step():
                    done += step
            secs = time.perf_counter() - t0
            assert done == n and log.backlog() == 0, (name, done, log.backlog())
            results[name] = n / secs
            print(f"  {name:9s} {n} events in {secs:6.2f} s: {n / secs:9,.0f} events/s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  writer / log alone: {results['writer'] / results['baseline']:.2f}x")
    print(f"  peak RSS of this process (events held in memory too): {peak:.0f} MB")


def _proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bench_writer_soak(redis_url: str, minutes: float, rate: int) -> None:
    """The real writer process (``reelflow events writer``) under a producer at ``rate``.

    The producer appends pre-encoded entries (a template with a fresh id each) in pipelines
    of 100, so it is not what limits the rate; the writer's RSS is read from /proc."""
    client = redis.Redis.from_url(redis_url)
    log = RedisStreamLog(client)  # the stream the writer process reads
    entries = [e.to_json() for e in _qoe_events(100)]
    ids = [json.loads(e)["id"] for e in entries]
    stop = threading.Event()
    sent = [0]

    def produce() -> None:
        t0 = time.perf_counter()
        while not stop.is_set():
            if int((time.perf_counter() - t0) * rate) - sent[0] < 100:
                time.sleep(0.002)
                continue
            pipe = client.pipeline(transaction=False)
            for entry, old in zip(entries, ids, strict=True):
                pipe.xadd(log.stream, {"e": entry.replace(old, str(uuid.uuid4()))})
            pipe.execute()
            sent[0] += 100

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "REELFLOW_HOME": tmp, "REELFLOW_REDIS_URL": redis_url}
        writer = subprocess.Popen(
            [str(ROOT / ".venv/bin/reelflow"), "events", "writer"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        producer = threading.Thread(target=produce, daemon=True)
        samples: list[tuple[float, float]] = []  # (seconds, writer RSS MB)
        try:
            time.sleep(2.0)  # the writer's start-up (imports) is not its throughput
            producer.start()
            t0 = time.perf_counter()
            while (elapsed := time.perf_counter() - t0) < minutes * 60:
                samples.append((elapsed, _proc_rss_mb(writer.pid)))
                backlog = log.backlog()
                print(f"  {elapsed:6.0f} s  sent {sent[0]:>10,}  written {sent[0] - backlog:>10,}"
                      f"  backlog {backlog:>8,}  writer RSS {samples[-1][1]:6.0f} MB")  # fmt: skip
                time.sleep(10.0)
            secs = time.perf_counter() - t0
            stop.set()
            producer.join()
            written = sent[0] - log.backlog()
            print(f"  written {written / secs:,.0f} events/s over {secs:.0f} s "
                  f"(producer {sent[0] / secs:,.0f}/s, backlog {log.backlog():,})")  # fmt: skip
        finally:
            stop.set()
            writer.terminate()
            writer.wait(timeout=60)
        _rss_flatness(samples, secs)


def _rss_flatness(samples: list[tuple[float, float]], secs: float) -> None:
    """Peak RSS of the first and of the last minute: flat memory shows as ~0 growth."""
    first = max(rss for at, rss in samples if at < 60)
    last = max(rss for at, rss in samples if at >= secs - 60)
    print(f"  peak RSS: first minute {first:.0f} MB, last minute {last:.0f} MB "
          f"({last - first:+.0f} MB), whole run {max(r for _, r in samples):.0f} MB")  # fmt: skip


# ---- query ------------------------------------------------------------------------------


COUNTRIES = np.array(["FR", "DE", "US", "GB", "ES", "IT", "NL", "SE", "PL", "BR"])
PLANS = np.array(["basic", "standard", "premium", "basic_with_ads"])
DRMS = np.array(["clearkey", "widevine", "playready", "fairplay"])
DEVICES = np.array(["tv", "tablet", "mobile", "desktop"])


def _generate(root: Path, n: int, rng: np.random.Generator) -> pa.Table:
    """n qoe rows over a week, written one file per hour in the events layout."""
    hours = 7 * 24
    hour = rng.integers(0, hours, n)
    server_ts = np.datetime64(START.replace(tzinfo=None), "us") + (
        hour * 3_600_000_000 + rng.integers(0, 3_600_000_000, n)
    ).astype("timedelta64[us]")
    schema = arrow_schema("qoe")
    columns = {
        "id": pa.array([uuid.UUID(int=int(x)).hex for x in rng.integers(0, 2**62, n)]),
        "schema_version": pa.array(np.ones(n, dtype=np.int16)),
        "ts": pa.array(server_ts, pa.timestamp("us", tz="UTC")),
        "server_ts": pa.array(server_ts, pa.timestamp("us", tz="UTC")),
        "viewer": pa.array([f"v_{x}" for x in rng.integers(0, 100_000, n)]),
        "device": pa.nulls(n, pa.string()),
        "session": pa.array([f"s{x}" for x in rng.integers(0, n // 4 + 1, n)]),
        "title": pa.array([f"t{x}" for x in rng.integers(0, 200, n)]),
        "country": pa.array(COUNTRIES[rng.integers(0, len(COUNTRIES), n)]),
        "plan": pa.array(PLANS[rng.integers(0, len(PLANS), n)]),
        "startup_ms": pa.array(rng.gamma(2.0, 400.0, n)),
        "rebuffer_count": pa.array(rng.poisson(0.2, n).astype(np.int64)),
        "rebuffer_ms": pa.array(rng.exponential(200.0, n)),
        "played_ms": pa.array(np.full(n, 30_000.0)),
        "bitrate_switches": pa.array(rng.poisson(0.5, n).astype(np.int64)),
        "errors": pa.array([[] for _ in range(n)], pa.list_(pa.string())),
        "bandwidth_kbps": pa.array(rng.gamma(3.0, 2000.0, n)),
        "drm": pa.array(DRMS[rng.integers(0, len(DRMS), n)]),
        "device_class": pa.array(DEVICES[rng.integers(0, len(DEVICES), n)]),
    }  # fmt: skip
    table = pa.table(columns, schema=schema)
    order = np.argsort(hour, kind="stable")
    table, hour = table.take(order), hour[order]
    bounds = np.searchsorted(hour, np.arange(hours + 1))
    for h in range(hours):
        part = table.slice(bounds[h], bounds[h + 1] - bounds[h])
        key = event_file_key("qoe", START + timedelta(hours=h), COMPACTED_NAME)
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, path, compression="zstd")
    return table


_PG_QUERY = """
SELECT title, country, plan, date_trunc('hour', server_ts) AS hour, count(*),
       count(DISTINCT session),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY startup_ms),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY startup_ms),
       CASE WHEN sum(played_ms) + sum(rebuffer_ms) > 0
            THEN sum(rebuffer_ms) / (sum(played_ms) + sum(rebuffer_ms)) END
FROM qoe WHERE server_ts >= %s AND server_ts < %s GROUP BY 1, 2, 3, 4
"""


def _load_postgres(url: str, table: pa.Table) -> None:
    cols = ["id", "server_ts", "session", "title", "country", "plan", "startup_ms",
            "rebuffer_ms", "played_ms"]  # fmt: skip
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("DROP TABLE IF EXISTS qoe")
        con.execute(
            "CREATE TABLE qoe (id text, server_ts timestamptz, session text, title text, "
            "country text, plan text, startup_ms float8, rebuffer_ms float8, played_ms float8)"
        )
        data = table.select(cols).to_pydict()
        with con.cursor().copy(f"COPY qoe ({', '.join(cols)}) FROM STDIN") as copy:
            for row in zip(*(data[c] for c in cols), strict=True):
                copy.write_row(row)
        con.execute("CREATE INDEX ON qoe (server_ts)")
        con.execute("ANALYZE qoe")


def _best_of(fn: object, runs: int = 3) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(runs):
        t0 = time.perf_counter()
        count = fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best, count


def bench_query(n: int) -> None:
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp, postgres_server() as sqlalchemy_url:
        pg_url = sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://")
        t0 = time.perf_counter()
        table = _generate(Path(tmp), n, rng)
        print(f"  generated {n:,} events in {time.perf_counter() - t0:.1f} s")
        files = EventFiles(pafs.LocalFileSystem(), tmp)
        since, until = START, START + timedelta(days=7)
        duck_s, cells = _best_of(lambda: qoe_cells_table(files, since, until).num_rows)
        print(f"  DuckDB over compacted Parquet: {duck_s:6.2f} s ({cells:,} cells)")
        t0 = time.perf_counter()
        write_qoe_hourly(
            LocalStore(Path(tmp)), files, [START + timedelta(hours=h) for h in range(7 * 24)]
        )
        print(f"  (upkeep's kept cells for the {7 * 24} hours: {time.perf_counter() - t0:.1f} s)")
        kept_s, kept_cells = _best_of(lambda: qoe_console_cells(files, since, until).num_rows)
        assert kept_cells == cells
        print(f"  DuckDB, settled hours from kept cells (the console's read): {kept_s:6.2f} s")
        for path in Path(tmp).rglob(COMPACTED_NAME):  # as if no hour had been compacted yet
            path.rename(path.with_name("fresh.parquet"))
        fresh_s, _ = _best_of(lambda: qoe_cells_table(files, since, until).num_rows)
        print(f"  DuckDB over uncompacted Parquet (every row deduplicated): {fresh_s:6.2f} s")
        t0 = time.perf_counter()
        _load_postgres(pg_url, table)
        print(f"  (PostgreSQL load {time.perf_counter() - t0:.0f} s)")
        with psycopg.connect(pg_url) as con:
            pg_s, pg_cells = _best_of(
                lambda: len(con.execute(_PG_QUERY, (since, until)).fetchall())
            )
        print(f"  PostgreSQL table:              {pg_s:6.2f} s ({pg_cells:,} cells)")
        print(f"  DuckDB / PostgreSQL: {duck_s / pg_s:.2f}x the time (raw), "
              f"{kept_s / pg_s:.2f}x (kept cells)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["writer", "query", "ingest"])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--query-events", type=int, default=1_000_000)
    ap.add_argument("--writer-minutes", type=float, default=0.0)
    ap.add_argument("--rate", type=int, default=20_000, help="soak producer, events/s")
    ap.add_argument("--seconds", type=int, default=5, help="ingest: per wrk run")
    ap.add_argument("--rounds", type=int, default=3, help="ingest: alternating rounds")
    ap.add_argument("--ingest-rate", type=int, default=200, help="ingest: fixed requests/s")
    ap.add_argument("--rate-seconds", type=int, default=10, help="ingest: fixed-rate run")
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}")
    if args.only in (None, "writer"):
        with redis_server() as url:
            if args.writer_minutes:
                print(f"writer soak: {args.writer_minutes} min at {args.rate:,} events/s")
                bench_writer_soak(url, args.writer_minutes, args.rate)
            else:
                print(f"writer: {args.events:,} qoe events")
                bench_writer(url, args.events)
    if args.only in (None, "query"):
        print(f"query: {args.query_events:,} qoe events")
        bench_query(args.query_events)
    if args.only in (None, "ingest"):
        from events_ingest import bench_ingest  # bench/ is the script's own path entry

        print("ingest: POST /v1/events beside the bare FastAPI endpoint")
        bench_ingest(args)


if __name__ == "__main__":
    main()
