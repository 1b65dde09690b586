"""Resume positions (catalog/viewer_queries.py ``save_progress``) on SQLite and a real
PostgreSQL: saves of a row that does not exist yet, at the same moment, all succeed (a
heartbeat and the session's end, or two devices of one account: bench/soak.py saw the
second insert answer 500 on PostgreSQL's primary key), and the row keeps one of them."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine

from reelflow.catalog.viewer_queries import progress_row, save_progress

SAVERS = 6
ROUNDS = 15


def test_concurrent_first_saves_of_a_position_all_succeed(catalog: Engine) -> None:
    for n in range(ROUNDS):
        gate = threading.Barrier(SAVERS, timeout=30)

        def save(k: int, account: str = f"acct-{n}", gate: threading.Barrier = gate) -> None:
            gate.wait()  # every saver finds no row, then all insert
            save_progress(catalog, account, "tt-1", float(k), 90.0 if k % 2 else None)

        with ThreadPoolExecutor(SAVERS) as pool:
            for future in [pool.submit(save, k) for k in range(SAVERS)]:
                future.result(timeout=60)  # raised IntegrityError before the upsert
        row = progress_row(catalog, f"acct-{n}", "tt-1")
        assert row is not None and row.position_s in {float(k) for k in range(SAVERS)}


def test_a_save_updates_the_position_and_keeps_a_known_duration(catalog: Engine) -> None:
    save_progress(catalog, "acct", "tt-1", 12.0, 90.0)
    save_progress(catalog, "acct", "tt-1", 30.0, None)
    row = progress_row(catalog, "acct", "tt-1")
    assert row is not None and (row.position_s, row.duration_s) == (30.0, 90.0)
    first = row.updated_at
    save_progress(catalog, "acct", "tt-1", 31.0, 95.0)
    row = progress_row(catalog, "acct", "tt-1")
    assert row is not None and (row.position_s, row.duration_s) == (31.0, 95.0)
    assert row.updated_at >= first
