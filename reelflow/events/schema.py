"""The viewer event schema: what players send, what the service stores, one model per type.

A client sends ``{"id": <UUID>, "type": <name>, "ts": <ISO 8601>, ...its type's fields}``.
The server turns it into a :class:`StoredEvent`: it adds the pseudonymous viewer id, the
server time and what the client may omit (device, session, country, plan, from the token
and the live session). Field names are the Parquet column names (``docs/events.md``), so
a change here is a schema change: add optional fields freely, bump ``SCHEMA_VERSION`` for
anything else. A new event type is a new model here plus its entry in ``CLIENT_EVENTS``, or
in ``SERVER_EVENTS`` for one only the API makes (a client sending it is refused).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from reelflow.domain.ids import SLUG_PATTERN, TITLE_ID_PATTERN

SCHEMA_VERSION = 1
# A client clock may run a little fast; an event from further ahead is a bug or a forgery.
MAX_CLOCK_AHEAD = timedelta(minutes=5)
# A player offline for a while sends what it kept; older than this is not analytics any more.
MAX_EVENT_AGE = timedelta(days=3)

TitleId = Annotated[str, StringConstraints(pattern=TITLE_ID_PATTERN)]
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
Token = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
Seconds = Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False)]
Millis = Annotated[float, Field(ge=0, le=86_400_000, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=100_000)]


class ClientEvent(BaseModel):
    """Fields every event has. ``session`` and ``device`` may come from the token instead."""

    # strict: a count sent as "3" is a player bug worth surfacing, not coercing.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    type: str
    id: UUID = Field(description="client- or server-made; the unit of deduplication")
    ts: AwareDatetime = Field(description="the client's clock, ISO 8601 with an offset")
    session: Token | None = Field(default=None, description="playback session id")
    device: Token | None = Field(default=None, description="the player's device id")


class PlayStart(ClientEvent):
    type: Literal["play_start"]
    title: TitleId
    position_s: Seconds = 0.0


class Progress(ClientEvent):
    type: Literal["progress"]
    title: TitleId
    position_s: Seconds
    duration_s: Seconds | None = None


class PlayEnd(ClientEvent):
    type: Literal["play_end"]
    title: TitleId
    position_s: Seconds
    reason: Literal["ended", "stopped", "error", "left"] = "stopped"


class QoE(ClientEvent):
    """What a QoE beacon carries: totals since the session's previous one."""

    type: Literal["qoe"]
    title: TitleId
    startup_ms: Millis | None = None
    rebuffer_count: Count = 0
    rebuffer_ms: Millis = 0.0
    played_ms: Millis = 0.0
    bitrate_switches: Count = 0
    errors: list[Token] = Field(default_factory=list, max_length=20)
    bandwidth_kbps: Annotated[float, Field(ge=0, le=10_000_000, allow_inf_nan=False)] | None = None


class QoEServerFields(BaseModel):
    """What the API adds to a ``qoe`` event from the playback session and the request. Never
    the client's: ``QoE`` forbids these names, so a player cannot pick its own breakdown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drm: Token | None = Field(
        default=None, description="the first key system the session may use; clear for none"
    )
    device_class: Token | None = Field(
        default=None, description="tv, tablet, mobile or desktop, from the User-Agent"
    )


# Per type, the fields only the server fills: stored after the type's own fields (and so
# Parquet columns after them); null where the server did not know them.
SERVER_FIELDS: dict[str, type[BaseModel]] = {"qoe": QoEServerFields}


class Search(ClientEvent):
    type: Literal["search"]
    query: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    results: Count = 0


class RowImpression(ClientEvent):
    type: Literal["row_impression"]
    row: Slug
    position: Count = Field(description="the row's place on the page, 0 first")
    titles: list[TitleId] = Field(max_length=100, description="shown, in order")


class RowClick(ClientEvent):
    type: Literal["row_click"]
    row: Slug
    position: Count = Field(description="the title's place in the row, 0 first")
    title: TitleId


class Thumb(ClientEvent):
    """An explicit rating: the recommender's strongest signal (down: never recommended)."""

    type: Literal["thumb"]
    title: TitleId
    rating: Literal["up", "down"]


class Exposure(ClientEvent):
    type: Literal["exposure"]
    experiment: Slug
    variant: Slug


