"""POST /v1/qoe and GET /v1/admin/qoe on the real app, over real Redis: beacons go into the
viewer event log, a real events writer turns them into Parquet, and the admin report reads
those files (DuckDB)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from redis.asyncio import Redis

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import Title
from reelflow.events.log import STREAM, RedisStreamLog
from reelflow.events.pseudonym import pseudonym_key, viewer_pseudonym
from reelflow.events.queries import connect
from reelflow.events.writer import EventWriter
from reelflow.playback_api.delivery.sessions import PlaybackSession, SessionStore, new_session_id
from reelflow.playback_api.http.problems import PROBLEM_BASE_URI, PROBLEM_MEDIA_TYPE
from reelflow.playback_api.routes import qoe as qoe_routes
from tests.playback_api.conftest import ApiHarness


def write_events(api: ApiHarness) -> int:
    """What the events writer does in the stack: the app's stream into its store's files."""
    client = redis.Redis.from_url(api.settings.redis_url)
    try:
        writer = EventWriter(RedisStreamLog(client), api.store, "tests", block_ms=10)
        for _ in range(100):  # bounded: a few batches at most
            if writer.step() == 0:
                return writer.counts.events
    finally:
        client.close()
    raise AssertionError("the stream did not drain")


@pytest.fixture
def drain(api: ApiHarness) -> Iterator[Callable[[], int]]:
    yield lambda: write_events(api)


def _add_title(api: ApiHarness, title_id: str) -> None:
    # A catalog row is all the QoE endpoint checks; packaging media would only add minutes.
    with session_scope(api.engine) as s:
        s.add(Title(id=title_id, name=title_id.title()))
    api.client.app.state.ctx.titles.invalidate()  # type: ignore[attr-defined]


def _live_session(api: ApiHarness, *, account: str, title_id: str) -> str:
    """A playback session in Redis, as POST /titles/{id}/playback leaves it."""
    session = PlaybackSession(
        session_id=new_session_id(),
        account=account,
        device_id=f"device-{new_session_id()[1:9]}",  # one device per session
        title_id=title_id,
        version=1,
        version_dir="v1",
        plan="premium",
        country="US",
        max_height=1080,
        key_classes=("AUDIO", "SD", "HD"),
        drm=("clearkey",),
        expires_at=int(time.time()) + 3600,
    )

    async def start() -> None:
        redis = Redis.from_url(api.settings.redis_url)
        try:
            store = SessionStore(redis, lease_ttl_s=api.settings.lease_ttl_s)
            await store.start(session, max_streams=4)
        finally:
            await redis.aclose()

    asyncio.run(start())
    return session.session_id


def _body(session_id: str | None = None, title_id: str = "qoe-movie", **extra: Any) -> Any:
    return {"session_id": session_id or new_session_id(), "title_id": title_id, **extra}


def _stream_length(api: ApiHarness) -> int:
    return int(redis.Redis.from_url(api.settings.redis_url).xlen(STREAM))


def _written(api: ApiHarness) -> list[dict[str, Any]]:
    """The qoe events in the app's event files, oldest first."""
    with connect(api.client.app.state.ctx.event_files, ("qoe",)) as con:  # type: ignore[attr-defined]
        cursor = con.execute("SELECT * FROM qoe ORDER BY server_ts, id")
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    doc: dict[str, Any] = response.json()
    assert doc["type"] == PROBLEM_BASE_URI + slug
    return doc


# ---- POST /v1/qoe ----------------------------------------------------------------------


