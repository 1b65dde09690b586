"""Settings per process role: Temporal TLS / API key, catalog pool sizes, worker metrics."""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.service import TLSConfig

from reelflow.catalog import engine_from_settings
from reelflow.catalog.db import POOL_DEFAULTS, make_engine, pool_size, upgrade
from reelflow.config import ConfigError, Settings
from reelflow.workers.main import metrics_runtime
from reelflow.workflows.client import TemporalUnavailable, connect, temporal_tls
from tests.services import free_port


def pem_pair(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_plain_by_default_and_tls_with_an_api_key() -> None:
    assert temporal_tls(Settings()) is False
    assert temporal_tls(Settings(temporal_api_key="k")) is True  # Cloud: system roots


def test_mtls_config_carries_the_files(tmp_path: Path) -> None:
    cert, key = pem_pair(tmp_path, "worker")
    ca, _ = pem_pair(tmp_path, "ca")
    tls = temporal_tls(
        Settings(temporal_tls_cert_path=cert, temporal_tls_key_path=key, temporal_tls_ca_path=ca)
    )
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == cert.read_bytes()
    assert tls.client_private_key == key.read_bytes()
    assert tls.server_root_ca_cert == ca.read_bytes()
    ca_only = temporal_tls(Settings(temporal_tls_ca_path=ca))
    assert isinstance(ca_only, TLSConfig) and ca_only.client_cert is None


@pytest.mark.parametrize("which", ["CERT", "KEY", "CA"])
def test_unreadable_file_names_the_variable(tmp_path: Path, which: str) -> None:
    cert, key = pem_pair(tmp_path, "worker")
    paths = {"CERT": cert, "KEY": key, "CA": cert}
    paths[which] = tmp_path / "missing.pem"
    settings = Settings(
        temporal_tls_cert_path=paths["CERT"],
        temporal_tls_key_path=paths["KEY"],
        temporal_tls_ca_path=paths["CA"],
    )
    with pytest.raises(ConfigError, match=f"REELFLOW_TEMPORAL_TLS_{which}_PATH: cannot read"):
        temporal_tls(settings)


def test_wrong_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    cert, key = pem_pair(tmp_path, "worker")
    # Cert and key swapped: the key file has no certificate in it.
    with pytest.raises(ConfigError, match="REELFLOW_TEMPORAL_TLS_CERT_PATH") as bad:
        temporal_tls(Settings(temporal_tls_cert_path=key, temporal_tls_key_path=cert))
    assert "BEGIN" not in str(bad.value) and key.read_text()[40:80] not in str(bad.value)


def test_half_a_client_certificate_is_refused(tmp_path: Path) -> None:
    cert, key = pem_pair(tmp_path, "worker")
    with pytest.raises(ConfigError, match=r"TLS_CERT_PATH is set without .*TLS_KEY_PATH"):
        temporal_tls(Settings(temporal_tls_cert_path=cert))
    with pytest.raises(ConfigError, match=r"TLS_KEY_PATH is set without .*TLS_CERT_PATH"):
        temporal_tls(Settings(temporal_tls_key_path=key))


async def test_api_key_is_not_in_connection_errors() -> None:
    secret = f"api-key-{uuid.uuid4().hex}"
    settings = Settings(temporal_address=f"127.0.0.1:{free_port()}", temporal_api_key=secret)
    with pytest.raises(TemporalUnavailable) as failed:
        await connect(settings)
    assert secret not in str(failed.value) and secret not in repr(settings)


def test_pool_sizes_per_role(postgres_url: str) -> None:
    assert POOL_DEFAULTS["rq"].size < POOL_DEFAULTS["worker"].size <= POOL_DEFAULTS["api"].size
    assert pool_size("worker", size=3) == (3, POOL_DEFAULTS["worker"].overflow)
    engine = make_engine(postgres_url, pool=pool_size("rq"))
    assert (engine.pool.size(), engine.pool._max_overflow) == tuple(POOL_DEFAULTS["rq"])  # type: ignore[attr-defined]
    upgrade(postgres_url)
    tuned = engine_from_settings(
        Settings(database_url=postgres_url, db_pool_size=4, db_max_overflow=1), role="worker"
    )
    assert (tuned.pool.size(), tuned.pool._max_overflow) == (4, 1)  # type: ignore[attr-defined]
    api = engine_from_settings(Settings(database_url=postgres_url))
    assert api.pool.size() == POOL_DEFAULTS["api"].size  # type: ignore[attr-defined]
    engine.dispose()


def test_sqlite_ignores_pool_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url, pool=pool_size("api", 50, 50))
    with engine.connect():
        pass
    # SQLAlchemy's own defaults for a SQLite file: one file, no server connections to size.
    assert (engine.pool.size(), engine.pool._max_overflow) == (5, 10)  # type: ignore[attr-defined]


def test_worker_metrics_bind() -> None:
    assert metrics_runtime(Settings()) is None
    for bad in ("9464", ":9464", "host:port", "127.0.0.1:70000"):
        with pytest.raises(ConfigError, match="REELFLOW_WORKER_METRICS_BIND"):
            metrics_runtime(Settings(worker_metrics_bind=bad))


async def test_worker_metrics_are_served(temporal_env: object) -> None:
    """A real runtime with the Prometheus exporter serves the SDK's metrics once a client
    connected through it talks to the (real) dev server."""
    from temporalio.testing import WorkflowEnvironment

    assert isinstance(temporal_env, WorkflowEnvironment)
    port = free_port()
    runtime = metrics_runtime(Settings(worker_metrics_bind=f"127.0.0.1:{port}"))
    assert runtime is not None
    address = temporal_env.client.service_client.config.target_host
    client = await connect(Settings(temporal_address=address), runtime=runtime)
    await client.count_workflows()
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert "temporal_request" in body
