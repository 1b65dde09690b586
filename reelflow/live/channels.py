"""Channel administration without the workflow: create a channel row with a fresh stream
key sealed under the master key (shown once, to whoever creates it), open the key for the
pipeline, and describe channels without their keys.

The key is sealed with the channel id as associated data, so a sealed key copied onto
another channel's row does not open.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.engine import Engine

from reelflow.catalog.live_channels import add_channel, get_channel, reseal_channel_keys
from reelflow.catalog.models import LiveChannelRow
from reelflow.config import Settings
from reelflow.domain.channels import ChannelConfig, channel_id, new_stream_key
from reelflow.keystore import sealed

_AAD_LABEL = b"reelflow live stream key v1:"


class StreamKeyUnsealError(RuntimeError):
    """A channel's sealed key did not open (wrong master key, another row's key, tampering)."""


@dataclass(frozen=True)
class NewChannel:
    id: str
    name: str
    stream_key: str  # shown once


def _aad(cid: str) -> bytes:
    return _AAD_LABEL + cid.encode()


def config_of(row: LiveChannelRow) -> ChannelConfig:
    doc: dict[str, Any] = dict(row.config)
    doc["rung_heights"] = tuple(doc.get("rung_heights", ()))
    return ChannelConfig(name=row.name, **{k: v for k, v in doc.items() if k != "name"})


def _seal(settings: Settings, cid: str, key: str) -> tuple[bytes, int]:
    sec = settings.secrets()
    blob = sealed.seal(
        key.encode(), master_key=sec.master_key, key_version=sec.master_key_version, aad=_aad(cid)
    )
    return blob, sec.master_key_version


def _open(settings: Settings, row: LiveChannelRow) -> str:
    try:
        clear = sealed.unseal(
            row.sealed_stream_key,
            master_keys=settings.secrets().master_keys,
            aad=lambda _v: _aad(row.id),
        )
    except sealed.SealError:
        raise StreamKeyUnsealError(
            f"cannot open the stream key of channel {row.id!r}: wrong master key, another "
            "channel's key, or tampered bytes"
        ) from None
    return clear.decode()


def create_channel(
    settings: Settings, engine: Engine, cid: str, config: ChannelConfig
) -> NewChannel:
    cid = channel_id(cid)
    key = new_stream_key()
    blob, version = _seal(settings, cid, key)
    doc = asdict(config)
    doc.pop("name")
    add_channel(
        engine, channel_id=cid, name=config.name, config=doc, sealed_stream_key=blob,
        key_version=version,
    )  # fmt: skip
    return NewChannel(cid, config.name, key)


def open_stream_key(settings: Settings, engine: Engine, cid: str) -> str:
    return _open(settings, get_channel(engine, cid))


def reseal_stream_keys(settings: Settings, engine: Engine) -> int:
    """Master-key rotation: reseal every channel key not yet under the current master key."""
    current = settings.secrets().master_key_version

    def resealed(row: LiveChannelRow) -> tuple[bytes, int] | None:
        if row.key_version == current:
            return None
        return _seal(settings, row.id, _open(settings, row))

    return reseal_channel_keys(engine, resealed)
