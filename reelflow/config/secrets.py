"""Secrets: the signing secret and the master-key ring, explicit or generated (embedded).

Explicit values come from ``REELFLOW_SIGNING_SECRET``, ``REELFLOW_MASTER_KEY`` and friends;
without them the embedded stack generates them once into ``<home>/secrets.json`` (0600).
Production never generates: it refuses to start instead.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reelflow.config.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from reelflow.config import Settings


@dataclass(frozen=True)
class Secrets:
    signing_secret: bytes
    master_key: bytes
    master_key_version: int
    retired_master_keys: dict[int, bytes] = field(default_factory=dict)

    @property
    def master_keys(self) -> dict[int, bytes]:
        """Every master key that may open a sealed content key, by version."""
        return {**self.retired_master_keys, self.master_key_version: self.master_key}


def _decode_master(value: str, what: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ConfigError(f"{what} must be base64 of 32 bytes") from exc
    if len(key) != 32:
        raise ConfigError(f"{what} must be base64 of 32 bytes")
    return key


def _parse_retired(spec: str) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        version, sep, b64 = item.partition(":")
        if not sep or not version.isdigit():
            raise ConfigError("REELFLOW_RETIRED_MASTER_KEYS must look like 1:<base64>,2:<base64>")
        out[int(version)] = _decode_master(b64, f"retired master key {version}")
    return out


def load_secrets(settings: Settings) -> Secrets:
    explicit_signing = settings.signing_secret.get_secret_value() if settings.signing_secret else ""
    explicit_master = settings.master_key.get_secret_value() if settings.master_key else ""
    if settings.env == "production" and not (explicit_signing and explicit_master):
        raise ConfigError(
            "REELFLOW_ENV=production requires REELFLOW_SIGNING_SECRET and REELFLOW_MASTER_KEY "
            "(base64 of 32 random bytes); nothing is generated in production"
        )
    stored: dict[str, Any] = {}
    path = settings.home / "secrets.json"
    if not (explicit_signing and explicit_master):
        stored = _generated_secrets(path)
    signing = explicit_signing or stored["signing_secret"]
    if explicit_master:
        master = _decode_master(explicit_master, "REELFLOW_MASTER_KEY")
        version = settings.master_key_version or 1
        retired_spec = (
            settings.retired_master_keys.get_secret_value() if settings.retired_master_keys else ""
        )
        retired = _parse_retired(retired_spec)
    else:
        master = _decode_master(stored["master_key"], "master_key in secrets.json")
        version = int(stored.get("master_key_version", 1))
        retired = {
            int(v): _decode_master(k, f"retired master key {v} in secrets.json")
            for v, k in stored.get("retired_master_keys", {}).items()
        }
    return Secrets(
        signing_secret=signing.encode(),
        master_key=master,
        master_key_version=version,
        retired_master_keys=retired,
    )


def rotate_generated_master_key(settings: Settings) -> int:
    """Embedded mode: a new random master key, the old one kept as retired. Returns the version."""
    if settings.env == "production" or settings.master_key is not None:
        raise ConfigError(
            "the master key comes from REELFLOW_MASTER_KEY: set the new key and "
            "REELFLOW_MASTER_KEY_VERSION, move the old one to REELFLOW_RETIRED_MASTER_KEYS, "
            "then run `reelflow keys rotate-master`"
        )
    path = settings.home / "secrets.json"
    data: dict[str, Any] = _generated_secrets(path)
    old_version = int(data.get("master_key_version", 1))
    retired = dict(data.get("retired_master_keys", {}))
    retired[str(old_version)] = data["master_key"]
    data.update(
        master_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        master_key_version=old_version + 1,
        retired_master_keys=retired,
    )
    tmp = path.with_name(f".secrets.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    _write_private_json(tmp, data)
    os.replace(tmp, path)  # atomic: readers see the old or the new ring, never half of one
    return old_version + 1


def _write_private_json(path: Path, data: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())


def _generated_secrets(path: Path) -> dict[str, Any]:
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "signing_secret": secrets.token_urlsafe(32),
        "master_key": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    tmp = path.with_name(f".secrets.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # Created 0600 from the start so the secrets are never world-readable, even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    try:
        os.link(tmp, path)  # fails if another process won the race: use its secrets
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    stored: dict[str, Any] = json.loads(path.read_text())
    return stored