def test_beacon_is_logged_then_written_with_the_sessions_breakdown(
    api: ApiHarness, drain: Callable[[], int]
) -> None:
    _add_title(api, "qoe-movie")
    session_id = _live_session(api, account="acct-a", title_id="qoe-movie")
    body = _body(
        session_id,
        startup_ms=850.5,
        rebuffer_count=2,
        rebuffer_ms=1200,
        played_ms=30_000,
        bitrate_switches=4,
        errors=["net:timeout", "drm.license_denied"],
    )
    before = datetime.now(UTC)
    phone = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148"}
    r = api.client.post("/v1/qoe", json=body, headers={**api.auth(sub="acct-a"), **phone})
    assert r.status_code == 202 and r.json() == {"accepted": True}
    assert _stream_length(api) == 1 and _written(api) == []  # logged; the writer writes it

    assert drain() == 1

    [event] = _written(api)
    key = pseudonym_key(api.settings.secrets().signing_secret)
    assert (event["title"], event["session"]) == ("qoe-movie", session_id)
    assert event["viewer"] == viewer_pseudonym(key, "acct-a")
    assert (event["startup_ms"], event["rebuffer_count"], event["rebuffer_ms"]) == (
        850.5,
        2,
        1200.0,
    )
    assert (event["played_ms"], event["bitrate_switches"]) == (30_000.0, 4)
    assert event["errors"] == ["net:timeout", "drm.license_denied"]
    # The breakdown is the server's: plan and country from the session, the DRM system the
    # session may use, the device class from the User-Agent.
    assert (event["plan"], event["country"]) == ("premium", "US")
    assert (event["drm"], event["device_class"]) == ("clearkey", "mobile")
    assert before - timedelta(seconds=1) <= event["server_ts"] <= datetime.now(UTC)


def test_the_breakdown_cannot_come_from_the_player(
    api: ApiHarness, drain: Callable[[], int]
) -> None:
    _add_title(api, "qoe-movie")
    session_id = _live_session(api, account="acct-p", title_id="qoe-movie")
    headers = api.auth(sub="acct-p")
    for extra in ({"drm": "widevine"}, {"device_class": "tv"}, {"plan": "basic"}):
        r = api.client.post("/v1/qoe", json={**_body(session_id), **extra}, headers=headers)
        doc = _assert_problem(r, 422, "validation_error")
        assert any(next(iter(extra)) in err["loc"] for err in doc["errors"]), doc
    qoe = {"id": str(uuid.uuid4()), "type": "qoe", "ts": datetime.now(UTC).isoformat(),
           "title": "qoe-movie", "session": session_id, "drm": "widevine"}  # fmt: skip
    r = api.client.post("/v1/events", json={"events": [qoe]}, headers=headers)
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["drm"]
    # A qoe event a player sends itself is kept, its breakdown unknown to the server.
    del qoe["drm"]
    assert api.client.post("/v1/events", json={"events": [qoe]}, headers=headers).status_code == 202
    assert drain() == 1
    [event] = _written(api)
    assert (event["drm"], event["device_class"]) == (None, None)


def test_an_ended_sessions_final_beacon_is_accepted_within_the_grace(
    api: ApiHarness, drain: Callable[[], int]
) -> None:
    _add_title(api, "qoe-movie")
    headers = api.auth(sub="acct-b")
    session_id = _live_session(api, account="acct-b", title_id="qoe-movie")
    assert api.client.post("/v1/qoe", json=_body(session_id), headers=headers).status_code == 202
    assert api.client.delete(f"/v1/sessions/{session_id}", headers=headers).status_code == 204
    final = api.client.post("/v1/qoe", json=_body(session_id, played_ms=5), headers=headers)
    assert final.status_code == 202, final.text
    assert drain() == 2
    written = _written(api)
    assert [(e["title"], e["session"]) for e in written] == [("qoe-movie", session_id)] * 2
    # The grace mark keeps the session's breakdown for the final beacon.
    assert [(e["plan"], e["drm"]) for e in written] == [("premium", "clearkey")] * 2


def test_beacon_for_another_accounts_live_session_is_refused(api: ApiHarness) -> None:
    _add_title(api, "qoe-movie")
    session_id = _live_session(api, account="acct-owner", title_id="qoe-movie")
    r = api.client.post(
        "/v1/qoe", json=_body(session_id, played_ms=10), headers=api.auth(sub="acct-intruder")
    )
    _assert_problem(r, 404, "not_found")
    assert _stream_length(api) == 0


