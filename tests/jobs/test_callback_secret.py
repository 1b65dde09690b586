"""Studio callbacks are signed with a key derived from the owning studio's webhook secret
for the outbound direction; titles without a studio get no callbacks at all."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from reelflow.catalog import titles as q
from reelflow.config import Settings
from reelflow.jobs.webhooks import RefusedCallback, _callback_key
from reelflow.studios.accounts import create_studio, rotate_webhook_secret
from reelflow.studios.signatures import callback_signing_key


def test_callbacks_use_the_studios_outbound_key_and_follow_rotation(
    settings: Settings, catalog: Engine
) -> None:
    creds = create_studio(settings, catalog, "acme", "Acme Pictures")
    q.upsert_title(catalog, title_id="acme-film", name="Film", studio_id="acme")
    key, studio_title_id = _callback_key(settings, catalog, "acme-film")
    assert key == callback_signing_key(creds.webhook_secret.encode())
    assert studio_title_id == "acme-film"  # no "acme--" prefix: the name is the id
    # Never the secret itself (that one signs ingest requests), never the root secret.
    assert key not in (creds.webhook_secret.encode(), settings.secrets().signing_secret)
    rotated = rotate_webhook_secret(settings, catalog, "acme")
    assert _callback_key(settings, catalog, "acme-film")[0] == callback_signing_key(
        rotated.encode()
    )


def test_titles_without_a_studio_get_no_callback(settings: Settings, catalog: Engine) -> None:
    q.upsert_title(catalog, title_id="ops-film", name="Ops film")
    with pytest.raises(RefusedCallback, match="no owning studio"):
        _callback_key(settings, catalog, "ops-film")
    with pytest.raises(RefusedCallback):
        _callback_key(settings, catalog, "no-such-title")
