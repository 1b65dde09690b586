"""The events writer's Prometheus metrics: events written by type, and the QoE histograms the
Grafana dashboard reads (deploy/grafana/reelflow.json), from the ``qoe`` events it writes.

The writer is the event log's one consumer, so the dashboard counts what the log holds, as
the admin console's queries do, whoever appended it (``POST /v1/qoe``, ``POST /v1/events``).
A file's events are observed once the file is written. Delivery into the files is
at-least-once: a batch a successor rewrites after its writer died between the file and the
acknowledgement is observed again by the successor (the dead writer's counts went with
it); the event-log queries, deduplicated by id, are the exact figures.

Every label comes from a closed set, so a made-up plan or DRM name (or a new device) cannot
add series: a value outside the set is ``other``, a missing one ``unknown``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import start_http_server

from reelflow.config import ConfigError
from reelflow.events.schema import EVENT_TYPES

QOE_PLANS = frozenset({"basic", "standard", "premium"})
QOE_DRM = frozenset({"clearkey", "widevine", "playready", "fairplay", "clear"})
DEVICE_CLASSES = frozenset({"tv", "tablet", "mobile", "desktop"})
OTHER = "other"
UNKNOWN = "unknown"
STARTUP_BUCKETS_S = (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30)
REBUFFER_BUCKETS = (0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1)


def _label(value: object, allowed: frozenset[str]) -> str:
    if value is None:
        return UNKNOWN
    return value if isinstance(value, str) and value in allowed else OTHER


class WriterMetrics:
    """One registry per writer (several in one test process do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.written = Counter(
            "reelflow_events_written_total",
            "Viewer events written to Parquet by the events writer, by type",
            ["type"],
            registry=self.registry,
        )
        labels = ["plan", "drm", "device_class"]
        self.qoe_startup = Histogram(
            "reelflow_events_qoe_startup_seconds",
            "Player start-up time (Play to first frame) from the qoe events written",
            labels,
            buckets=STARTUP_BUCKETS_S,
            registry=self.registry,
        )
        self.qoe_rebuffer = Histogram(
            "reelflow_events_qoe_rebuffer_ratio",
            "Rebuffer time / (played + rebuffer time) per qoe event that played",
            labels,
            buckets=REBUFFER_BUCKETS,
            registry=self.registry,
        )
        # Label lookups take a lock and hash the tuple: keep the children at hand.
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe(self, event_type: str, records: Sequence[Mapping[str, Any]]) -> None:
        """The events of one written file (the writer's ``on_written`` hook)."""
        if event_type not in EVENT_TYPES:
            return  # the writer drops those before writing; never a label
        self.written.labels(event_type).inc(len(records))
        if event_type != "qoe":
            return
        for record in records:
            fields = record["fields"]
            startup_ms = fields.get("startup_ms")
            rebuffer_ms = float(fields.get("rebuffer_ms") or 0.0)
            watched = rebuffer_ms + float(fields.get("played_ms") or 0.0)
            if startup_ms is None and watched <= 0:
                continue
            startup, rebuffer = self._for(record, fields)
            if startup_ms is not None:
                startup.observe(float(startup_ms) / 1000)
            if watched > 0:
                rebuffer.observe(rebuffer_ms / watched)

    def _for(self, record: Mapping[str, Any], fields: Mapping[str, Any]) -> tuple[Any, Any]:
        key = (
            _label(record.get("plan"), QOE_PLANS),
            _label(fields.get("drm"), QOE_DRM),
            _label(fields.get("device_class"), DEVICE_CLASSES),
        )
        children = self._children.get(key)
        if children is None:
            children = (self.qoe_startup.labels(*key), self.qoe_rebuffer.labels(*key))
            self._children[key] = children
        return children

    def serve(self, bind: str) -> Any:
        """Serve ``/metrics`` on ``bind`` (host:port) from a daemon thread; returns the server
        (``shutdown()`` stops it)."""
        host, port = parse_bind(bind)
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server


def parse_bind(bind: str) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"REELFLOW_EVENTS_METRICS_BIND must be host:port, got {bind!r}")
    return host, int(port)
