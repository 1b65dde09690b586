"""Content-key administration behind `reelflow keys`: master-key rotation and CPIX export."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from reelflow.catalog import packages
from reelflow.catalog.models import ContentKeyRow
from reelflow.config import Settings
from reelflow.domain.content_keys import ContentKey
from reelflow.domain.track_classes import TrackClass
from reelflow.keystore.content_keys import open_key, reseal
from reelflow.packaging.cpix import build_cpix


class KeyAdminError(RuntimeError):
    """A key operation cannot proceed; the message says why."""


@dataclass(frozen=True)
class RotationResult:
    version: int
    resealed: int
    already_current: int


def rotate_master(settings: Settings, engine: Engine, *, batch: int = 500) -> RotationResult:
    """Reseal every content key not yet under the current master key version.

    Rows are resealed in batches, each in its own transaction, so a crash midway leaves
    every row readable (old rows under a retired key, new ones under the current key) and
    a rerun finishes the job.
    """
    secrets = settings.secrets()
    ring = secrets.master_keys

    def reseal_row(row: ContentKeyRow) -> None:
        if row.key_version not in ring:
            raise KeyAdminError(
                f"key {row.kid} is sealed under master key version {row.key_version}, "
                "which is not configured: add it to REELFLOW_RETIRED_MASTER_KEYS"
            )
        row.sealed_key = reseal(
            row.sealed_key,
            old=ring,
            new_version=secrets.master_key_version,
            new_master=secrets.master_key,
            kid=bytes.fromhex(row.kid),
        )
        row.key_version = secrets.master_key_version

    resealed, total = packages.reseal_content_keys(
        engine, secrets.master_key_version, reseal_row, batch=batch
    )
    # Studio webhook secrets are sealed under the same master key: move them along.
    from reelflow.studios.accounts import reseal_webhook_secrets

    reseal_webhook_secrets(settings, engine)
    return RotationResult(secrets.master_key_version, resealed, total - resealed)


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
            kid=kid, key=open_key(row.sealed_key, master_keys=ring, kid=kid), track_class=cls
        )
    return build_cpix(title_id, keys, recipient_cert_pem)
