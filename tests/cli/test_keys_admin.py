"""Master-key rotation and CPIX export over a real catalog and real sealed keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import Session, select

from reelflow.activities.deps import Deps
from reelflow.activities.packaging_activities import load_keys
from reelflow.activities.publish_activities import PublishActivities
from reelflow.catalog import titles as q
from reelflow.catalog.db import make_engine, upgrade
from reelflow.catalog.models import ContentKeyRow
from reelflow.cli.keys_admin import KeyAdminError, export_cpix, rotate_master
from reelflow.config import ConfigError, Settings, rotate_generated_master_key
from reelflow.domain.track_classes import TrackClass
from reelflow.keystore import sealed
from reelflow.keystore.content_keys import KeyPlace, KeyUnsealError, is_bound, open_key
from reelflow.lifecycle import contracts as c
from reelflow.storage import LocalStore
from tests.fixtures import catalog_reads as reads
from tests.fixtures.cpix_reader import read_cpix
from tests.packaging.test_cpix import _cert, _pem


def _deps(home: Path) -> Deps:
    settings = Settings(home=home)
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    return Deps(settings, engine, LocalStore(home / "objects"))


@pytest.fixture
def sealed_title(tmp_path: Path) -> tuple[Deps, dict[str, str]]:
    deps = _deps(tmp_path)
    q.upsert_title(deps.engine, title_id="film", name="Film")
    kids = (
        PublishActivities(deps).generate_keys(c.KeysRequest("film", 1, ["AUDIO", "SD", "HD"])).kids
    )
    return deps, kids


def test_generate_keys_is_idempotent(sealed_title: tuple[Deps, dict[str, str]]) -> None:
    deps, kids = sealed_title
    again = PublishActivities(deps).generate_keys(c.KeysRequest("film", 1, ["AUDIO", "SD", "HD"]))
    assert again.kids == kids
    assert len(reads.content_keys_for(deps.engine, "film", 1)) == 3


def test_rotation_reseals_every_key_and_keeps_them_readable(
    sealed_title: tuple[Deps, dict[str, str]], tmp_path: Path
) -> None:
    deps, kids = sealed_title
    before = load_keys(deps, "film", kids)
    assert rotate_generated_master_key(deps.settings) == 2
    rotated = Settings(home=tmp_path)
    result = rotate_master(rotated, deps.engine)
    assert (result.version, result.resealed, result.already_current) == (2, 3, 0)
    assert {r.key_version for r in reads.content_keys_for(deps.engine, "film", 1)} == {2}
    # Once every key is resealed the retired master key can go.
    secrets_file = tmp_path / "secrets.json"
    data = json.loads(secrets_file.read_text())
    data["retired_master_keys"] = {}
    secrets_file.write_text(json.dumps(data))
    after = load_keys(Deps(Settings(home=tmp_path), deps.engine, deps.store), "film", kids)
    assert {k: v.key for k, v in after.items()} == {k: v.key for k, v in before.items()}
    assert rotate_master(Settings(home=tmp_path), deps.engine).resealed == 0


def test_rotation_without_the_old_key_names_what_is_missing(
    sealed_title: tuple[Deps, dict[str, str]], tmp_path: Path
) -> None:
    deps, _ = sealed_title
    rotate_generated_master_key(deps.settings)
    data = json.loads((tmp_path / "secrets.json").read_text())
    data["retired_master_keys"] = {}
    (tmp_path / "secrets.json").write_text(json.dumps(data))
    with pytest.raises(KeyAdminError, match="REELFLOW_RETIRED_MASTER_KEYS"):
        rotate_master(Settings(home=tmp_path), deps.engine)


def test_production_rotation_is_driven_by_env(tmp_path: Path) -> None:
    import base64

    s = Settings(
        home=tmp_path,
        env="production",
        signing_secret="s" * 40,
        master_key=base64.b64encode(b"n" * 32).decode(),
        master_key_version=3,
        retired_master_keys=f"2:{base64.b64encode(b'o' * 32).decode()}",
    )
    ring = s.secrets().master_keys
    assert ring == {2: b"o" * 32, 3: b"n" * 32}
    with pytest.raises(ConfigError, match="REELFLOW_MASTER_KEY_VERSION"):
        rotate_generated_master_key(s)


def test_cpix_export_round_trips_to_the_recipient(
    sealed_title: tuple[Deps, dict[str, str]],
) -> None:
    deps, kids = sealed_title
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    doc = export_cpix(deps.settings, deps.engine, "film", _cert(private))
    got = read_cpix(doc, _pem(private))
    clear = load_keys(deps, "film", kids)
    assert got == {k.kid_hex: k.key for k in clear.values()}
    with pytest.raises(KeyAdminError, match="no active content keys"):
        export_cpix(deps.settings, deps.engine, "other", _cert(private))


def test_cli_rotate_and_export(sealed_title: tuple[Deps, dict[str, str]], tmp_path: Path) -> None:
    exe = str(Path(sys.executable).parent / "reelflow")
    env = {**os.environ, "REELFLOW_HOME": str(tmp_path), "COLUMNS": "200"}
    r = subprocess.run(
        [exe, "keys", "rotate-master", "--generate"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "resealed 3 content key(s)" in r.stdout
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = tmp_path / "vendor.pem"
    cert.write_bytes(_cert(private))
    out = tmp_path / "film.cpix.xml"
    r = subprocess.run(
        [exe, "keys", "export-cpix", "film", "--recipient-cert", str(cert), "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert len(read_cpix(out.read_bytes(), _pem(private))) == 3
    r = subprocess.run(
        [exe, "keys", "export-cpix", "ghost", "--recipient-cert", str(cert), "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2 and "no active content keys" in r.stderr


def test_keys_sealed_before_places_were_bound_are_bound_by_the_cli(
    sealed_title: tuple[Deps, dict[str, str]], tmp_path: Path
) -> None:
    deps, kids = sealed_title
    clear = {k: v.key for k, v in load_keys(deps, "film", kids).items()}
    # Make the HD row what an older release wrote: format 0x01, KID and version only.
    secrets = deps.settings.secrets()
    hd_kid = kids["HD"]
    with Session(deps.engine) as s:
        row = s.exec(select(ContentKeyRow).where(ContentKeyRow.kid == hd_kid)).one()
        kid = bytes.fromhex(hd_kid)
        row.sealed_key = sealed.seal(
            clear[TrackClass.HD],
            master_key=secrets.master_key,
            key_version=secrets.master_key_version,
            aad=b"reelflow/content-key/v1"
            + sealed.HEADER.pack(sealed.SEAL_FORMAT, secrets.master_key_version)
            + kid,
        )
        s.add(row)
        s.commit()
    assert load_keys(deps, "film", kids)[TrackClass.HD].key == clear[TrackClass.HD]
    exe = str(Path(sys.executable).parent / "reelflow")
    env = {**os.environ, "REELFLOW_HOME": str(tmp_path), "COLUMNS": "200"}
    r = subprocess.run([exe, "keys", "bind"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "bound 1 content key(s)" in r.stdout
    rows = {r.kid: r for r in reads.content_keys_for(deps.engine, "film", 1)}
    assert all(is_bound(r.sealed_key) for r in rows.values())
    assert {k: v.key for k, v in load_keys(deps, "film", kids).items()} == clear
    # bound now: the same row relabelled SD no longer opens
    with pytest.raises(KeyUnsealError):
        open_key(
            rows[hd_kid].sealed_key,
            master_keys=secrets.master_keys,
            kid=bytes.fromhex(hd_kid),
            place=KeyPlace("film", 1, "SD"),
        )
    r = subprocess.run([exe, "keys", "bind"], capture_output=True, text=True, env=env, timeout=60)
    assert "bound 0 content key(s)" in r.stdout
