"""bench/soak.py's verdicts and chart: what each answer means given when the outages were,
recovery times, memory growth, p99 per window, and a PNG of p99 over time (Pillow).

The rules (issue 25): while a dependency is down, or in the ``grace`` seconds after it is
back, an answer of 500 or more must be a clean 503 (application/problem+json with
Retry-After); outside those windows no 5xx at all; a request with no HTTP answer
(connection error, timeout) is a failure anywhere.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soak_load import Record  # bench/ is on sys.path when the script runs (and for mypy)

WINDOW_S = 10.0


@dataclass(frozen=True)
class Outage:
    name: str  # "redis", "postgresql"
    down_at: float  # seconds since the load started: the stop signal
    up_at: float  # the restarted server accepts connections again


def phase(t: float, outages: list[Outage], grace: float) -> str:
    for o in outages:
        if o.down_at <= t < o.up_at:
            return f"{o.name} down"
        if o.up_at <= t < o.up_at + grace:
            return f"{o.name} back (grace)"
    return "normal"


def failure(r: Record, where: str) -> str | None:
    """Why ``r`` breaks the rules in phase ``where``, or None."""
    if r.status == 0:
        return f"no answer ({r.error})"
    if r.status >= 500 and where == "normal":
        return f"{r.status} {r.problem} outside an outage"
    if r.status >= 500 and not r.clean:
        return f"{r.status} {r.problem} not a clean 503 problem with Retry-After"
    return None


def recovery_s(records: list[Record], outage: Outage, until: float) -> float:
    """Seconds from the server being back to the last 5xx sent before ``until`` (0: none);
    admission control's ``overloaded`` answers say the host is busy, not that it is down."""
    last = [
        r.t
        for r in records
        if outage.up_at <= r.t
        and r.t + r.latency_ms / 1000 < until
        and r.status >= 500
        and r.problem != "overloaded"
    ]
    return round(max(last) - outage.up_at, 1) if last else 0.0


def p_quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] if values else math.nan


