"""Live channels in the catalog: create (in the title id space), find, record the state
their workflow reports, reseal their stream keys. Rows only: keys arrive sealed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import LiveChannelRow, Title


class ChannelNotFound(LookupError):
    def __init__(self, channel_id: str) -> None:
        super().__init__(f"no live channel with id {channel_id!r}")
        self.channel_id = channel_id


class ChannelIdTaken(ValueError):
    def __init__(self, channel_id: str) -> None:
        super().__init__(f"id {channel_id!r} is already a title or a channel")
        self.channel_id = channel_id


def add_channel(
    engine: Engine,
    *,
    channel_id: str,
    name: str,
    config: dict[str, Any],
    sealed_stream_key: bytes,
    key_version: int,
) -> LiveChannelRow:
    """A new channel; ``ChannelIdTaken`` when a title or a channel has the id."""
    row = LiveChannelRow(
        id=channel_id,
        name=name,
        config=config,
        sealed_stream_key=sealed_stream_key,
        key_version=key_version,
    )
    try:
        with session_scope(engine) as s:
            if s.get(Title, channel_id) is not None:
                raise ChannelIdTaken(channel_id)
            s.add(row)
    except IntegrityError:
        raise ChannelIdTaken(channel_id) from None
    return row


def get_channel(engine: Engine, channel_id: str) -> LiveChannelRow:
    with Session(engine) as s:
        row = s.get(LiveChannelRow, channel_id)
        if row is None:
            raise ChannelNotFound(channel_id)
        return row


def list_channels(engine: Engine) -> list[LiveChannelRow]:
    with Session(engine) as s:
        return list(s.exec(select(LiveChannelRow).order_by(col(LiveChannelRow.created_at))))


def delete_channel(engine: Engine, channel_id: str) -> None:
    """Undo a creation whose workflow never started (nothing half-created)."""
    with session_scope(engine) as s:
        row = s.get(LiveChannelRow, channel_id)
        if row is not None:
            s.delete(row)


def reseal_channel_keys(
    engine: Engine, reseal: Callable[[LiveChannelRow], tuple[bytes, int] | None]
) -> int:
    """Master-key rotation: every channel through ``reseal`` (None: keep the row) in one
    transaction; how many keys were rewritten."""
    count = 0
    with session_scope(engine) as s:
        for row in s.exec(select(LiveChannelRow)):
            new = reseal(row)
            if new is not None:
                row.sealed_stream_key, row.key_version = new
                count += 1
    return count