def test_beacon_needs_a_viewer_token(api: ApiHarness) -> None:
    _add_title(api, "qoe-movie")
    r = api.client.post("/v1/qoe", json=_body())
    _assert_problem(r, 401, "invalid_token")


INVALID_BEACONS: dict[str, tuple[dict[str, Any], str]] = {
    "negative count": ({"rebuffer_count": -1}, "rebuffer_count"),
    "negative duration": ({"played_ms": -0.5}, "played_ms"),
    "startup too long": ({"startup_ms": 600_001}, "startup_ms"),
    "count too large": ({"bitrate_switches": 100_001}, "bitrate_switches"),
    "count as string": ({"rebuffer_count": "3"}, "rebuffer_count"),
    "fractional count": ({"rebuffer_count": 1.5}, "rebuffer_count"),
    "too many errors": ({"errors": [f"e{i}" for i in range(21)]}, "errors"),
    "error code too long": ({"errors": ["x" * 65]}, "errors"),
    "error code with spaces": ({"errors": ["bad code"]}, "errors"),
    "empty error code": ({"errors": [""]}, "errors"),
    "unknown field": ({"cdn": "edge-1"}, "cdn"),
    "short session id": ({"session_id": "s1234"}, "session_id"),
    "uppercase session id": ({"session_id": "S" + "a" * 32}, "session_id"),
    "bad title id": ({"title_id": "../etc"}, "title_id"),
}


@pytest.mark.parametrize("case", sorted(INVALID_BEACONS))
def test_invalid_beacons_are_validation_problems(api: ApiHarness, case: str) -> None:
    _add_title(api, "qoe-movie")
    change, field = INVALID_BEACONS[case]
    r = api.client.post("/v1/qoe", json={**_body(), **change}, headers=api.auth())
    doc = _assert_problem(r, 422, "validation_error")
    assert any(field in err["loc"] for err in doc["errors"]), doc
    assert _stream_length(api) == 0


def test_nan_is_refused(api: ApiHarness) -> None:
    _add_title(api, "qoe-movie")
    # json.dumps would refuse NaN; Python's json.loads on the server accepts it.
    raw = f'{{"session_id": "{new_session_id()}", "title_id": "qoe-movie", "played_ms": NaN}}'
    r = api.client.post(
        "/v1/qoe",
        content=raw,
        headers={**api.auth(), "Content-Type": "application/json"},
    )
    _assert_problem(r, 422, "validation_error")


