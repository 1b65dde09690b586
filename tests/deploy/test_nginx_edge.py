"""The nginx edge config: real nginx checks links made by signing.sign_prefix."""

from __future__ import annotations

import http.client
import importlib.util
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from reelflow.playback_api.auth.signing import (
    MEDIA_CONTENT_TYPES,
    THUMBNAILS_HOLDER,
    media_link_secret,
    sign_prefix,
)
from reelflow.playback_api.routes.media import PACKAGE_MANIFEST
from tests.services import free_port, wait_for_port

NGINX = Path("/usr/sbin/nginx")
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nginx"
SECRET = media_link_secret(b"edge-test-signing-secret-0123456789")
SESSION_A = "s" + "a" * 32
SESSION_B = "s" + "b" * 32
SEGMENT = bytes(range(256)) * 40  # 10 KiB with known content for Range checks

FILES = {
    "tt-001/v1/x.m4s": b'<?xml version="1.0"?><MPD/>',
    "tt-001/v1/master.m3u8": b"#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1280x720\n",
    "tt-001/v1/x.mpd": b'<?xml version="1.0"?><MPD/>',
    "tt-001/v1/dash/alt.mpd": b"<MPD/>",
    "tt-001/v1/video_360p.m3u8": b"#EXTM3U\n#EXTINF:6,\nvideo/360/1.m4s\n",
    "tt-001/v1/video/360/1.m4s": SEGMENT,
    "tt-001/v1/video/360/init.mp4": b"\x00\x00\x00\x18ftypiso6",
    "tt-001/v1/subs/en.vtt": b"WEBVTT\n",
    "tt-001/v1/thumbs/sprite.jpg": b"\xff\xd8\xff\xe0",
    "tt-002/v1/x.m4s": b"<MPD>other title</MPD>",
    "tt-001/v2/x.m4s": b"<MPD>other version</MPD>",
}