def windows(records: list[Record], seconds: float) -> list[dict[str, Any]]:
    """p50/p99 latency and request count per WINDOW_S window of send times."""
    buckets: dict[int, list[float]] = {}
    for r in records:
        if r.status:
            buckets.setdefault(int(r.t // WINDOW_S), []).append(r.latency_ms)
    out = []
    for n in range(math.ceil(seconds / WINDOW_S)):
        lat = buckets.get(n, [])
        p50, p99 = (round(p_quantile(lat, q), 2) for q in (0.5, 0.99)) if lat else (None, None)
        out.append({"t": n * WINDOW_S, "n": len(lat), "p50_ms": p50, "p99_ms": p99})
    return out


def rss_growth(samples: list[tuple[float, int]], warmup_s: float) -> dict[str, Any]:
    """Median RSS of the first minute after warm-up against the last minute's."""
    after = [(t, kib) for t, kib in samples if t >= warmup_s]
    if len(after) < 2:
        return {"growth_pct": math.nan}
    end = after[-1][0]
    first = sorted(k for t, k in after if t < warmup_s + 60)
    last = sorted(k for t, k in after if t >= end - 60)
    a, b = first[len(first) // 2], last[len(last) // 2]
    return {
        "start_mib": round(a / 1024, 1),
        "end_mib": round(b / 1024, 1),
        "max_mib": round(max(k for _, k in after) / 1024, 1),
        "growth_pct": round((b - a) * 100 / a, 2),
    }


def summarise(
    records: list[Record],
    outages: list[Outage],
    rss: list[tuple[float, int]],
    *,
    seconds: float,
    grace: float,
    warmup_s: float,
) -> dict[str, Any]:
    statuses: Counter[tuple[str, str, str]] = Counter()
    failures: list[dict[str, Any]] = []
    for r in records:
        where = phase(r.t, outages, grace)
        if where == "normal":  # sent just before a stop, answered after it: in the outage
            where = phase(r.t + r.latency_ms / 1000, outages, grace)
        statuses[(where, r.op, f"{r.status} {r.problem}".strip())] += 1
        why = failure(r, where)
        if why is not None:
            failures.append({"t": round(r.t, 2), "op": r.op, "phase": where, "why": why})
    ends = [o.down_at for o in outages[1:]] + [seconds]
    memory = rss_growth(rss, warmup_s)
    return {
        "requests": len(records),
        "failures": len(failures),
        # Of those, admission control's refusals on a busy host (503 overloaded).
        "shed": sum("overloaded" in f["why"] for f in failures),
        "failure_kinds": dict(Counter(f"{f['phase']}: {f['op']} {f['why']}" for f in failures)),
        "first_failures": failures[:20],
        "statuses": [
            {"phase": p, "op": op, "status": s, "count": n}
            for (p, op, s), n in sorted(statuses.items())
        ],
        "outages": [
            {
                "name": o.name,
                "down_at_s": round(o.down_at, 1),
                "down_s": round(o.up_at - o.down_at, 1),
                "recovery_s": recovery_s(records, o, end),
            }
            for o, end in zip(outages, ends, strict=True)
        ],
        "rss": memory,
        "windows": windows(records, seconds),
        "verdict": {
            "clean_outages": not failures,
            "memory_within_5pct": bool(memory["growth_pct"] <= 5.0),
        },
    }


def plot(summary: dict[str, Any], path: Path, title: str) -> None:
    """p99 (and p50) per window over time, the outages shaded: a small PNG with Pillow."""
    from PIL import Image, ImageDraw, ImageFont

    w, h, left, right, top, bottom = 900, 340, 64, 16, 34, 40
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    rows = [x for x in summary["windows"] if x["n"]]
    end = max(x["t"] for x in summary["windows"]) + WINDOW_S
    # Log scale: a quiet minute (a few ms) and an outage's or a busy host's seconds both show.
    lo = 10 ** math.floor(math.log10(max(0.1, min(x["p50_ms"] for x in rows))))
    hi = 10 ** math.ceil(math.log10(max([x["p99_ms"] for x in rows] + [lo * 10])))
    span = math.log10(hi / lo)
    x_of = lambda t: left + (w - left - right) * t / end  # noqa: E731
    y_of = lambda ms: h - bottom - (h - top - bottom) * math.log10(max(ms, lo) / lo) / span  # noqa: E731
    shades = {"redis": (255, 214, 214), "postgresql": (214, 226, 255)}
    for o in summary["outages"]:
        x0, x1 = x_of(o["down_at_s"]), x_of(o["down_at_s"] + o["down_s"])
        d.rectangle([x0, top, max(x1, x0 + 2), h - bottom], fill=shades.get(o["name"], "#ddd"))
        d.text((x0 + 3, top + 2), f"{o['name']} down", fill="black", font=font)
    for k in range(round(span) + 1):  # a grid line and label per decade
        ms = lo * 10**k
        d.line([left, y_of(ms), w - right, y_of(ms)], fill=(225, 225, 225))
        d.text((4, y_of(ms) - 6), f"{ms:g} ms", fill="black", font=font)
    minutes = max(1, int(end // 60))
    step = max(1, minutes // 10)
    for m in range(0, minutes + 1, step):  # time axis in minutes
        d.text((x_of(m * 60) - 4, h - bottom + 6), f"{m}", fill="black", font=font)
    d.text((w // 2 - 40, h - 16), "minutes into the run", fill="black", font=font)
    d.rectangle([left, top, w - right, h - bottom], outline="black")
    for key, colour in (("p50_ms", (120, 160, 120)), ("p99_ms", (200, 30, 30))):
        points = [(x_of(x["t"] + WINDOW_S / 2), y_of(x[key])) for x in rows]
        if len(points) > 1:
            d.line(points, fill=colour, width=2)
    d.text((left, 8), title, fill="black", font=font)
    d.text((w - right - 180, 8), "red: p99  green: p50 (10 s)", fill="black", font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, optimize=True)
