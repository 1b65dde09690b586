"""Studio callbacks are signed with the owning studio's webhook secret, which it can verify."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from reelflow.catalog import queries as q
from reelflow.config import Settings
from reelflow.jobs.webhooks import _callback_secret
from reelflow.studios.accounts import create_studio, rotate_webhook_secret


def test_callbacks_use_the_studio_secret_and_follow_rotation(
    settings: Settings, catalog: Engine
) -> None:
    creds = create_studio(settings, catalog, "acme", "Acme Pictures")
    q.upsert_title(catalog, title_id="acme-film", name="Film", studio_id="acme")
    q.upsert_title(catalog, title_id="ops-film", name="Ops film")
    assert _callback_secret(settings, catalog, "acme-film") == creds.webhook_secret.encode()
    # Titles ops ingested without a studio keep the deployment's signing secret.
    assert _callback_secret(settings, catalog, "ops-film") == settings.secrets().signing_secret
    rotated = rotate_webhook_secret(settings, catalog, "acme")
    assert _callback_secret(settings, catalog, "acme-film") == rotated.encode()
