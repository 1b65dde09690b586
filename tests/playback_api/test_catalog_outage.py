"""The catalog (a real PostgreSQL server) stops under a running API: every player request
that needs it answers a clean 503 problem with Retry-After, never a 500 (bench/soak.py
found the home and the end of a session answering 500 while PostgreSQL restarted)."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.published import MediaSet
from tests.playback_api.conftest import _harness
from tests.services import postgres_server


def test_requests_needing_the_stopped_catalog_are_clean_503s(
    tmp_path: Path, redis_url: str, media_set: MediaSet, packager_path: str
) -> None:
    server = postgres_server()
    url = server.__enter__()
    stopped = False
    try:
        for api in _harness(tmp_path, redis_url, url, media_set, packager_path):
            api.publish("tt-main")
            headers = api.auth(sub="outage")
            session = api.start_playback("tt-main", headers).json()
            sid = session["session_id"]
            assert api.client.get("/v1/me/home", headers=headers).status_code == 200
            server.__exit__(None, None, None)  # PostgreSQL stops (immediate) and is gone
            stopped = True
            answers = {
                "home": api.client.get("/v1/me/home", headers=headers),
                "end": api.client.delete(f"/v1/sessions/{sid}?position=12", headers=headers),
            }
            for name, r in answers.items():
                assert r.status_code == 503, (name, r.status_code, r.text)
                assert r.headers["content-type"].startswith("application/problem+json"), name
                assert r.json()["type"].endswith("/service_unavailable"), name
                assert int(r.headers["retry-after"]) > 0, name
    finally:
        if not stopped:
            server.__exit__(None, None, None)
