"""A playback start can carry the session's DASH MPD (``inline_manifest``): the same document
the manifest URL answers, for the same entitlement, and nothing when it was not asked for or
DASH is not offered (real app, real Redis, a packaged title)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from tests.playback_api.conftest import ApiHarness

TITLE = "tt-inline"


def _start(api: ApiHarness, headers: dict[str, str], **body: Any) -> Any:
    doc = {"device_id": "device-1", "drm": ["clearkey"], **body}
    return api.client.post(f"/v1/titles/{TITLE}/playback", json=doc, headers=headers)


def _get(api: ApiHarness, url: str) -> Any:
    parts = urlsplit(url)
    return api.client.get(f"{parts.path}?{parts.query}")


def test_the_inline_mpd_is_the_document_the_manifest_url_serves(api: ApiHarness) -> None:
    api.publish(TITLE)
    r = _start(api, api.auth(), inline_manifest=True)
    assert r.status_code == 201, r.text
    start = r.json()
    served = _get(api, start["manifests"]["dash"])
    assert served.status_code == 200
    assert start["dash_mpd"] == served.text
    # Segments resolve on the session's signed prefix, not on the (data:) manifest URL.
    base = re.search(r"<BaseURL>([^<]+)</BaseURL>", start["dash_mpd"])
    assert base and base.group(1) == start["media_prefix"]


def test_the_inline_mpd_keeps_the_plans_height(api: ApiHarness) -> None:
    api.publish(TITLE)
    r = _start(api, api.auth(plan="basic"), inline_manifest=True)
    assert r.status_code == 201, r.text
    heights = {int(h) for h in re.findall(r'height="(\d+)"', r.json()["dash_mpd"])}
    assert heights and max(heights) < 720, heights


def test_no_inline_mpd_unless_asked_and_offered(api: ApiHarness) -> None:
    api.publish(TITLE)
    headers = api.auth()
    plain = _start(api, headers)
    assert plain.status_code == 201 and plain.json()["dash_mpd"] is None
    hls_only = _start(api, api.auth(), inline_manifest=True, protocols=["hls"])
    assert hls_only.status_code == 201, hls_only.text
    assert hls_only.json()["dash_mpd"] is None and hls_only.json()["manifests"]["dash"] is None


def test_a_malformed_inline_flag_is_refused(api: ApiHarness) -> None:
    api.publish(TITLE)
    r = _start(api, api.auth(), inline_manifest={"all": True})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "inline_manifest" in r.text