def test_beacons_are_rate_limited_per_account(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_title(api, "qoe-movie")
    monkeypatch.setattr(qoe_routes, "RATE_LIMIT_PER_MIN", 2)
    for attempt in range(3):
        window = int(time.time()) // 60
        account = f"acct-rl-{attempt}"  # a fresh account each attempt
        headers = api.auth(sub=account)
        body = _body(_live_session(api, account=account, title_id="qoe-movie"))
        codes = [
            api.client.post("/v1/qoe", json=body, headers=headers).status_code for _ in range(3)
        ]
        if int(time.time()) // 60 == window:  # the fixed window did not roll over mid-test
            break
    assert codes == [202, 202, 429]
    limited = api.client.post("/v1/qoe", json=body, headers=headers)
    _assert_problem(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Another account has its own budget.
    other = _body(_live_session(api, account="acct-rl-other", title_id="qoe-movie"))
    assert (
        api.client.post("/v1/qoe", json=other, headers=api.auth(sub="acct-rl-other")).status_code
        == 202
    )


# ---- GET /v1/admin/qoe ---------------------------------------------------------------------


def test_admin_report_aggregates_beacons(api: ApiHarness, drain: Callable[[], int]) -> None:
    _add_title(api, "qoe-movie")
    _add_title(api, "other")
    viewer = api.auth(sub="acct-v")
    sessions = [_live_session(api, account="acct-v", title_id="qoe-movie") for _ in range(3)]
    other = _live_session(api, account="acct-v", title_id="other")
    beacons = [
        _body(sessions[0], startup_ms=100, played_ms=10_000, rebuffer_ms=500, rebuffer_count=1,
              errors=["net:timeout"]),
        _body(sessions[0], startup_ms=200, played_ms=20_000, bitrate_switches=2),
        _body(sessions[1], startup_ms=300, played_ms=30_000, rebuffer_ms=1500, rebuffer_count=2,
              errors=["net:timeout", "drm:license"]),
        _body(sessions[1], startup_ms=400, played_ms=15_000, bitrate_switches=1),
        _body(sessions[2], startup_ms=1000, played_ms=5_000, rebuffer_ms=1000, rebuffer_count=1),
        _body(sessions[2], played_ms=20_000),
        _body(other, title_id="other", startup_ms=50, played_ms=1_000),
    ]  # fmt: skip
    for body in beacons:
        assert api.client.post("/v1/qoe", json=body, headers=viewer).status_code == 202
    assert drain() == 7

    admin = api.auth(admin=True)
    r = api.client.get("/v1/admin/qoe", headers=admin)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["percentile_method"] == "nearest-rank" and report["truncated"] is False
    movie, other = report["titles"]  # busiest first
    assert other["title_id"] == "other" and other["beacons"] == 1
    assert movie == {
        "title_id": "qoe-movie",
        "beacons": 6,
        "sessions": 3,
        # Nearest rank over [100, 200, 300, 400, 1000]: p50 = 3rd, p95 = 5th.
        "startup_ms": {"samples": 5, "p50": 300.0, "p95": 1000.0},
        "rebuffer_ratio": pytest.approx(3000 / 103_000),
        "rebuffer_count": 4,
        "rebuffer_ms": 3000.0,
        "played_ms": 100_000.0,
        "bitrate_switches": 3,
        "errors": {
            "count": 3,
            "beacons": 2,
            "top": [{"code": "net:timeout", "count": 2}, {"code": "drm:license", "count": 1}],
            "sampled_beacons": 2,
            "sample_truncated": False,
        },
    }
    since = datetime.fromisoformat(report["since"])
    assert (
        timedelta(hours=23, minutes=59) < datetime.now(UTC) - since < timedelta(hours=24, minutes=1)
    )

    only = api.client.get("/v1/admin/qoe", params={"title_id": "other"}, headers=admin).json()
    assert [t["title_id"] for t in only["titles"]] == ["other"]
    assert only["titles"][0]["startup_ms"] == {"samples": 1, "p50": 50.0, "p95": 50.0}

    top = api.client.get("/v1/admin/qoe", params={"limit": 1}, headers=admin).json()
    assert top["truncated"] is True and [t["title_id"] for t in top["titles"]] == ["qoe-movie"]

    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = api.client.get("/v1/admin/qoe", params={"since": future}, headers=admin).json()
    assert later["titles"] == []


def test_admin_report_needs_an_admin_token(api: ApiHarness) -> None:
    r = api.client.get("/v1/admin/qoe", headers=api.auth())
    _assert_problem(r, 403, "forbidden")
    _assert_problem(api.client.get("/v1/admin/qoe"), 401, "invalid_token")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2025-01-01T00:00:00"}, None),  # naive: no UTC offset
        ({"since": "yesterday"}, "since"),
        ({"limit": "0"}, "limit"),
        ({"title_id": "../x"}, "title_id"),
    ],
)
def test_admin_report_validates_its_query(
    api: ApiHarness, params: dict[str, str], field: str | None
) -> None:
    r = api.client.get("/v1/admin/qoe", params=params, headers=api.auth(admin=True))
    doc = _assert_problem(r, 422, "validation_error")
    if field is None:
        assert "UTC offset" in doc["detail"]
    else:
        assert any(field in err["loc"] for err in doc["errors"]), doc


def test_openapi_lists_qoe_routes_under_the_qoe_tag(api: ApiHarness) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert paths["/v1/qoe"]["post"]["tags"] == ["qoe"]
    assert "202" in paths["/v1/qoe"]["post"]["responses"]
    assert paths["/v1/admin/qoe"]["get"]["tags"] == ["qoe"]
