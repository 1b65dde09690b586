"""Studio partners: API keys and webhook signing secrets for the signed ingest endpoint.

An API key (``rf_sk_...``) identifies a studio; only its SHA-256 is stored, so a leaked
catalog does not leak working keys (a key has 256 random bits, so an unsalted fast hash is
enough: there is nothing to brute-force). The webhook secret (``whsec_...``) signs every
ingest body; verifying an HMAC needs the secret itself, so it is stored sealed with
AES-256-GCM under the master key. Both are shown once, when made, and never again.

Sealed in the format of ``reelflow.keystore.sealed`` (the content keys' format). The plaintext is
a small JSON "ring": the current secret and, for a grace period after a
rotation, the previous one, so a studio can switch without a window of refused requests.
The AAD binds the ring to its studio id: a sealed blob copied onto another studio's row
does not open.

The HMAC key is the secret string exactly as shown (``whsec_`` prefix included), UTF-8.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from reelflow.catalog import studios as catalog_studios
from reelflow.catalog.models import Studio, as_utc
from reelflow.config import Settings
from reelflow.domain.ids import SLUG_RE
from reelflow.keystore import sealed

API_KEY_PREFIX = "rf_sk_"
WEBHOOK_SECRET_PREFIX = "whsec_"
# token_urlsafe(32) gives 43 characters; anything outside this shape is refused before
# it reaches the database.
_API_KEY_RE = re.compile(re.escape(API_KEY_PREFIX) + r"[A-Za-z0-9_-]{43}")
DEFAULT_GRACE_S = 24 * 3600

_AAD_LABEL = b"reelflow/studio-webhook/v1|"


class StudioError(ValueError):
    """A user-facing refusal: unknown studio, duplicate id, invalid name."""


class WebhookSecretUnsealError(RuntimeError):
    """A sealed webhook secret did not open: wrong master key, wrong studio or tampering."""


@dataclass(frozen=True, repr=False)
class StudioCredentials:
    """What `create_studio` hands back once. The repr hides both secrets (logs, tracebacks)."""

    studio_id: str
    name: str
    api_key: str
    webhook_secret: str

    def __repr__(self) -> str:
        return f"StudioCredentials(studio_id={self.studio_id!r}, api_key=<hidden>, secret=<hidden>)"

    __str__ = __repr__


@dataclass(frozen=True)
class StudioInfo:
    id: str
    name: str
    disabled: bool
    key_version: int
    created_at: datetime
    # The studio's own quotas; None: the REELFLOW_STUDIO_* default.
    ingests_per_minute: int | None = None
    ingests_per_hour: int | None = None
    max_upload_bytes: int | None = None


@dataclass(frozen=True, repr=False)
class WebhookSecretRing:
    """The current secret and, until `previous_until` (unix time), the one before it."""

    current: str
    previous: str | None = None
    previous_until: int | None = None

    def active(self, now: float) -> list[bytes]:
        """HMAC keys a signature may be made with at `now`, current first."""
        keys = [self.current.encode()]
        if self.previous and self.previous_until is not None and now < self.previous_until:
            keys.append(self.previous.encode())
        return keys

    def __repr__(self) -> str:
        return f"WebhookSecretRing(previous_until={self.previous_until}, secrets=<hidden>)"

    __str__ = __repr__


# ---- secrets ---------------------------------------------------------------------------


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_webhook_secret() -> str:
    return WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def _aad(studio_id: str) -> bytes:
    return _AAD_LABEL + studio_id.encode()


def seal_webhook_secrets(
    ring: WebhookSecretRing, *, studio_id: str, master_key: bytes, key_version: int
) -> bytes:
    """Encrypt a studio's secret ring for storage (reelflow.keystore.sealed, AAD = studio id)."""
    doc = {"current": ring.current, "previous": ring.previous, "until": ring.previous_until}
    return sealed.seal(
        json.dumps(doc).encode(),
        master_key=master_key,
        key_version=key_version,
        aad=_aad(studio_id),
    )


def sealed_secret_version(blob: bytes) -> int:
    try:
        return sealed.sealed_version(blob)
    except sealed.MalformedSeal as exc:
        raise WebhookSecretUnsealError(f"sealed webhook secret: {exc}") from None


def open_webhook_secrets(
    blob: bytes, *, studio_id: str, master_keys: Mapping[int, bytes]
) -> WebhookSecretRing:
    """Decrypt a sealed ring with the master key of the version it names."""
    version = sealed_secret_version(blob)
    try:
        clear = sealed.unseal(blob, master_keys=master_keys, aad=lambda _v: _aad(studio_id))
    except sealed.UnknownVersion:
        raise WebhookSecretUnsealError(
            f"the webhook secret of studio {studio_id!r} needs master key version {version}, "
            f"configured: {sorted(master_keys)}"
        ) from None
    except sealed.OpenFailed:
        raise WebhookSecretUnsealError(
            f"cannot open the webhook secret of studio {studio_id!r} (master key version "
            f"{version}): wrong master key, wrong studio or tampered bytes"
        ) from None
    doc = json.loads(clear)
    return WebhookSecretRing(
        current=str(doc["current"]),
        previous=doc.get("previous"),
        previous_until=doc.get("until"),
    )


# ---- administration (CLI) --------------------------------------------------------------


