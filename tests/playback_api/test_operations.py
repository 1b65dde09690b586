"""Operations surface: /metrics, request ids, JSON logs that never hold a secret."""

from __future__ import annotations

import base64
import io
import json
import logging
import re

from reelflow.playback_api.http.observability import JsonFormatter
from tests.playback_api.conftest import ApiHarness


def metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_refusals_licenses_and_leases(api: ApiHarness) -> None:
    title = api.publish("tt-main")
    api.publish("tt-fr", regions=("FR",))
    assert api.start_playback("tt-fr", api.auth(country="US")).status_code == 403
    viewer = api.auth(plan="basic")
    session = api.start_playback("tt-main", viewer).json()
    kid = base64.urlsafe_b64encode(bytes.fromhex(title.kid("SD"))).rstrip(b"=").decode()
    license_url = session["licenses"]["clearkey"].split("8000", 1)[1]
    assert api.client.post(license_url, json={"kids": [kid]}, headers=viewer).status_code == 200
    text = api.client.get("/metrics").text
    route = "/v1/titles/{title_id}/playback"
    assert metric(text, "reelflow_http_requests_total", route=route, status="201") == 1
    assert metric(text, "reelflow_http_requests_total", route=route, status="403") == 1
    assert metric(text, "reelflow_refusals_total", type="geo_blocked") == 1
    assert metric(text, "reelflow_licenses_issued_total", drm="clearkey") == 1
    assert metric(text, "reelflow_active_stream_leases") == 1
    assert metric(text, "reelflow_http_request_duration_seconds_count", route=route) == 2
    # Route templates, never raw paths: no session id or token appears in any label.
    assert session["session_id"] not in text and session["token"] not in text
    # Schema refusals and oversized bodies count too.
    api.client.post("/v1/titles/tt-main/playback", json={"device_id": ""}, headers=api.auth())
    api.client.post("/v1/qoe", content=b"x" * (2 * 1024 * 1024), headers=api.auth())
    text = api.client.get("/metrics").text
    assert metric(text, "reelflow_refusals_total", type="validation_error") == 1
    assert metric(text, "reelflow_refusals_total", type="payload_too_large") == 1


def test_request_id_is_returned_and_a_safe_incoming_one_is_kept(api: ApiHarness) -> None:
    generated = api.client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", generated)
    kept = api.client.get("/healthz", headers={"X-Request-Id": "lb-42.a"})
    assert kept.headers["x-request-id"] == "lb-42.a"
    hostile = api.client.get("/healthz", headers={"X-Request-Id": 'x" injected=1 ' + "y" * 80})
    assert hostile.headers["x-request-id"] != "x"
    assert re.fullmatch(r"[0-9a-f]{16}", hostile.headers["x-request-id"])


def test_logs_are_json_and_hold_no_tokens_keys_or_signatures(api: ApiHarness) -> None:
    title = api.publish("tt-main")
    stream = io.StringIO()
    api.client.app.state.access_log.stream = stream  # type: ignore[attr-defined]
    viewer = api.auth(plan="premium")
    session = api.start_playback("tt-main", viewer).json()
    base = session["manifests"]["dash"].split("8000", 1)[1]
    mpd = api.client.get(base).text
    prefix = re.search(r"<BaseURL>http://[^/]+(/media/[^<]+)</BaseURL>", mpd)
    assert prefix is not None
    api.client.get(prefix.group(1) + "video_360p_300k/init.mp4")
    kid = base64.urlsafe_b64encode(bytes.fromhex(title.kid("HD"))).rstrip(b"=").decode()
    license_url = session["licenses"]["clearkey"].split("8000", 1)[1]
    api.client.post(license_url, json={"kids": [kid]}, headers=viewer)
    api.client.get("/v1/titles/nope", headers={"Authorization": "Bearer forged.token.value"})
    lines = stream.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]
    assert len(entries) == 5
    assert {"request_id", "route", "status", "ms", "ts"} <= set(entries[0])
    assert entries[0]["account"].startswith("acct-")
    assert any(e["route"] == "/media/{path:path}" and e["status"] == 200 for e in entries)
    assert entries[-1]["problem"] == "invalid_token" and entries[-1]["status"] == 401
    everything = stream.getvalue()
    signature = prefix.group(1).split("/")[3]
    hd_key = base64.urlsafe_b64encode(title.key("HD").key).rstrip(b"=").decode()
    bearer = viewer["Authorization"].split(" ", 1)[1]
    for secret in (session["token"], bearer, signature, hd_key, session["session_id"], "forged"):
        assert secret not in everything


def test_json_formatter_for_application_logs() -> None:
    record = logging.LogRecord("reelflow.api", logging.ERROR, __file__, 1, "boom %s", ("x",), None)
    record.fields = {"route": "/v1/x"}
    entry = json.loads(JsonFormatter().format(record))
    assert entry == {**entry, "level": "error", "msg": "boom x", "route": "/v1/x"}
