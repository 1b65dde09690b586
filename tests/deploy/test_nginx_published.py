"""The nginx edge in front of a really published package, with links handed out by the API.

The API runs with ``media_base_url`` pointing at nginx, as in production: a player starts a
session, reads the DASH manifest from the API and fetches segments from the edge under the
signed prefix the manifest names, without nginx ever calling Python.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reelflow.playback_api.auth.signing import sign_prefix
from tests.deploy.test_nginx_edge import NGINX, Edge, load_render
from tests.fixtures.published import MediaSet
from tests.playback_api.conftest import ApiHarness, _harness
from tests.services import free_port, wait_for_port


@pytest.fixture
def edge_stack(
    redis_url: str, media_set: MediaSet, packager_path: str
) -> Iterator[tuple[ApiHarness, Edge]]:
    if not NGINX.exists():
        pytest.fail("nginx missing: apt-get install nginx")
    # nginx workers run as nobody: the store must be world-readable all the way down.
    base = Path(tempfile.mkdtemp(prefix="reelflow-edge-pub-"))
    base.chmod(0o755)
    port = free_port()
    runtime = base / "run"
    runtime.mkdir()
    try:
        for api in _harness(
            base,
            redis_url,
            f"sqlite:///{base / 'catalog.db'}",
            media_set,
            packager_path,
            media_base_url=f"http://127.0.0.1:{port}",
        ):
            api.publish("tt-edge")
            api.publish("tt-neighbour")
            for path in [api.settings.home, *api.settings.home.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
            ctx = api.client.app.state.ctx  # type: ignore[attr-defined]
            conf = base / "edge.conf"
            conf.write_text(
                load_render().render(
                    listen=f"127.0.0.1:{port}",
                    root=api.settings.resolved_store_root / "origin",
                    secret=ctx.link_secret,
                    runtime_dir=runtime,
                )
            )
            proc = subprocess.Popen(
                [str(NGINX), "-c", str(conf), "-p", str(runtime), "-g", "daemon off;"],
                stderr=(runtime / "stderr.log").open("wb"),
            )
            try:
                wait_for_port(port)
                yield api, Edge(port, runtime)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_edge_serves_a_published_package_under_links_from_the_api(
    edge_stack: tuple[ApiHarness, Edge],
) -> None:
    api, edge = edge_stack
    session = api.start_playback("tt-edge", api.auth(plan="standard")).json()
    mpd = api.client.get(session["manifests"]["dash"].split("8000", 1)[1])
    assert mpd.status_code == 200
    base = re.search(r"<BaseURL>http://127\.0\.0\.1:\d+(/media/[^<]+)</BaseURL>", mpd.text)
    assert base is not None, mpd.text[:500]
    prefix = base.group(1)
    init = edge.get(prefix + "video_360p_300k/init.mp4")
    assert init.status == 200 and init.getheader("Content-Type") == "video/mp4"
    local = api.settings.resolved_store_root / "origin/tt-edge/v1/video_360p_300k/1.m4s"
    segment = edge.get(prefix + "video_360p_300k/1.m4s")
    assert segment.status == 200
    assert segment.body == local.read_bytes()  # type: ignore[attr-defined]
    part = edge.get(prefix + "video_360p_300k/1.m4s", {"Range": "bytes=0-99"})
    assert part.status == 206 and part.body == local.read_bytes()[:100]  # type: ignore[attr-defined]

    # The package's own manifests list every height: the edge refuses them even under this
    # session's valid link (players get manifests only from the API), media playlists not.
    for manifest in ("manifest.mpd", "master.m3u8"):
        refused = edge.get(prefix + manifest)
        assert refused.status == 403, manifest
        assert b"Representation" not in refused.body  # type: ignore[attr-defined]
        assert b"STREAM-INF" not in refused.body  # type: ignore[attr-defined]
    assert edge.get(prefix + "video_360p_300k.m3u8").status == 200

    init_path = "video_360p_300k/init.mp4"
    parts = prefix.split("/")
    parts[3] = ("A" if parts[3][0] != "A" else "B") + parts[3][1:]
    assert edge.get("/".join(parts) + init_path).status == 403
    link_secret = api.client.app.state.ctx.link_secret  # type: ignore[attr-defined]
    holder = session["session_id"]
    expired = sign_prefix(link_secret, "tt-edge", "v1", int(time.time()) - 30, holder=holder)
    assert edge.get(expired + init_path).status == 410
    # This session's link opens nothing of the neighbouring title, which exists on the edge.
    neighbour = prefix.replace("/tt-edge/", "/tt-neighbour/")
    assert edge.get(neighbour + init_path).status == 403
    fresh = sign_prefix(link_secret, "tt-neighbour", "v1", int(time.time()) + 60, holder=holder)
    assert edge.get(fresh + init_path).status == 200