def _check_studio_id(studio_id: str) -> None:
    if not SLUG_RE.fullmatch(studio_id):
        raise StudioError(
            f"studio id {studio_id!r} must be 1-64 characters of a-z 0-9 _ - "
            "(starting with a letter or digit)"
        )


def _seal(settings: Settings, studio_id: str, ring: WebhookSecretRing) -> tuple[bytes, int]:
    sec = settings.secrets()
    sealed = seal_webhook_secrets(
        ring,
        studio_id=studio_id,
        master_key=sec.master_key,
        key_version=sec.master_key_version,
    )
    return sealed, sec.master_key_version


def create_studio(
    settings: Settings, engine: Engine, studio_id: str, name: str
) -> StudioCredentials:
    """A new studio with a fresh API key and webhook secret (returned once, never stored)."""
    _check_studio_id(studio_id)
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise StudioError("a studio name must be 1-200 characters")
    api_key = new_api_key()
    secret = new_webhook_secret()
    sealed, version = _seal(settings, studio_id, WebhookSecretRing(current=secret))
    added = catalog_studios.add_studio(
        engine,
        studio_id=studio_id,
        name=name,
        api_key_sha256=hash_api_key(api_key),
        sealed_webhook_secret=sealed,
        key_version=version,
    )
    if not added:
        raise StudioError(f"a studio with id {studio_id!r} already exists")
    return StudioCredentials(studio_id, name, api_key, secret)


def list_studios(engine: Engine) -> list[StudioInfo]:
    out = []
    for row in catalog_studios.all_studios(engine):
        out.append(_info(row))
    return out


def _info(row: Studio) -> StudioInfo:
    created = as_utc(row.created_at)
    assert created is not None
    return StudioInfo(
        row.id,
        row.name,
        row.disabled,
        row.key_version,
        created,
        ingests_per_minute=row.ingests_per_minute,
        ingests_per_hour=row.ingests_per_hour,
        max_upload_bytes=row.max_upload_bytes,
    )


def set_quotas(engine: Engine, studio_id: str, changes: dict[str, int | None]) -> StudioInfo:
    """Set a studio's own quotas (``changes``: field -> a value >= 1, or None for the
    default); StudioError for an unknown studio or a value below 1."""
    bad = [name for name, value in changes.items() if value is not None and value < 1]
    if bad:
        raise StudioError(f"quotas must be at least 1: {', '.join(bad)}")
    try:
        return _info(catalog_studios.set_studio_quotas(engine, studio_id, changes))
    except catalog_studios.StudioNotFound as exc:
        raise StudioError(str(exc)) from None


def rotate_webhook_secret(
    settings: Settings,
    engine: Engine,
    studio_id: str,
    *,
    grace_s: int = DEFAULT_GRACE_S,
    now: float | None = None,
) -> str:
    """A new webhook secret; the old one keeps verifying for `grace_s` seconds (0: not at all).

    The grace period lets the studio deploy the new secret after the operator rotates it
    (signing with both secrets, several ``v1=`` entries, works throughout).
    """
    if grace_s < 0:
        raise StudioError("the grace period cannot be negative")
    now = time.time() if now is None else now
    secret = new_webhook_secret()

    def rotated(row: Studio) -> tuple[bytes, int]:
        old = open_webhook_secrets(
            row.sealed_webhook_secret,
            studio_id=studio_id,
            master_keys=settings.secrets().master_keys,
        )
        ring = WebhookSecretRing(
            current=secret,
            previous=old.current if grace_s else None,
            previous_until=int(now) + grace_s if grace_s else None,
        )
        return _seal(settings, studio_id, ring)

    try:
        catalog_studios.reseal_studio(engine, studio_id, rotated)
    except catalog_studios.StudioNotFound as exc:
        raise StudioError(str(exc)) from None
    return secret


def disable_studio(engine: Engine, studio_id: str) -> bool:
    """Refuse the studio's API key from now on. False when it was already disabled."""
    try:
        return catalog_studios.disable_studio(engine, studio_id)
    except catalog_studios.StudioNotFound as exc:
        raise StudioError(str(exc)) from None


def reseal_webhook_secrets(settings: Settings, engine: Engine) -> int:
    """Master-key rotation: reseal every ring not yet under the current master key."""
    sec = settings.secrets()

    def resealed(row: Studio) -> tuple[bytes, int] | None:
        if sealed_secret_version(row.sealed_webhook_secret) == sec.master_key_version:
            return None
        ring = open_webhook_secrets(
            row.sealed_webhook_secret, studio_id=row.id, master_keys=sec.master_keys
        )
        return _seal(settings, row.id, ring)

    return catalog_studios.reseal_all_studios(engine, resealed)


# ---- the API's reads -------------------------------------------------------------------


def authenticate(engine: Engine, api_key: str) -> Studio | None:
    """The enabled studio this API key belongs to, or None."""
    if not _API_KEY_RE.fullmatch(api_key):
        return None  # not one of ours: no database round trip
    row = catalog_studios.studio_by_api_key_hash(engine, hash_api_key(api_key))
    if row is None or row.disabled:
        return None
    return row


def active_webhook_secrets(settings: Settings, studio: Studio, now: float) -> list[bytes]:
    ring = open_webhook_secrets(
        studio.sealed_webhook_secret,
        studio_id=studio.id,
        master_keys=settings.secrets().master_keys,
    )
    return ring.active(now)
