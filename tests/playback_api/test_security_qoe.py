"""Attacks on POST /v1/qoe: spoofed sessions and probing for title or session ids.

Real app, real Redis. Every refusal must be the same answer (status and body), and none
may reach the viewer event log.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from reelflow.events.log import STREAM
from reelflow.playback_api.delivery.sessions import new_session_id
from reelflow.playback_api.routes import qoe as qoe_routes
from tests.playback_api.conftest import ApiHarness, OpenApi
from tests.playback_api.test_qoe import _add_title, _body, _live_session


def _answer(api: ApiHarness, body: dict[str, Any], account: str) -> tuple[int, Any]:
    r = api.client.post("/v1/qoe", json=body, headers=api.auth(sub=account))
    return r.status_code, r.json()


def _logged(api: ApiHarness) -> int:
    """Entries in the event log's stream (the app appends there; nothing writes them out)."""
    return int(redis.Redis.from_url(api.settings.redis_url).xlen(STREAM))


def test_spoofed_sessions_and_made_up_titles_get_one_identical_refusal(api: ApiHarness) -> None:
    _add_title(api, "qoe-movie")
    _add_title(api, "qoe-other")
    victim = _live_session(api, account="acct-victim", title_id="qoe-movie")
    mine = _live_session(api, account="acct-me", title_id="qoe-movie")
    # The victim's session ends after a beacon: its grace mark names the victim, not me.
    assert _answer(api, _body(victim), "acct-victim")[0] == 202
    ended = _live_session(api, account="acct-victim", title_id="qoe-movie")
    assert _answer(api, _body(ended), "acct-victim")[0] == 202
    headers = api.auth(sub="acct-victim")
    assert api.client.delete(f"/v1/sessions/{ended}", headers=headers).status_code == 204
    logged = _logged(api)
    assert logged == 2

    attacks = {
        "random session, real title": _body(new_session_id(), title_id="qoe-movie"),
        "random session, made-up title": _body(new_session_id(), title_id="no-such-title"),
        "another account's live session": _body(victim),
        "another account's live session, its real title": _body(victim, title_id="qoe-movie"),
        "another account's ended session": _body(ended),
        "my session, made-up title": _body(mine, title_id="no-such-title"),
        "my session, another real title": _body(mine, title_id="qoe-other"),
    }
    answers = {case: _answer(api, body, "acct-me") for case, body in attacks.items()}
    first = next(iter(answers.values()))
    assert first[0] == 404 and first[1]["type"].endswith("/not_found")
    for case, answer in answers.items():
        assert answer == first, case
    assert _logged(api) == logged  # nothing from the attacker reached the log
    assert _answer(api, _body(mine), "acct-me")[0] == 202  # the real thing still works


def test_an_ended_session_past_the_grace_is_refused_like_any_other(
    open_api: OpenApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = open_api(lease_ttl_s=1)
    monkeypatch.setattr(qoe_routes, "BEACON_GRACE_S", 0)
    _add_title(api, "qoe-movie")
    session = _live_session(api, account="acct-a", title_id="qoe-movie")
    assert _answer(api, _body(session), "acct-a")[0] == 202
    time.sleep(1.3)  # the lease, the session and the grace mark have all lapsed
    late = _answer(api, _body(session), "acct-a")
    random_id = _answer(api, _body(new_session_id()), "acct-a")
    assert late == random_id and late[0] == 404
