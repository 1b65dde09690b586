"""Content-key administration behind `reelflow keys`: master-key rotation and CPIX export."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from reelflow.catalog import packages
from reelflow.catalog.models import ContentKeyRow
from reelflow.config import Settings
from reelflow.domain.content_keys import ContentKey
from reelflow.domain.track_classes import TrackClass
from reelflow.keystore.content_keys import KeyPlace, is_bound, open_key, reseal
from reelflow.packaging.cpix import build_cpix


class KeyAdminError(RuntimeError):
    """A key operation cannot proceed; the message says why."""


@dataclass(frozen=True)
class RotationResult:
    version: int
    resealed: int
    already_current: int
    bound: int = 0  # keys of the current version resealed to bind their place (format 0x02)


def _place(row: ContentKeyRow) -> KeyPlace:
    return KeyPlace(row.title_id, row.version, row.track_class)


def _reseal_row(row: ContentKeyRow, ring: Mapping[int, bytes], version: int, master: bytes) -> None:
    """The row's key resealed under ``master`` (``version``), bound to its place."""
    if row.key_version not in ring:
        raise KeyAdminError(
            f"key {row.kid} is sealed under master key version {row.key_version}, "
            "which is not configured: add it to REELFLOW_RETIRED_MASTER_KEYS"
        )
    row.sealed_key = reseal(
        row.sealed_key,
        old=ring,
        new_version=version,
        new_master=master,
        kid=bytes.fromhex(row.kid),
        place=_place(row),
    )
    row.key_version = version


def bind_places(settings: Settings, engine: Engine, *, batch: int = 500) -> int:
    """Reseal every key sealed before places were bound (format 0x01) under its own master
    key version, now binding its title, version and class; returns how many. A rerun after a
    crash finishes the job: each batch is one transaction, and a bound key is left alone."""
    ring = settings.secrets().master_keys

    def bind(row: ContentKeyRow) -> bool:
        if is_bound(row.sealed_key):
            return False
        _reseal_row(row, ring, row.key_version, ring.get(row.key_version, b""))
        return True

    return packages.rewrite_content_keys(engine, bind, batch=batch)


def rotate_master(settings: Settings, engine: Engine, *, batch: int = 500) -> RotationResult:
    """Reseal every content key not yet under the current master key version.

    Rows are resealed in batches, each in its own transaction, so a crash midway leaves
    every row readable (old rows under a retired key, new ones under the current key) and
    a rerun finishes the job.
    """
    secrets = settings.secrets()
    ring = secrets.master_keys

    def reseal_row(row: ContentKeyRow) -> None:
        _reseal_row(row, ring, secrets.master_key_version, secrets.master_key)

    resealed, total = packages.reseal_content_keys(
        engine, secrets.master_key_version, reseal_row, batch=batch
    )
    # Studio webhook secrets are sealed under the same master key: move them along.
    from reelflow.studios.accounts import reseal_webhook_secrets

    reseal_webhook_secrets(settings, engine)
    from reelflow.live.channels import reseal_stream_keys  # and live channels' stream keys

    reseal_stream_keys(settings, engine)
    # Keys already under the current version but sealed before places were bound.
    bound = bind_places(settings, engine, batch=batch)
    return RotationResult(secrets.master_key_version, resealed, total - resealed, bound)


def export_cpix(
    settings: Settings,
    engine: Engine,
    title_id: str,
    recipient_cert_pem: bytes,
    version: int | None = None,
) -> bytes:
    """A CPIX document with the title's (unrevoked) keys encrypted to the recipient."""
    ring = settings.secrets().master_keys
    rows = packages.active_content_keys(engine, title_id)
    if version is None and rows:
        version = max(r.version for r in rows)
    rows = [r for r in rows if r.version == version]
    if not rows:
        raise KeyAdminError(f"title {title_id!r} has no active content keys")
    keys: dict[TrackClass, ContentKey] = {}
    for row in rows:
        kid = bytes.fromhex(row.kid)
        cls = TrackClass(row.track_class)
        keys[cls] = ContentKey(
            kid=kid,
            key=open_key(row.sealed_key, master_keys=ring, kid=kid, place=_place(row)),
            track_class=cls,
        )
    return build_cpix(title_id, keys, recipient_cert_pem)
