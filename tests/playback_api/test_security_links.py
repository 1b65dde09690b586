"""A session's media links are that session's (issue 25), and its ClearKey licenses say until
when: no later than its lease's end.

Before issue 25 the signed media prefix covered the whole title version: whoever held a
session's links fetched segments for the links' lifetime, whatever became of the session,
and a link could be made to serve any session. The same real stack as the lease attacks
(test_security_leases.py: real app, real Redis, real packages, a real nginx edge).
"""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import urlsplit

from tests.playback_api.conftest import OpenApi
from tests.playback_api.test_security_leases import (
    LINK_TTL_S,
    SEGMENT,
    TITLE,
    Stack,
    problem,
    stack,  # noqa: F401  (the fixture)
    viewer,
)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _clearkey(on: Stack, token: str, headers: dict[str, str]) -> Any:
    kid = bytes.fromhex(on.api.published[TITLE].kid("SD"))
    body = {"kids": [base64.urlsafe_b64encode(kid).rstrip(b"=").decode()]}
    return on.api.client.post(f"/v1/license/clearkey?token={token}", json=body, headers=headers)


def test_a_holder_of_an_ended_sessions_links_gets_nothing_from_the_api(
    stack: Stack,  # noqa: F811
) -> None:
    headers = viewer(stack, "acct-sharer")
    a = stack.started(headers, "phone")
    manifest = _path(a["manifests"]["dash"])
    assert stack.api.client.get(manifest).status_code == 200
    assert stack.origin(a["media_prefix"]) == stack.at_edge(a["media_prefix"]) == 200

    # The viewer ends the session (or shares its links and goes on): its lease is gone.
    gone = stack.api.client.delete(f"/v1/sessions/{a['session_id']}", headers=headers)
    assert gone.status_code == 204
    # The holder of the links, without the viewer's credential: no manifest, no segment from
    # the API's origin, no license; with the credential still no license.
    problem(stack.api.client.get(manifest), 410, "session_expired")
    origin = stack.api.client.get(urlsplit(a["media_prefix"]).path + SEGMENT)
    problem(origin, 410, "session_expired")
    problem(_clearkey(stack, a["token"], {}), 401, "invalid_token")
    problem(_clearkey(stack, a["token"], headers), 410, "session_expired")
    # The edge cannot ask about the lease: it serves the link until its short expiry at most
    # (test_security_leases.py waits that out and sees the edge refuse it too).
    assert a["expires_at"] <= time.time() + LINK_TTL_S + 1
    assert stack.at_edge(a["media_prefix"]) == 200


def test_a_link_of_one_session_is_no_link_of_another(stack: Stack) -> None:  # noqa: F811
    a = stack.started(viewer(stack, "acct-a"), "phone")
    b = stack.started(viewer(stack, "acct-b"), "phone")
    # B's session is live, and A's link is genuine: relabelled with B's id (or the admin
    # console's thumbnails holder) the signature no longer matches, at the origin and edge.
    for holder in (b["session_id"], "thumbs"):
        relabelled = a["media_prefix"].replace(a["session_id"], holder)
        assert stack.origin(relabelled) == stack.at_edge(relabelled) == 403
    # Both sessions' own links reach the same object under different URLs: an edge in front
    # of replicas caches it once (its key, deploy/nginx/render.py, is title/version/object
    # without holder or signature; tests/topology counts its hits).
    assert urlsplit(a["media_prefix"]).path != urlsplit(b["media_prefix"]).path
    got = [stack.edge.get(urlsplit(s["media_prefix"]).path + SEGMENT) for s in (a, b)]
    assert [r.status for r in got] == [200, 200]
    assert got[0].body == got[1].body  # type: ignore[attr-defined]
    assert stack.origin(a["media_prefix"]) == stack.origin(b["media_prefix"]) == 200

    # A replaced on its device (a reload taking its lease over): A's links are refused by the
    # origin at once, the new session's work.
    headers = viewer(stack, "acct-a")
    reload = stack.started(headers, "phone", takeover=a["session_id"])
    assert stack.origin(a["media_prefix"]) == 410
    assert stack.origin(reload["media_prefix"]) == 200


def test_a_clearkey_license_says_until_when_no_later_than_the_lease(open_api: OpenApi) -> None:
    api = open_api(lease_ttl_s=5)  # links live 300 s, the lease 5 s past each heartbeat
    title = api.publish("tt-ck")
    headers = api.auth(sub="acct-ck")
    before = int(time.time())
    start = api.start_playback("tt-ck", headers).json()
    kid = base64.urlsafe_b64encode(bytes.fromhex(title.kid("SD"))).rstrip(b"=").decode()
    url = _path(start["licenses"]["clearkey"])
    answer = api.client.post(url, json={"kids": [kid]}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["type"] == "temporary" and len(body["keys"]) == 1
    # The lease's end (start + 5 s), not the links' (start + 300 s).
    assert before + 5 <= body["expires_at"] <= int(time.time()) + 5
    assert body["expires_at"] < start["expires_at"]
    # After the lease: no license at all (what the server enforces; the browser's ClearKey
    # CDM keeps keys it already has until its MediaKeySession closes).
    ended = api.client.delete(f"/v1/sessions/{start['session_id']}", headers=headers)
    assert ended.status_code == 204
    assert api.client.post(url, json={"kids": [kid]}, headers=headers).status_code == 410