class AdImpression(ClientEvent):
    type: Literal["ad_impression"]
    ad: Slug
    ad_break: Slug | None = None
    title: TitleId | None = None
    duration_s: Seconds = 0.0


class AdQuartile(ClientEvent):
    type: Literal["ad_quartile"]
    ad: Slug
    ad_break: Slug | None = None
    title: TitleId | None = None
    quartile: Literal["first", "midpoint", "third", "complete"]


class SessionStart(ClientEvent):
    """Server-side only: the API started a playback session (lease taken, links signed)."""

    type: Literal["session_start"]
    title: TitleId
    drm: list[Slug] = Field(max_length=4, description="its key systems; none: a clear title")
    protocols: list[Literal["dash", "hls"]] = Field(max_length=2)
    max_height: Count = Field(description="the highest rendition the session may play")
    # No 24 h ceiling: the API's own figure (the resume position of any title), not a client's.
    position_s: float = Field(ge=0, allow_inf_nan=False, description="where playback resumes")


CLIENT_EVENTS: tuple[type[ClientEvent], ...] = (
    PlayStart, Progress, PlayEnd, QoE, Search, RowImpression, RowClick, AdImpression,
    AdQuartile, Thumb,
)  # fmt: skip
# What the API records of its own accord: a player could forge or forget these, so one sent
# to POST /v1/events is refused naming `type` (parse_client_event).
# An exposure is where the server hands out a variant (playback start): one a player made up
# would put a viewer in an experiment the assignment never chose.
SERVER_EVENTS: tuple[type[ClientEvent], ...] = (SessionStart, Exposure)


def _type_name(model: type[ClientEvent]) -> str:
    return str(get_args(model.model_fields["type"].annotation)[0])


# Every type the log, the writer and the queries know, client- and server-made alike.
EVENT_MODELS: dict[str, type[ClientEvent]] = {
    _type_name(model): model for model in (*CLIENT_EVENTS, *SERVER_EVENTS)
}
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_MODELS)
_SERVER_TYPES = frozenset(_type_name(model) for model in SERVER_EVENTS)
AnyClientEvent = Annotated[
    PlayStart | Progress | PlayEnd | QoE | Search | RowImpression | RowClick | AdImpression
    | AdQuartile | Thumb,
    Field(discriminator="type"),
]  # fmt: skip
_CLIENT_EVENTS = TypeAdapter(list[AnyClientEvent])


class Context(BaseModel):
    """What the server knows of the sender: from the token and the live session."""

    model_config = ConfigDict(frozen=True)

    viewer: str  # pseudonymous (events.pseudonym), never the account name
    country: str | None = None
    plan: str | None = None
    device: str | None = None
    session: str | None = None


class StoredEvent(BaseModel):
    """One event as the log and the Parquet files hold it."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    schema_version: int = SCHEMA_VERSION
    ts: datetime
    server_ts: datetime
    viewer: str
    device: str | None = None
    session: str | None = None
    title: str | None = None
    country: str | None = None
    plan: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict, description="the type's own fields")

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> StoredEvent:
        return cls.model_validate_json(data)


STORED_FIELDS = frozenset(StoredEvent.model_fields)


class EventRefused(ValueError):
    """One event of a batch is not acceptable; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


_COMMON = frozenset({"id", "type", "ts", "session", "device", "title"})
# What a type's server-filled fields hold when the server has nothing to add (a client-sent
# qoe event): computed once, since the ingest path fills them for every such event.
_SERVER_DEFAULTS = {kind: model().model_dump(mode="json") for kind, model in SERVER_FIELDS.items()}
# Validating what is left after refusals converges at once (the same events pass again);
# the bound only guards against a validator that would not.
_MAX_PASSES = 3


def parse_client_event(data: object) -> ClientEvent:
    """A client event from its JSON object; ``EventRefused`` names the first bad field."""
    parsed, refused = parse_client_batch([data])
    if refused:
        raise refused[0]
    return parsed[0]


