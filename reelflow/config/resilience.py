"""How one API worker behaves past its capacity and across replicas (REELFLOW_API_*,
REELFLOW_PLAYBACK_IDEMPOTENCY_S), composed into the one ``Settings``.

Defaults are sized for one uvicorn worker on one core (docs/deployment.md, "Overload"):
bench/overload.py finds the knee and checks the accepted requests' p99 at twice it.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class ResilienceSettings(BaseModel):
    # Admission control (http/admission.py): off only to measure what it saves.
    api_admission: bool = True
    # Requests one worker runs at once; more wait in its queue. Each request is mostly a
    # few Redis round trips and ~0.5-1.2 ms of CPU, so a handful keeps the core busy while
    # more only share it out and make every one of them slower (bench/overload.py at twice
    # the knee, 10 ms budget: 8 kept the accepted p99 at 28-43 ms; 6 at 28-45 ms with less
    # goodput near the knee; 16 with a 25 ms budget gave 99 ms and the least goodput).
    api_max_in_flight: int = Field(default=8, ge=1, le=10_000)
    # Requests waiting for a slot; past this a request is refused at once.
    api_max_queue: int = Field(default=64, ge=0, le=100_000)
    # A request still waiting this long (ms) is refused without doing any work: by then
    # its answer could no longer be fast, and the client's retry may find a freer replica.
    api_queue_budget_ms: float = Field(default=10.0, gt=0, le=60_000)
    # Retry-After (s) on those refusals (HTTP allows whole seconds only).
    api_retry_after_s: int = Field(default=1, ge=1, le=3600)
    # A repeated playback start with the same Idempotency-Key (same viewer) within this many
    # seconds answers the first one's session (delivery/idempotency.py).
    playback_idempotency_s: int = Field(default=120, ge=1, le=3600)
