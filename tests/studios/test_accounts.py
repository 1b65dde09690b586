"""Studio administration: keys stored as hashes, webhook secrets sealed, and the CLI."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from reelflow.catalog.db import make_engine, upgrade
from reelflow.catalog.models import Studio
from reelflow.cli.studios import studios_app
from reelflow.config import Settings, get_settings
from reelflow.studios.accounts import (
    API_KEY_PREFIX,
    WEBHOOK_SECRET_PREFIX,
    StudioError,
    WebhookSecretRing,
    WebhookSecretUnsealError,
    active_webhook_secrets,
    authenticate,
    create_studio,
    disable_studio,
    hash_api_key,
    list_studios,
    open_webhook_secrets,
    reseal_webhook_secrets,
    rotate_webhook_secret,
    seal_webhook_secrets,
    sealed_secret_version,
)

MASTER = bytes(range(32))
OTHER_MASTER = bytes(range(1, 33))


def _row(engine: Engine, studio_id: str) -> Studio:
    with Session(engine) as s:
        row = s.get(Studio, studio_id)
        assert row is not None
        return row


# ---- sealing ---------------------------------------------------------------------------


def test_seal_round_trip_and_binding_to_the_studio() -> None:
    ring = WebhookSecretRing(current="whsec_new", previous="whsec_old", previous_until=2000)
    sealed = seal_webhook_secrets(ring, studio_id="acme", master_key=MASTER, key_version=3)
    assert sealed_secret_version(sealed) == 3
    assert b"whsec" not in sealed
    opened = open_webhook_secrets(sealed, studio_id="acme", master_keys={3: MASTER})
    assert (opened.current, opened.previous, opened.previous_until) == (
        "whsec_new",
        "whsec_old",
        2000,
    )
    # The AAD names the studio: the blob copied onto another studio's row does not open.
    with pytest.raises(WebhookSecretUnsealError, match="wrong studio"):
        open_webhook_secrets(sealed, studio_id="other", master_keys={3: MASTER})
    with pytest.raises(WebhookSecretUnsealError, match="wrong master key"):
        open_webhook_secrets(sealed, studio_id="acme", master_keys={3: OTHER_MASTER})
    with pytest.raises(WebhookSecretUnsealError, match="version 3"):
        open_webhook_secrets(sealed, studio_id="acme", master_keys={1: MASTER})
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(WebhookSecretUnsealError):
        open_webhook_secrets(bytes(tampered), studio_id="acme", master_keys={3: MASTER})
    with pytest.raises(WebhookSecretUnsealError, match="too short"):
        open_webhook_secrets(b"\x01", studio_id="acme", master_keys={3: MASTER})


def test_ring_keeps_the_previous_secret_only_during_its_grace() -> None:
    ring = WebhookSecretRing(current="whsec_new", previous="whsec_old", previous_until=1000)
    assert ring.active(999.0) == [b"whsec_new", b"whsec_old"]
    assert ring.active(1000.0) == [b"whsec_new"]
    assert "whsec" not in repr(ring)


# ---- administration --------------------------------------------------------------------


def test_create_authenticate_list_and_disable(settings: Settings, catalog: Engine) -> None:
    creds = create_studio(settings, catalog, "acme", "  Acme Pictures ")
    assert creds.api_key.startswith(API_KEY_PREFIX)
    assert creds.webhook_secret.startswith(WEBHOOK_SECRET_PREFIX)
    assert creds.api_key not in repr(creds) and creds.webhook_secret not in repr(creds)

    row = _row(catalog, "acme")
    assert row.name == "Acme Pictures"
    assert row.api_key_sha256 == hash_api_key(creds.api_key)
    assert creds.api_key.encode() not in row.sealed_webhook_secret
    assert creds.webhook_secret.encode() not in row.sealed_webhook_secret
    assert row.key_version == settings.secrets().master_key_version

    studio = authenticate(catalog, creds.api_key)
    assert studio is not None and studio.id == "acme"
    assert active_webhook_secrets(settings, studio, 0) == [creds.webhook_secret.encode()]
    altered = creds.api_key[:-1] + ("A" if creds.api_key[-1] != "A" else "B")
    assert authenticate(catalog, altered) is None
    assert authenticate(catalog, "rf_sk_short") is None
    assert authenticate(catalog, "") is None

    other = create_studio(settings, catalog, "globex", "Globex")
    assert other.api_key != creds.api_key and other.webhook_secret != creds.webhook_secret
    assert [s.id for s in list_studios(catalog)] == ["acme", "globex"]

    assert disable_studio(catalog, "acme") is True
    assert disable_studio(catalog, "acme") is False
    assert authenticate(catalog, creds.api_key) is None
    assert [s.disabled for s in list_studios(catalog)] == [True, False]


def test_create_refuses_bad_ids_names_and_duplicates(settings: Settings, catalog: Engine) -> None:
    create_studio(settings, catalog, "acme", "Acme")
    with pytest.raises(StudioError, match="already exists"):
        create_studio(settings, catalog, "acme", "Acme again")
    for bad_id in ("", "Acme", "-acme", "a" * 65, "acme/../x", "acme\n"):
        with pytest.raises(StudioError, match="studio id"):
            create_studio(settings, catalog, bad_id, "Name")
    with pytest.raises(StudioError, match="name"):
        create_studio(settings, catalog, "blank", "   ")
    with pytest.raises(StudioError, match="no studio"):
        disable_studio(catalog, "nobody")
    with pytest.raises(StudioError, match="no studio"):
        rotate_webhook_secret(settings, catalog, "nobody")


def test_rotation_with_and_without_grace(settings: Settings, catalog: Engine) -> None:
    creds = create_studio(settings, catalog, "acme", "Acme")
    new = rotate_webhook_secret(settings, catalog, "acme", grace_s=3600, now=10_000)
    assert new != creds.webhook_secret and new.startswith(WEBHOOK_SECRET_PREFIX)
    studio = _row(catalog, "acme")
    assert active_webhook_secrets(settings, studio, 10_000) == [
        new.encode(),
        creds.webhook_secret.encode(),
    ]
    assert active_webhook_secrets(settings, studio, 13_600) == [new.encode()]

    newest = rotate_webhook_secret(settings, catalog, "acme", grace_s=0, now=10_000)
    assert active_webhook_secrets(settings, _row(catalog, "acme"), 10_000) == [newest.encode()]
    with pytest.raises(StudioError, match="negative"):
        rotate_webhook_secret(settings, catalog, "acme", grace_s=-1)


def test_reseal_after_master_key_rotation(tmp_path: Path, catalog: Engine) -> None:
    old = Settings(
        home=tmp_path / "a",
        signing_secret="s" * 32,
        master_key=base64.b64encode(MASTER).decode(),
        master_key_version=1,
    )
    creds = create_studio(old, catalog, "acme", "Acme")
    new = Settings(
        home=tmp_path / "a",
        signing_secret="s" * 32,
        master_key=base64.b64encode(OTHER_MASTER).decode(),
        master_key_version=2,
        retired_master_keys=f"1:{base64.b64encode(MASTER).decode()}",
    )
    assert reseal_webhook_secrets(new, catalog) == 1
    assert reseal_webhook_secrets(new, catalog) == 0
    row = _row(catalog, "acme")
    assert row.key_version == 2 and sealed_secret_version(row.sealed_webhook_secret) == 2
    only_new = Settings(
        home=tmp_path / "a",
        signing_secret="s" * 32,
        master_key=base64.b64encode(OTHER_MASTER).decode(),
        master_key_version=2,
    )
    assert active_webhook_secrets(only_new, row, 0) == [creds.webhook_secret.encode()]


# ---- CLI -------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    upgrade(url)
    monkeypatch.setenv("REELFLOW_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("REELFLOW_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    yield engine
    engine.dispose()
    get_settings.cache_clear()


def test_cli_add_prints_a_key_that_authenticates(cli_env: Engine) -> None:
    runner = CliRunner()
    result = runner.invoke(studios_app, ["add", "acme", "--name", "Acme Pictures"])
    assert result.exit_code == 0, result.output
    key = re.search(r"^api key:\s+(\S+)$", result.stdout, re.M)
    secret = re.search(r"^webhook secret:\s+(\S+)$", result.stdout, re.M)
    assert key and secret
    assert "shown only this once" in result.stderr

    studio = authenticate(cli_env, key.group(1))
    assert studio is not None and studio.id == "acme" and studio.name == "Acme Pictures"
    assert active_webhook_secrets(get_settings(), studio, 0) == [secret.group(1).encode()]

    listed = runner.invoke(studios_app, ["list"])
    assert listed.exit_code == 0 and "acme" in listed.stdout and "active" in listed.stdout
    assert key.group(1) not in listed.output and secret.group(1) not in listed.output

    rotated = runner.invoke(studios_app, ["rotate-secret", "acme", "--grace-hours", "0"])
    assert rotated.exit_code == 0, rotated.output
    new_secret = re.search(r"^webhook secret:\s+(\S+)$", rotated.stdout, re.M)
    assert new_secret and new_secret.group(1) != secret.group(1)
    reloaded = authenticate(cli_env, key.group(1))
    assert reloaded is not None
    assert active_webhook_secrets(get_settings(), reloaded, 0) == [new_secret.group(1).encode()]

    again = runner.invoke(studios_app, ["add", "acme", "--name", "Again"])
    assert again.exit_code == 2 and "already exists" in again.stderr
    bad = runner.invoke(studios_app, ["add", "Bad Id", "--name", "x"])
    assert bad.exit_code == 2 and "studio id" in bad.stderr

    disabled = runner.invoke(studios_app, ["disable", "acme"])
    assert disabled.exit_code == 0 and "disabled" in disabled.stdout
    assert authenticate(cli_env, key.group(1)) is None
    assert "disabled" in runner.invoke(studios_app, ["list"]).stdout
    unknown = runner.invoke(studios_app, ["disable", "nobody"])
    assert unknown.exit_code == 2 and "no studio" in unknown.stderr


def test_cli_quota_shows_sets_and_resets_a_studios_quotas(
    cli_env: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REELFLOW_STUDIO_INGESTS_PER_HOUR", "500")
    get_settings.cache_clear()
    runner = CliRunner()
    assert runner.invoke(studios_app, ["add", "acme", "--name", "Acme"]).exit_code == 0
    shown = runner.invoke(studios_app, ["quota", "acme"])
    assert shown.exit_code == 0, shown.output
    assert "ingests per hour:   500*" in shown.stdout  # * : the setting's default

    set_ = runner.invoke(
        studios_app, ["quota", "acme", "--ingests-per-minute", "5", "--max-upload-bytes", "1000"]
    )
    assert set_.exit_code == 0, set_.output
    assert "ingests per minute: 5\n" in set_.stdout and "upload max bytes:   1000\n" in set_.stdout
    studio = studio_by_id(cli_env, "acme")
    assert (studio.ingests_per_minute, studio.ingests_per_hour, studio.max_upload_bytes) == (
        5,
        None,
        1000,
    )
    listed = runner.invoke(studios_app, ["list"])
    assert listed.exit_code == 0, listed.output
    assert re.search(r"acme\s*│\s*5\s*│\s*500\*\s*│\s*1000 B", listed.stdout), listed.stdout

    reset = runner.invoke(studios_app, ["quota", "acme", "--ingests-per-minute", "0"])
    assert reset.exit_code == 0 and "ingests per minute: 30*" in reset.stdout
    assert studio_by_id(cli_env, "acme").max_upload_bytes == 1000  # untouched

    unknown = runner.invoke(studios_app, ["quota", "nobody", "--ingests-per-hour", "9"])
    assert unknown.exit_code == 2 and "no studio" in unknown.stderr
    negative = runner.invoke(studios_app, ["quota", "acme", "--ingests-per-hour", "-1"])
    assert negative.exit_code == 2


def studio_by_id(engine: Engine, studio_id: str) -> Studio:
    with Session(engine) as s:
        row = s.get(Studio, studio_id)
    assert row is not None
    return row


def test_cli_refuses_an_unmigrated_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELFLOW_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("REELFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(studios_app, ["list"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2 and "reelflow db upgrade" in result.stderr
