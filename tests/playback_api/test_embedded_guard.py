"""Embedded mode answers only this machine: Host and Origin checks, no admin dev tokens.

The real app (real catalog, real Redis) through the TestClient with the headers a proxy, a
DNS-rebinding page or another site's page would send, and the repo's own nginx edge with a
loopback upstream in front of the real app under uvicorn (the setup the finding was seen on).
"""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from reelflow.playback_api.http.app import create_app
from reelflow.playback_api.http.embedded_guard import host_allowed, origin_allowed
from tests.deploy.test_nginx_edge import NGINX, load_render
from tests.playback_api.conftest import ApiHarness, OpenApi
from tests.services import free_port, serve_app, wait_for_port

DEV = "/v1/dev/token"
LOOPBACK_HOSTS = [
    "127.0.0.1", "127.0.0.1:8000", "127.0.0.1:1", "127.0.0.2:65535", "localhost",
    "localhost:5173", "LOCALHOST:80", "[::1]", "[::1]:3000",
]  # fmt: skip
FOREIGN_HOSTS = [
    "evil.example", "evil.example:8000", "127.0.0.1.nip.io", "localhost.evil.example",
    "192.168.1.10:8000", "0.0.0.0:8000", "[::]:8000", "127.0.0.1@evil.example",
    "evil.example#@127.0.0.1", "127.0.0.1:abc", "[::1", "", "127.0.0.1/x",
]  # fmt: skip
LOOPBACK_ORIGINS = [
    "http://127.0.0.1:8000", "http://127.0.0.1:5173", "http://localhost:3000",
    "https://localhost", "http://[::1]:8080", "http://127.0.0.2:1",
]  # fmt: skip
FOREIGN_ORIGINS = [
    "http://evil.example", "https://evil.example:8000", "null", "file://",
    "http://localhost.evil.example",
    "http://127.0.0.1.nip.io:8000", "ftp://127.0.0.1", "http://user@127.0.0.1:8000",
    "http://127.0.0.1:8000/path",
]  # fmt: skip


def _problem(response: Any, status: int = 403) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/forbidden"), body
    return body


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_loopback_hosts_any_port(host: str) -> None:
    assert host_allowed(host)


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_other_hosts(host: str) -> None:
    assert not host_allowed(host)


@pytest.mark.parametrize("origin", LOOPBACK_ORIGINS)
def test_loopback_origins_any_port(origin: str) -> None:
    assert origin_allowed(origin)


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_other_origins(origin: str) -> None:
    assert not origin_allowed(origin)


def test_another_host_is_refused_everywhere(api: ApiHarness) -> None:
    # A proxy forwarding its public name, or a DNS-rebinding page under its own name.
    for host in ("evil.example", "evil.example:8000", "reelflow.example.com"):
        headers = {"Host": host}
        detail = _problem(api.client.post(DEV, json={}, headers=headers))["detail"]
        assert "loopback" in detail and "REELFLOW_ENV=production" in detail
        _problem(api.client.get("/v1/titles", headers={**headers, **api.auth()}))
        _problem(api.client.get("/", headers=headers))  # the web player's page too
        _problem(api.client.get("/healthz", headers=headers))


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "127.0.0.1:49152", "localhost:5173", "[::1]:9"])
def test_loopback_host_any_port_gets_a_dev_token(api: ApiHarness, host: str) -> None:
    origin = f"http://{host}"
    issued = api.client.post(DEV, json={"sub": "ada"}, headers={"Host": host, "Origin": origin})
    assert issued.status_code == 200, issued.text
    assert issued.json()["sub"] == "ada"