def load_render() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reelflow_edge_render", DEPLOY / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Edge:
    port: int
    runtime: Path

    def get(self, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        # http.client sends the path byte for byte: no client-side normalisation of "..".
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        response.body = response.read()  # type: ignore[attr-defined]
        conn.close()
        return response


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    if not NGINX.exists():
        pytest.fail("nginx missing: apt-get install nginx")
    # Workers run as an unprivileged user, so the tree and every parent must be readable:
    # a fresh dir directly under /tmp, rather than pytest's 0700 tmp tree.
    base = Path(tempfile.mkdtemp(prefix="reelflow-edge-"))
    try:
        yield from _run_edge(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _run_edge(base: Path) -> Iterator[Edge]:
    root, runtime = base / "published", base / "run"
    runtime.mkdir()
    for name, data in FILES.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (root / "secret.txt").write_text("not media")  # outside every package
    for path in [base, *base.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    port = free_port()
    conf = base / "edge.conf"
    conf.write_text(
        load_render().render(
            listen=f"127.0.0.1:{port}", root=root, secret=SECRET, runtime_dir=runtime
        )
    )
    check = subprocess.run(
        [str(NGINX), "-t", "-q", "-c", str(conf), "-p", str(runtime)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    stderr = (runtime / "stderr.log").open("wb")
    proc = subprocess.Popen(
        [str(NGINX), "-c", str(conf), "-p", str(runtime), "-g", "daemon off;"],
        stderr=stderr,
    )
    try:
        wait_for_port(port)
        yield Edge(port, runtime)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        stderr.close()


def prefix(
    title: str = "tt-001", version: str = "v1", ttl: int = 300, holder: str = SESSION_A
) -> str:
    return sign_prefix(SECRET, title, version, int(time.time()) + ttl, holder=holder)


@pytest.mark.parametrize(
    ("name", "ext"),
    [
        ("x.m4s", "m4s"),
        ("video_360p.m3u8", "m3u8"),
        ("video/360/1.m4s", "m4s"),
        ("video/360/init.mp4", "mp4"),
        ("subs/en.vtt", "vtt"),
        ("thumbs/sprite.jpg", "jpg"),
    ],
)
def test_valid_link_serves_file_with_content_type(edge: Edge, name: str, ext: str) -> None:
    response = edge.get(prefix() + name)
    assert response.status == 200
    assert response.getheader("Content-Type") == MEDIA_CONTENT_TYPES[ext]
    assert response.body == FILES[f"tt-001/v1/{name}"]  # type: ignore[attr-defined]
    assert response.getheader("Access-Control-Allow-Origin") == "*"


@pytest.mark.parametrize("name", ["x.mpd", "dash/alt.mpd", "master.m3u8", "MASTER.M3U8"])
def test_package_manifests_are_refused_even_under_a_valid_link(edge: Edge, name: str) -> None:
    # The package's MPD and HLS master list every height; players get manifests from the
    # API's tokenized routes, filtered to their session (issue 13: clear titles' heights).
    response = edge.get(prefix() + name)
    assert response.status == 403
    assert b"/problems/forbidden" in response.body  # type: ignore[attr-defined]
    assert b"MPD" not in response.body and b"STREAM-INF" not in response.body  # type: ignore[attr-defined]


def test_manifest_rule_matches_the_embedded_origin() -> None:
    template = (DEPLOY / "edge.conf.template").read_text()
    rule = re.search(r'if \(\$media_rest ~\* "([^"]+)"\)', template)
    assert rule is not None
    assert rule.group(1) == PACKAGE_MANIFEST


def test_range_request_is_206(edge: Edge) -> None:
    response = edge.get(prefix() + "video/360/1.m4s", {"Range": "bytes=100-355"})
    assert response.status == 206
    assert response.getheader("Content-Range") == f"bytes 100-355/{len(SEGMENT)}"
    assert response.body == SEGMENT[100:356]  # type: ignore[attr-defined]


def test_tampered_signature_is_403(edge: Edge) -> None:
    good = prefix()
    parts = good.split("/")
    parts[3] = ("A" if parts[3][0] != "A" else "B") + parts[3][1:]
    response = edge.get("/".join(parts) + "x.m4s")
    assert response.status == 403
    assert response.getheader("Content-Type") == "application/problem+json"
    assert b"/problems/forbidden" in response.body  # type: ignore[attr-defined]
    # Extending the expiry invalidates the signature too.
    parts = good.split("/")
    parts[2] = str(int(parts[2]) + 86400)
    assert edge.get("/".join(parts) + "x.m4s").status == 403


def test_expired_link_is_410(edge: Edge) -> None:
    response = edge.get(prefix(ttl=-60) + "x.m4s")
    assert response.status == 410
    assert b"/problems/link_expired" in response.body  # type: ignore[attr-defined]


def test_token_for_one_title_refused_on_another(edge: Edge) -> None:
    signed = prefix("tt-001", "v1")
    assert edge.get(signed.replace("/tt-001/", "/tt-002/") + "x.m4s").status == 403
    assert edge.get(signed.replace("/v1/", "/v2/") + "x.m4s").status == 403
    # The legitimate links for those packages do work, so the 403s above are the token.
    assert edge.get(prefix("tt-002") + "x.m4s").status == 200
    assert edge.get(prefix("tt-001", "v2") + "x.m4s").status == 200


def test_a_sessions_link_is_not_another_sessions_and_thumbs_links_get_thumbs_only(
    edge: Edge,
) -> None:
    signed = prefix()
    assert edge.get(signed + "x.m4s").status == 200
    # Session A's link relabelled as session B's (or as the thumbnails holder): the holder is
    # inside the signed scope, so the signature fails.
    assert edge.get(signed.replace(SESSION_A, SESSION_B) + "x.m4s").status == 403
    assert edge.get(signed.replace(SESSION_A, THUMBNAILS_HOLDER) + "x.m4s").status == 403
    # A link without a holder (the format before issue 25) is refused outright.
    assert edge.get(signed.replace(f"/{SESSION_A}/", "/") + "x.m4s").status == 403
    # The admin console's thumbnails link: thumbs/ only, never a segment or a playlist.
    thumbs = prefix(holder=THUMBNAILS_HOLDER)
    assert edge.get(thumbs + "thumbs/sprite.jpg").status == 200
    for rest in ("x.m4s", "video/360/1.m4s", "video_360p.m3u8", "thumbs/../x.m4s"):
        assert edge.get(thumbs + rest).status == 403, rest


@pytest.mark.parametrize(
    "rest",
    [
        "../../tt-002/v1/x.m4s",
        "..%2f..%2ftt-002%2fv1%2fx.m4s",
        "%2e%2e/%2e%2e/tt-002/v1/x.m4s",
        "../../../secret.txt",
        "../../../../../../../../etc/passwd",
    ],
)
def test_traversal_out_of_the_signed_prefix_is_refused(edge: Edge, rest: str) -> None:
    response = edge.get(prefix() + rest)
    assert response.status in (400, 403, 404)
    body: bytes = response.body  # type: ignore[attr-defined]
    assert b"other title" not in body
    assert b"not media" not in body
    assert b"root:" not in body


def test_malformed_media_paths_and_other_paths(edge: Edge) -> None:
    assert edge.get(f"/media/123/short/{SESSION_A}/tt-001/v1/x.m4s").status == 403
    assert edge.get("/media/").status == 403
    assert edge.get(prefix()).status == 403  # no object named
    missing = edge.get(prefix() + "nope.m4s")
    assert missing.status == 404
    assert missing.getheader("Content-Type") == "application/problem+json"
    assert edge.get("/tt-001/v1/x.m4s").status == 404
    assert edge.get("/healthz").status == 200


def test_access_log_never_holds_the_signature(edge: Edge) -> None:
    signed = prefix()
    assert edge.get(signed + "x.m4s").status == 200
    sig = signed.split("/")[3]
    log_path = edge.runtime / "access.log"
    # The log line is written just after the response; wait for it (bounded), not a timing test.
    deadline = time.monotonic() + 10
    while "tt-001/v1/x.m4s 200" not in log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    log = log_path.read_text()
    assert "tt-001/v1/x.m4s 200" in log
    assert sig not in log
    assert sig not in (edge.runtime / "error.log").read_text()


def test_content_types_match_the_embedded_origin() -> None:
    template = (DEPLOY / "edge.conf.template").read_text()
    block = re.search(r"types \{(.*?)\}", template, re.S)
    assert block is not None
    nginx_types: dict[str, str] = {}
    for line in block.group(1).strip().splitlines():
        mime, *exts = line.strip().rstrip(";").split()
        nginx_types.update(dict.fromkeys(exts, mime))
    assert nginx_types == MEDIA_CONTENT_TYPES


def test_render_refuses_unsafe_values(tmp_path: Path) -> None:
    render = load_render()
    ok = {"listen": 8080, "root": tmp_path, "secret": SECRET, "runtime_dir": tmp_path}
    assert "secure_link_md5" in render.render(**ok)
    for bad in (
        {"secret": 'abc"; return 200; #aaaaaaaa'},
        {"secret": "$uri-aaaaaaaaaaaaaaaaaa"},
        {"secret": "short"},
        {"root": "relative/dir"},
        {"root": "/srv/with space"},
        {"runtime_dir": "/tmp/x;evil"},
        {"listen": "8080; include /etc/passwd"},
    ):
        with pytest.raises(render.RenderError):
            render.render(**{**ok, **bad})