def parse_client_batch(
    events: Sequence[object],
) -> tuple[dict[int, ClientEvent], dict[int, EventRefused]]:
    """A batch's events by index: those that are valid, and why each other one is not.

    One pydantic-core call validates the whole batch; a failed one maps each error to its
    event (the first error per event, as a single event's validation would report it) and
    validates the rest again, so the good events of a batch are never lost to a bad one.
    """
    refused: dict[int, EventRefused] = {}
    for index, data in enumerate(events):
        kind = data.get("type") if isinstance(data, dict) else None
        if isinstance(kind, str) and kind in _SERVER_TYPES:
            refused[index] = EventRefused(
                "type", f"{kind} is server-side only: the API records it itself"
            )
    pending = [index for index in range(len(events)) if index not in refused]
    for _ in range(_MAX_PASSES):
        valid, bad = _validated(events, pending)
        if not bad:
            return dict(zip(pending, valid, strict=True)), dict(sorted(refused.items()))
        refused |= bad
        pending = [index for index in pending if index not in bad]
    raise RuntimeError("batch validation did not converge")  # pragma: no cover


def _validated(
    events: Sequence[object], indexes: list[int]
) -> tuple[Sequence[ClientEvent], dict[int, EventRefused]]:
    """The events at ``indexes`` validated in one call, or the refusal of each bad one."""
    if not indexes:
        return [], {}
    try:
        # JSON mode: strict, yet a UUID and a timestamp arrive as strings.
        return _CLIENT_EVENTS.validate_json(json.dumps([events[i] for i in indexes])), {}
    except ValidationError as exc:
        bad: dict[int, EventRefused] = {}
        for error in exc.errors():
            position, *where = error["loc"]
            assert isinstance(position, int)  # a list's errors start with the item's place
            bad.setdefault(indexes[position], _refusal(error, where))
        return [], bad


def _refusal(error: Any, loc: Sequence[int | str]) -> EventRefused:
    """What one event's first validation error names: the field after the type tag."""
    where = ".".join(str(p) for p in loc[1:] or loc) or "event"
    if error["type"] == "union_tag_invalid":
        where = "type"
    return EventRefused(where, error["msg"])


def stored_record(
    event: ClientEvent,
    ctx: Context,
    now: datetime,
    server: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The stored form of ``event`` as a plain record: ``StoredEvent``'s fields in its order,
    the id still a UUID (``log.encode_entry`` writes what ``StoredEvent.to_json`` would),
    checked against the server clock and filled from ``ctx``; ``server`` holds the type's
    server-filled fields (``SERVER_FIELDS``). The ingest path builds these rather than
    models: cheaper by half."""
    ts = event.ts.astimezone(UTC)
    if ts > now + MAX_CLOCK_AHEAD:
        raise EventRefused("ts", f"{ts.isoformat()} is in the future (server time {now:%H:%M:%S}Z)")
    if ts < now - MAX_EVENT_AGE:
        raise EventRefused("ts", f"{ts.isoformat()} is older than {MAX_EVENT_AGE.days} days")
    # The validated values as they are (model_dump with an exclusion costs 3x as much): the
    # type's own fields are JSON values already, and encoding takes any other type pydantic
    # knows the way StoredEvent.to_json would.
    values = event.__dict__
    kind = values["type"]
    own = {name: value for name, value in values.items() if name not in _COMMON}
    if kind in SERVER_FIELDS:
        own |= (
            SERVER_FIELDS[kind].model_validate(server).model_dump(mode="json")
            if server
            else _SERVER_DEFAULTS[kind]
        )
    elif server:
        raise ValueError(f"{kind} events have no server-filled fields")
    return {
        "id": values["id"],  # encoded to its canonical form in Rust: str() costs 1 us each
        "type": kind,
        "schema_version": SCHEMA_VERSION,
        "ts": ts,
        "server_ts": now,
        "viewer": ctx.viewer,
        "device": values["device"] or ctx.device,
        "session": values["session"] or ctx.session,
        "title": values.get("title"),
        "country": ctx.country,
        "plan": ctx.plan,
        "fields": own,
    }


def store(
    event: ClientEvent,
    ctx: Context,
    *,
    now: datetime | None = None,
    server: Mapping[str, Any] | None = None,
) -> StoredEvent:
    """The stored form of ``event`` as a model (``stored_record``'s checks and filling)."""
    record = stored_record(event, ctx, now or datetime.now(UTC), server)
    return StoredEvent(**{**record, "id": str(record["id"])})