def test_another_sites_page_gets_no_dev_token_and_no_cors_grant(api: ApiHarness) -> None:
    for origin in ("http://evil.example", "https://evil.example:8443", "null"):
        refused = api.client.post(DEV, json={"sub": "ada"}, headers={"Origin": origin})
        assert "access-control-allow-origin" not in refused.headers
        assert "loopback origin" in _problem(refused)["detail"]
        preflight = api.client.options(
            DEV,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert "access-control-allow-origin" not in preflight.headers


def test_a_cross_site_simple_post_is_refused_before_its_body_is_read(api: ApiHarness) -> None:
    # text/plain needs no preflight; the refusal names the Origin, not the body.
    refused = api.client.post(
        DEV,
        content=b"not even json",
        headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
    )
    assert "loopback origin" in _problem(refused)["detail"]


def test_a_proxied_request_gets_no_dev_token(api: ApiHarness) -> None:
    # A same-host proxy that rewrites Host to the upstream's still says it forwarded.
    for name, value in (
        ("X-Forwarded-For", "203.0.113.7"),
        ("Forwarded", "for=203.0.113.7"),
        ("X-Forwarded-Host", "reelflow.example.com"),
        ("X-Real-IP", "203.0.113.7"),
        ("Via", "1.1 edge"),
    ):
        refused = api.client.post(DEV, json={}, headers={name: value})
        assert name.lower() in _problem(refused)["detail"]


def test_admin_dev_tokens_only_from_the_cli(api: ApiHarness) -> None:
    origin = {"Origin": "http://127.0.0.1:8000"}
    refused = api.client.post(DEV, json={"sub": "ops", "admin": True}, headers=origin)
    assert "reelflow dev token --admin" in _problem(refused)["detail"]
    viewer = api.client.post(DEV, json={"sub": "ops", "admin": False}, headers=origin)
    assert viewer.status_code == 200
    token = viewer.json()["access_token"]
    admin_only = api.client.get("/v1/admin/qoe", headers={"Authorization": f"Bearer {token}"})
    _problem(admin_only)


def test_the_public_bind_override_also_answers_its_own_address(open_api: OpenApi) -> None:
    api = open_api(api_host="192.0.2.5", embedded_allow_public_bind=True)
    address = {"Host": "192.0.2.5:8000", "Origin": "http://192.0.2.5:8000"}
    assert api.client.post(DEV, json={}, headers=address).status_code == 200
    assert api.client.post(DEV, json={}).status_code == 200  # loopback still works
    _problem(api.client.post(DEV, json={}, headers={"Host": "evil.example"}))
    _problem(api.client.post(DEV, json={}, headers={"Origin": "http://evil.example"}))


def test_production_answers_any_host(open_api: OpenApi, tmp_path: Path) -> None:
    # No dev auth there; its edge and CDN reach it under the public name.
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "idp.pem").write_bytes(pem)
    api = open_api(
        env="production",
        signing_secret=secrets.token_urlsafe(32),
        master_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        auth_public_key_path=tmp_path / "idp.pem",
    )
    assert api.client.get("/healthz", headers={"Host": "reelflow.example.com"}).status_code == 200


# ---- through the repo's own edge, upstream on loopback -------------------------------------


@pytest.fixture
def edge(api: ApiHarness) -> Iterator[int]:
    """nginx from deploy/nginx/render.py --upstream 127.0.0.1:<api> in front of the real app
    under uvicorn on loopback: the same-host proxy the finding exposed /v1/dev/token through."""
    if not NGINX.exists():
        pytest.fail("nginx missing: apt-get install nginx")
    base = Path(tempfile.mkdtemp(prefix="reelflow-guard-"))
    base.chmod(0o755)
    runtime = base / "run"
    runtime.mkdir()
    port = free_port()
    with serve_app(create_app(api.settings)) as api_port:
        conf = base / "edge.conf"
        conf.write_text(
            load_render().render(
                listen=f"127.0.0.1:{port}",
                root=None,
                upstreams=[f"127.0.0.1:{api_port}"],
                secret="x" * 32,
                runtime_dir=runtime,
            )
        )
        proc = subprocess.Popen(
            [str(NGINX), "-c", str(conf), "-p", str(runtime), "-g", "daemon off;"],
            stderr=(runtime / "stderr.log").open("wb"),
        )
        try:
            wait_for_port(port)
            yield port
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _through(port: int, host: str) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = json.dumps({"sub": "victim", "admin": False})
        headers = {"Host": host, "Content-Type": "application/json"}
        conn.request("POST", DEV, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        conn.close()


def test_the_edge_keeps_the_admin_api_off_the_public_side(edge: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", edge, timeout=10)
    try:
        conn.request("GET", "/v1/admin/experiments", headers={"Host": f"127.0.0.1:{edge}"})
        answer = conn.getresponse()
        body = answer.read()
    finally:
        conn.close()
    # The edge's own 404: through this edge the API itself would answer 403 (the request
    # carries the edge's X-Forwarded-For, test below), so the request never reached it.
    assert answer.status == 404 and b"not_found" in body, body
    conf = load_render().render(
        listen="127.0.0.1:1", root=None, upstreams=["127.0.0.1:2"], secret="x" * 32,
        runtime_dir="/tmp", public_admin=True,
    )  # fmt: skip
    assert "location /v1/admin/" not in conf


def test_the_edge_with_a_loopback_upstream_hands_out_no_dev_token(edge: int) -> None:
    # A visitor from outside names the edge's public host: refused for the whole API.
    status, body = _through(edge, "reelflow.example.com")
    assert status == 403 and "loopback host" in body["detail"], body
    # Even a request to the edge that names loopback carries the edge's X-Forwarded-For.
    status, body = _through(edge, f"127.0.0.1:{edge}")
    assert status == 403 and "x-forwarded-for" in body["detail"], body
