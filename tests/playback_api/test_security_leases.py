"""The stream lease is the gate for playback (issue 13): 26 attacks on a 1-stream plan.

The real app (real SQLite catalog, real Redis, really packaged titles) with a short token
and media-link lifetime, its media links served both by the embedded origin and by a real
nginx edge (``media_base_url`` points at it, as in production), and Widevine licenses
through the proxy to the stand-in upstream (tests/fixtures/fake_license_upstream.py).

Before issue 13, links lived 4 hours and any start naming a device took over its lease:
device A could end its session (or be replaced) and keep playing next to device B.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis

from reelflow.playback_api.auth.auth import mint_dev_token
from reelflow.playback_api.auth.auth_config import dev_token_secret
from reelflow.playback_api.auth.signing import verify_playback_token
from reelflow.playback_api.delivery.sessions import new_session_id, owner_key
from tests.deploy.test_nginx_edge import NGINX, Edge, load_render
from tests.fixtures.fake_license_upstream import FakeLicenseUpstream
from tests.fixtures.published import MediaSet
from tests.playback_api.conftest import ApiHarness, _harness
from tests.services import free_port, wait_for_port

LINK_TTL_S = 10  # the smallest lifetime Settings allows
TITLE = "tt-lease"
SEGMENT = "video_360p_300k/1.m4s"
PROBLEMS = "https://reelflow.dev/problems/"
UPSTREAM_SECRET = b"stand-in-upstream-secret-0123456789abcdef"


@dataclass
class Stack:
    api: ApiHarness
    edge: Edge
    upstream: FakeLicenseUpstream

    def start(self, headers: dict[str, str], device: str, takeover: str | None = None) -> Any:
        body: dict[str, Any] = {"device_id": device, "drm": ["clearkey", "widevine"]}
        if takeover is not None:
            body["takeover_session_id"] = takeover
        return self.api.client.post(f"/v1/titles/{TITLE}/playback", json=body, headers=headers)

    def started(self, headers: dict[str, str], device: str, takeover: str | None = None) -> Any:
        response = self.start(headers, device, takeover)
        assert response.status_code == 201, response.text
        return response.json()

    def heartbeat(self, headers: dict[str, str], session_id: str) -> Any:
        return self.api.client.put(
            f"/v1/sessions/{session_id}/heartbeat", json={"position": 1.0}, headers=headers
        )

    # License requests carry the session's token and the viewer's credential, as a player does.
    def clearkey(self, token: str, viewer: dict[str, str]) -> int:
        kid = bytes.fromhex(self.api.published[TITLE].kid("SD"))
        body = {"kids": [base64.urlsafe_b64encode(kid).rstrip(b"=").decode()]}
        url = f"/v1/license/clearkey?token={token}"
        return int(self.api.client.post(url, json=body, headers=viewer).status_code)

    def hls_key(self, token: str, viewer: dict[str, str]) -> int:
        kid = self.api.published[TITLE].kid("SD")
        url = f"/v1/license/hls-key/{kid}?token={token}"
        return int(self.api.client.get(url, headers=viewer).status_code)

    def widevine(self, token: str, viewer: dict[str, str]) -> Any:
        return self.api.client.post(
            f"/v1/license/widevine?token={token}",
            content=b"widevine-challenge",
            headers={"Content-Type": "application/octet-stream", **viewer},
        )

    def manifest(self, session_id: str, token: str) -> int:
        url = f"/v1/playback/{session_id}/manifest.mpd?token={token}"
        return int(self.api.client.get(url).status_code)

    def origin(self, media_prefix: str) -> int:
        """The embedded origin (routes/media.py) for a segment under this prefix."""
        return int(self.api.client.get(urlsplit(media_prefix).path + SEGMENT).status_code)

    def at_edge(self, media_prefix: str) -> int:
        """The nginx edge (secure_link) for the same segment."""
        return int(self.edge.get(urlsplit(media_prefix).path + SEGMENT).status)


@pytest.fixture
def stack(redis_url: str, media_set: MediaSet, packager_path: str) -> Iterator[Stack]:
    if not NGINX.exists():
        pytest.fail("nginx missing: apt-get install nginx")
    # nginx workers run as nobody: the store must be world-readable all the way down.
    base = Path(tempfile.mkdtemp(prefix="reelflow-lease-"))
    base.chmod(0o755)
    port = free_port()
    runtime = base / "run"
    runtime.mkdir()
    try:
        with FakeLicenseUpstream(UPSTREAM_SECRET) as upstream:
            for api in _harness(
                base,
                redis_url,
                f"sqlite:///{base / 'catalog.db'}",
                media_set,
                packager_path,
                media_base_url=f"http://127.0.0.1:{port}",
                media_link_ttl_s=LINK_TTL_S,
                **upstream.settings(),
            ):
                api.publish(TITLE)
                for path in [api.settings.home, *api.settings.home.rglob("*")]:
                    path.chmod(0o755 if path.is_dir() else 0o644)
                conf = base / "edge.conf"
                conf.write_text(
                    load_render().render(
                        listen=f"127.0.0.1:{port}",
                        root=api.settings.resolved_store_root / "origin",
                        secret=api.client.app.state.ctx.link_secret,  # type: ignore[attr-defined]
                        runtime_dir=runtime,
                    )
                )
                proc = subprocess.Popen(
                    [str(NGINX), "-c", str(conf), "-p", str(runtime), "-g", "daemon off;"],
                    stderr=(runtime / "stderr.log").open("wb"),
                )
                try:
                    wait_for_port(port)
                    yield Stack(api, Edge(port, runtime), upstream)
                finally:
                    proc.terminate()
                    proc.wait(timeout=10)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEMS + slug, body
    return body


def viewer(stack: Stack, sub: str, device: str | None = None) -> dict[str, str]:
    token = mint_dev_token(
        dev_token_secret(stack.api.settings.secrets().signing_secret),
        sub=sub,
        plan="basic",  # one stream
        country="US",
        issuer=stack.api.settings.auth_issuer,
        audience=stack.api.settings.auth_audience,
        device=device,
    )
    return {"Authorization": f"Bearer {token}"}


def license_expiry(stack: Stack) -> int:
    seen = stack.upstream.received[-1]
    assert seen.rejection is None and seen.entitlement is not None, seen.rejection
    expiry: int = seen.entitlement.claims["policy"]["license_expires_at"]
    return expiry


def test_an_ended_session_stops_playing_while_the_new_device_keeps_renewing(
    stack: Stack,
) -> None:
    headers = viewer(stack, "acct-one-stream")
    a = stack.started(headers, "phone")
    assert time.time() + LINK_TTL_S - 2 <= a["expires_at"] <= time.time() + LINK_TTL_S + 1
    assert stack.widevine(a["token"], headers).status_code == 200
    assert license_expiry(stack) == a["expires_at"]  # the license ends with the link

    # While A holds its lease a heartbeat renews everything it plays with.
    renewed = stack.heartbeat(headers, a["session_id"])
    assert renewed.status_code == 200, renewed.text
    a_last = renewed.json()
    assert a_last["expires_at"] >= a["expires_at"]
    claim = verify_playback_token(
        stack.api.settings.secrets().signing_secret,
        a_last["token"],
        time.time(),
        session_id=a["session_id"],
    )
    assert claim.expires_at == a_last["expires_at"]
    assert f"/media/{a_last['expires_at']}/" in a_last["media_prefix"]
    assert stack.origin(a_last["media_prefix"]) == stack.at_edge(a_last["media_prefix"]) == 200

    # A ends its session; B takes the one stream.
    assert (
        stack.api.client.delete(f"/v1/sessions/{a['session_id']}", headers=headers).status_code
        == 204
    )
    b = stack.started(headers, "laptop")
    # Attack 1: A's heartbeat gets no renewal (no token, no prefix in the problem).
    gone = problem(stack.heartbeat(headers, a["session_id"]), 410, "session_expired")
    assert "token" not in gone and "media_prefix" not in gone
    # Attacks 2-4: A's license requests, with its newest token, are refused at once.
    assert stack.clearkey(a_last["token"], headers) == 410
    assert stack.hls_key(a_last["token"], headers) == 410
    problem(stack.widevine(a_last["token"], headers), 410, "session_expired")
    # A's links are bound to A (issue 25): the API's origin refuses them at once; the edge,
    # which cannot see the lease, until their expiry at most (the residual window, bounded).
    assert stack.origin(a_last["media_prefix"]) == 410
    assert stack.at_edge(a_last["media_prefix"]) == 200

    # B plays on, renewing by heartbeats, until A's newest and B's first links have expired.
    deadline = max(a_last["expires_at"], b["expires_at"]) + 1.2
    b_last = b
    while time.time() < deadline:
        beat = stack.heartbeat(headers, b["session_id"])
        assert beat.status_code == 200, beat.text
        b_last = beat.json()
        time.sleep(min(2.0, max(0.0, deadline - time.time())))
    beat = stack.heartbeat(headers, b["session_id"])
    assert beat.status_code == 200
    b_last = beat.json()
    assert b_last["expires_at"] > b["expires_at"]

    # Attacks 5-10: A's media links fail at the embedded origin and at the nginx edge, its
    # manifest and license requests with its newest (now expired) token too.
    for prefix in (a["media_prefix"], a_last["media_prefix"]):
        assert stack.origin(prefix) == 410
        assert stack.at_edge(prefix) == 410
    expired = stack.api.client.get(
        f"/v1/playback/{a['session_id']}/manifest.mpd?token={a_last['token']}"
    )
    problem(expired, 401, "token_expired")
    assert (
        stack.clearkey(a_last["token"], headers) == 401
    )  # expired token: refused before any lookup

    # B's first links have expired as well: only the renewal keeps it playing.
    assert stack.origin(b["media_prefix"]) == stack.at_edge(b["media_prefix"]) == 410
    assert stack.origin(b_last["media_prefix"]) == stack.at_edge(b_last["media_prefix"]) == 200
    assert stack.manifest(b["session_id"], b_last["token"]) == 200
    assert stack.clearkey(b_last["token"], headers) == 200
    assert stack.widevine(b_last["token"], headers).status_code == 200
    # The Widevine license lasts no longer than B's current links.
    assert license_expiry(stack) == b_last["expires_at"] <= time.time() + LINK_TTL_S + 1


def test_takeover_needs_the_replaced_session_id_when_the_device_is_not_bound(
    stack: Stack,
) -> None:
    headers = viewer(stack, "acct-tv")
    a = stack.started(headers, "tv")
    # Attack 11: a start that only names A's device does not take its lease over.
    problem(stack.start(headers, "tv"), 409, "device_in_use")
    # Attack 12: nor with a made-up session id.
    problem(stack.start(headers, "tv", takeover=new_session_id()), 409, "device_in_use")
    # Attack 13: nor with the session id another account holds on a device of that name.
    other_headers = viewer(stack, "acct-elsewhere")
    other = stack.started(other_headers, "tv")
    problem(stack.start(headers, "tv", takeover=other["session_id"]), 409, "device_in_use")
    # Attack 14: naming A's session from another device does not add a second stream.
    problem(stack.start(headers, "laptop", takeover=a["session_id"]), 409, "too_many_streams")
    # Attack 15: a malformed takeover id is a validation error, not a takeover.
    assert stack.start(headers, "tv", takeover="s" + "0" * 31 + "'").status_code == 422
    # A was never disturbed by any of that.
    assert stack.heartbeat(headers, a["session_id"]).status_code == 200
    assert stack.clearkey(a["token"], headers) == 200

    # The device itself (a reload: it knows its session) takes its lease over.
    reload = stack.started(headers, "tv", takeover=a["session_id"])
    # Attacks 16-19: the replaced session gets no renewal and no license of any kind.
    problem(stack.heartbeat(headers, a["session_id"]), 410, "session_expired")
    assert stack.clearkey(a["token"], headers) == 410
    assert stack.hls_key(a["token"], headers) == 410
    problem(stack.widevine(a["token"], headers), 410, "session_expired")
    assert stack.clearkey(reload["token"], headers) == 200
    # Attack 20: the replaced session's id no longer takes the lease back.
    problem(stack.start(headers, "tv", takeover=a["session_id"]), 409, "device_in_use")
    assert stack.heartbeat(headers, reload["session_id"]).status_code == 200
    assert stack.heartbeat(other_headers, other["session_id"]).status_code == 200


def test_a_device_bound_by_the_identity_provider_takes_over_without_the_session_id(
    stack: Stack,
) -> None:
    headers = viewer(stack, "acct-stb", device="stb-42")
    # The body's device ids differ, but the token binds both starts to stb-42.
    first = stack.started(headers, "a")
    second = stack.started(headers, "b")
    # Attacks 21-23: the replaced bound session gets no renewal and no license.
    problem(stack.heartbeat(headers, first["session_id"]), 410, "session_expired")
    assert stack.clearkey(first["token"], headers) == 410
    problem(stack.widevine(first["token"], headers), 410, "session_expired")
    assert stack.clearkey(second["token"], headers) == 200
    # Attack 24: the same account without the device claim opens no second stream beside it.
    unbound = viewer(stack, "acct-stb")
    problem(stack.start(unbound, "c"), 409, "too_many_streams")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("a:b", "c"), ("a", "b:c")),  # the old key was owner:a:b:c for both
        (("zo\u00eb:x", "y"), ("zo\u00eb", "x:y")),  # byte length, as Lua's # counts it
    ],
)
def test_owner_keys_of_accounts_and_devices_holding_colons_never_collide(
    stack: Stack, first: tuple[str, str], second: tuple[str, str]
) -> None:
    starts = []
    for sub, device in (first, second):
        headers = viewer(stack, sub)
        starts.append((headers, stack.started(headers, device)))
    # Attacks 25-26: the second account's start did not replace the first one's lease.
    for headers, session in starts:
        assert stack.heartbeat(headers, session["session_id"]).status_code == 200
        assert stack.clearkey(session["token"], headers) == 200
    keys = {owner_key("rf:", sub, device) for sub, device in (first, second)}
    assert len(keys) == 2
    store = redis.Redis.from_url(stack.api.settings.redis_url)
    assert all(store.exists(key) for key in keys)
