"""bench/soak.py's rules, on made-up records (the soak itself is a 30-minute bench run, not a
CI test): what counts as a failure in and out of an outage, recovery, memory growth, and
the chart is written."""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))  # its sibling imports

from soak_load import Record
from soak_report import Outage, phase, plot, rss_growth, summarise

OUTAGES = [Outage("redis", 100.0, 115.0), Outage("postgresql", 200.0, 215.0)]


def test_phases_cover_the_outage_and_its_grace() -> None:
    assert phase(99.9, OUTAGES, 10) == "normal"
    assert phase(100.0, OUTAGES, 10) == "redis down"
    assert phase(120.0, OUTAGES, 10) == "redis back (grace)"
    assert phase(125.0, OUTAGES, 10) == "normal"
    assert phase(210.0, OUTAGES, 10) == "postgresql down"


def test_only_clean_503s_in_outages_and_no_5xx_outside() -> None:
    records = [
        Record(10.0, "home", 200, 5.0, False),
        Record(101.0, "start", 503, 4.0, True),  # clean, in the outage: fine
        Record(102.0, "events", 503, 4.0, False),  # a 503 without Retry-After: a failure
        Record(103.0, "home", 500, 4.0, False),  # a 500 in the outage: a failure
        Record(118.0, "license", 503, 4.0, True),  # clean, 3 s after Redis was back: fine
        Record(150.0, "manifest", 503, 4.0, True, "", "service_unavailable"),  # outside: failure
        Record(205.0, "end", 0, 10_000.0, False, "ReadTimeout"),  # no answer: a failure
        Record(290.0, "heartbeat", 200, 6.0, False),
        Record(199.99, "home", 503, 30.0, True),  # sent before the stop, answered in it: fine
    ]
    rss = [(float(t), 100_000 + t) for t in range(0, 300, 5)]
    s = summarise(records, OUTAGES, rss, seconds=300, grace=10, warmup_s=60)
    assert s["failures"] == 4
    assert {f["t"] for f in s["first_failures"]} == {102.0, 103.0, 150.0, 205.0}
    assert [o["recovery_s"] for o in s["outages"]] == [35.0, 0.0]  # Redis: the 503 at 150 s
    assert s["verdict"] == {"clean_outages": False, "memory_within_5pct": True}
    assert len(s["windows"]) == 30 and s["windows"][1]["n"] == 1 and s["windows"][0]["n"] == 0


def test_memory_growth_compares_the_first_and_last_minute_after_warm_up() -> None:
    flat = [(float(t), 200_000) for t in range(0, 600, 5)]
    assert rss_growth(flat, 120)["growth_pct"] == 0.0
    leaking = [(float(t), 200_000 + 100 * t) for t in range(0, 600, 5)]
    grown = rss_growth(leaking, 120)
    assert grown["growth_pct"] > 5.0 and grown["end_mib"] > grown["start_mib"]


def test_the_chart_is_a_png(tmp_path: Path) -> None:
    records = [Record(t / 10, "home", 200, 5.0 + t % 7, False) for t in range(3000)]
    s = summarise(records, OUTAGES, [], seconds=300, grace=10, warmup_s=60)
    path = tmp_path / "p99.png"
    plot(s, path, "test")
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == (900, 340)
        assert img.getpixel((int(64 + 836 * 105 / 300), 200)) == (255, 214, 214)  # shaded


def test_shedding_on_a_busy_host_is_counted_apart_and_not_as_recovery() -> None:
    records = [
        Record(101.0, "start", 503, 4.0, True, "", "service_unavailable"),
        Record(116.0, "home", 503, 4.0, True, "", "service_unavailable"),  # 1 s after: recovery
        Record(140.0, "home", 503, 300.0, True, "", "overloaded"),  # admission control
    ]
    s = summarise(records, OUTAGES[:1], [], seconds=300, grace=10, warmup_s=60)
    assert s["outages"][0]["recovery_s"] == 1.0
    assert (s["failures"], s["shed"]) == (1, 1)
    assert {"phase": "normal", "op": "home", "status": "503 overloaded", "count": 1} in s[
        "statuses"
    ]
