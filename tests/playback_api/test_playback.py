"""Playback sessions end to end on the real app: entitlement, leases, manifests, segments,
ClearKey licenses, heartbeats. Real Redis, real SQLite catalog, real packaged titles."""

from __future__ import annotations

import base64
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import ContentKeyRow
from reelflow.playback_api.auth.signing import issue_playback_token, sign_prefix
from reelflow.playback_api.delivery.sessions import new_session_id
from reelflow.playback_api.http.app import create_app
from tests.fixtures.published import MediaSet
from tests.playback_api.conftest import ApiHarness, OpenApi, _harness, raw_get, serve


def b64(kid_hex: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(kid_hex)).rstrip(b"=").decode()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def start(api: ApiHarness, title: str, **auth: Any) -> dict[str, Any]:
    viewer = api.auth(**auth)
    response = api.start_playback(title, viewer)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    body["viewer"] = viewer  # the player's credential, which licenses need beside the links
    return body


def license_for(
    api: ApiHarness,
    session: dict[str, Any],
    kids: list[str],
    viewer: dict[str, str] | None = None,
) -> Any:
    return api.client.post(
        path_of(session["licenses"]["clearkey"]),
        json={"kids": [b64(k) for k in kids], "type": "temporary"},
        headers=viewer or session["viewer"],
    )


def takeover(api: ApiHarness, headers: dict[str, str], device: str, replaces: str) -> Any:
    """A start on a device that names the session it replaces there (a reload)."""
    return api.client.post(
        "/v1/titles/tt-main/playback",
        json={"device_id": device, "drm": ["clearkey"], "takeover_session_id": replaces},
        headers=headers,
    )


@pytest.fixture
def demo(open_api: OpenApi) -> ApiHarness:
    """An operator who lets ClearKey unlock every class (a local demo in HD), so ClearKey
    sessions show what the plan alone allows."""
    return open_api(key_policy_clearkey="AUDIO,SD,HD,UHD")


@pytest.fixture
def short_lease(open_api: OpenApi) -> ApiHarness:
    return open_api(lease_ttl_s=1, license_rate_per_minute=3)


# ---- session start and entitlement -------------------------------------------------------


def test_playback_start_hands_out_signed_urls_for_the_requested_drm(api: ApiHarness) -> None:
    api.publish("tt-main")
    body = start(api, "tt-main", plan="premium")
    assert re.fullmatch(r"s[0-9a-f]{32}", body["session_id"])
    assert set(body["licenses"]) == {"clearkey"}
    assert body["hls_drm"] == "clearkey"
    # ClearKey unlocks SD at most unless the operator says otherwise (issue 25): premium or
    # not, the tallest picture this session may reach is the 640x360 rendition.
    assert body["max_height"] == 360
    # Links live minutes (media_link_ttl_s, 300 s by default); heartbeats renew them.
    assert time.time() + 290 < body["expires_at"] <= time.time() + 301
    assert f"/media/{body['expires_at']}/" in body["media_prefix"]
    assert body["media_prefix"].endswith("/tt-main/v1/")
    assert body["thumbnails"].startswith(body["media_prefix"])
    assert "/media/" in body["thumbnails"] and body["thumbnails"].endswith("thumbnails.vtt")
    vtt = api.client.get(path_of(body["thumbnails"]))
    assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT")
    sprite = vtt.text.splitlines()[3].split("#")[0]
    tile = api.client.get(path_of(body["thumbnails"]).rsplit("/", 1)[0] + "/" + sprite)
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("kwargs", "viewer", "slug", "status"),
    [
        ({"regions": ("FR", "DE")}, {"country": "US"}, "geo_blocked", 403),
        (
            {"window_start": datetime.now(UTC) + timedelta(days=3)},
            {},
            "outside_window",
            403,
        ),
        ({"window_end": datetime.now(UTC) - timedelta(hours=1)}, {}, "outside_window", 403),
        ({"state": "processing"}, {}, "not_published", 404),
        ({"plans": ("premium",)}, {"plan": "basic"}, "plan_insufficient", 403),
    ],
)
def test_each_refusal_is_its_own_problem_type(
    api: ApiHarness, kwargs: dict[str, Any], viewer: dict[str, Any], slug: str, status: int
) -> None:
    api.publish("tt-refused", **kwargs)
    response = api.start_playback("tt-refused", api.auth(**viewer))
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"https://reelflow.dev/problems/{slug}"


def test_geo_bypass_by_country_query_or_header_does_not_work(api: ApiHarness) -> None:
    api.publish("tt-fr", regions=("FR",))
    response = api.client.post(
        "/v1/titles/tt-fr/playback?country=FR",
        json={"device_id": "d1", "drm": ["clearkey"]},
        headers={**api.auth(country="US"), "X-Forwarded-For": "90.0.0.1", "CF-IPCountry": "FR"},
    )
    assert response.json()["type"].endswith("/geo_blocked")


def test_unknown_title_and_hostile_ids_are_404_or_422_never_500(api: ApiHarness) -> None:
    headers = api.auth()
    assert api.start_playback("nope", headers).status_code == 404
    for bad in ("..", "%2e%2e", "a" * 300, "x;drop table titles"):
        response = api.client.post(
            f"/v1/titles/{bad}/playback", json={"device_id": "d"}, headers=headers
        )
        # ".." is resolved by the client into another route: 405 there, still a problem body.
        assert response.status_code in (404, 405, 422), (bad, response.status_code)
        assert response.headers["content-type"] == "application/problem+json"


def test_drm_the_title_does_not_have_is_refused(api: ApiHarness) -> None:
    api.publish("tt-main")
    response = api.client.post(
        "/v1/titles/tt-main/playback",
        json={"device_id": "d1", "drm": ["nagra"]},
        headers=api.auth(),
    )
    assert response.status_code == 422
    clear = api.publish("tt-clear", encrypted=False)
    body = api.start_playback(clear.title_id, api.auth()).json()
    assert body["licenses"] == {} and body["hls_drm"] is None


def test_a_fourth_stream_is_fine_a_fifth_is_refused_on_premium(api: ApiHarness) -> None:
    api.publish("tt-main")
    headers = api.auth(plan="premium", sub="family")
    sessions = []
    for n in range(4):
        response = api.start_playback("tt-main", headers, device_id=f"tv-{n}")
        assert response.status_code == 201
        sessions.append(response.json()["session_id"])
    fifth = api.start_playback("tt-main", headers, device_id="tv-4")
    assert fifth.status_code == 409
    assert fifth.json()["type"].endswith("/too_many_streams")
    assert fifth.json()["max_streams"] == 4
    # The same device starting again (a reload) takes over its own lease only by naming
    # the session it replaces: a device id alone is something any client can claim.
    again = api.start_playback("tt-main", headers, device_id="tv-2")
    assert again.status_code == 409 and again.json()["type"].endswith("/device_in_use")
    reload = takeover(api, headers, "tv-2", sessions[2])
    assert reload.status_code == 201, reload.text


def test_basic_plan_has_one_stream_and_ending_it_frees_the_slot(api: ApiHarness) -> None:
    api.publish("tt-main")
    headers = api.auth(plan="basic", sub="solo")
    first = api.start_playback("tt-main", headers, device_id="phone").json()
    assert api.start_playback("tt-main", headers, device_id="laptop").status_code == 409
    ended = api.client.delete(f"/v1/sessions/{first['session_id']}", headers=headers)
    assert ended.status_code == 204
    assert api.start_playback("tt-main", headers, device_id="laptop").status_code == 201
    # The ended session's licenses stop at once.
    assert license_for(api, first, [api.published["tt-main"].kid("SD")], headers).status_code == 410


def test_playback_starts_are_rate_limited_per_account(open_api: OpenApi) -> None:
    # A shared token handed round a crowd starts far more often than one viewer restarts.
    api = open_api(playback_starts_per_minute=3)
    api.publish("tt-main")
    headers = api.auth(plan="premium", sub="shared")
    started = 0
    for n in range(8):  # 3 per minute window; a window may turn once during the loop
        answer = api.start_playback("tt-main", headers, device_id=f"d{n}")
        if answer.status_code != 201:
            break
        started += 1
        api.client.delete(f"/v1/sessions/{answer.json()['session_id']}", headers=headers)
    refused = answer
    assert 3 <= started <= 6, started
    assert refused.status_code == 429, refused.text
    assert refused.json()["type"].endswith("/rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    other = api.start_playback("tt-main", api.auth(plan="premium", sub="someone-else"))
    assert other.status_code == 201  # per account: nobody else is held back


def test_a_vanished_player_loses_its_lease_by_itself(short_lease: ApiHarness) -> None:
    api = short_lease
    api.publish("tt-main")
    headers = api.auth(plan="basic", sub="vanishing")
    session = api.start_playback("tt-main", headers, device_id="phone").json()
    assert api.start_playback("tt-main", headers, device_id="tablet").status_code == 409
    time.sleep(1.3)
    assert api.start_playback("tt-main", headers, device_id="tablet").status_code == 201
    beat = api.client.put(
        f"/v1/sessions/{session['session_id']}/heartbeat", json={"position": 3}, headers=headers
    )
    assert beat.status_code == 410


def test_heartbeat_renews_the_lease_and_saves_the_resume_position(
    short_lease: ApiHarness,
) -> None:
    api = short_lease
    api.publish("tt-main")
    headers = api.auth(plan="basic", sub="resumer")
    session = api.start_playback("tt-main", headers, device_id="tv").json()
    assert session["resume_position_s"] == 0
    for position in (6.0, 7.8):
        time.sleep(0.6)  # over 1 s in all: without the heartbeats the lease would be gone
        beat = api.client.put(
            f"/v1/sessions/{session['session_id']}/heartbeat",
            json={"position": position, "duration": 8},
            headers=headers,
        )
        assert beat.status_code == 200, beat.text
    assert api.start_playback("tt-main", headers, device_id="other").status_code == 409
    api.client.delete(f"/v1/sessions/{session['session_id']}", headers=headers)
    again = api.start_playback("tt-main", headers, device_id="tv").json()
    assert again["resume_position_s"] == 0  # 7.8 of 8 s is past 95 %: finished
    api.client.put(
        f"/v1/sessions/{again['session_id']}/heartbeat",
        json={"position": 5.5, "duration": 8},
        headers=headers,
    )
    api.client.delete(f"/v1/sessions/{again['session_id']}", headers=headers)
    assert api.start_playback("tt-main", headers).json()["resume_position_s"] == 5.5


def test_sessions_of_another_account_are_invisible(api: ApiHarness) -> None:
    api.publish("tt-main")
    mine = start(api, "tt-main", sub="alice")
    other = api.auth(sub="mallory")
    sid = mine["session_id"]
    beat = api.client.put(f"/v1/sessions/{sid}/heartbeat", json={"position": 1}, headers=other)
    assert beat.status_code == 404
    assert api.client.delete(f"/v1/sessions/{sid}", headers=other).status_code == 404


# ---- manifests ---------------------------------------------------------------------------


def test_dash_manifest_is_filtered_to_the_plan_and_based_on_the_signed_prefix(
    demo: ApiHarness,
) -> None:
    api = demo
    title = api.publish("tt-main")
    premium = api.client.get(path_of(start(api, "tt-main", plan="premium")["manifests"]["dash"]))
    basic_session = start(api, "tt-main", plan="basic")
    basic = api.client.get(path_of(basic_session["manifests"]["dash"]))
    assert premium.status_code == basic.status_code == 200
    assert basic.headers["content-type"].startswith("application/dash+xml")
    assert basic.headers["cache-control"] == "private, no-store"
    assert 'height="720"' in premium.text and 'height="720"' not in basic.text
    hd_kid = title.key("HD").kid_uuid
    assert hd_kid in premium.text and hd_kid not in basic.text
    base = re.search(r"<BaseURL>([^<]+)</BaseURL>", basic.text)
    assert base is not None
    prefix = path_of(base.group(1))
    assert prefix.startswith("/media/") and prefix.endswith("/tt-main/v1/")
    init = re.search(r'initialization="([^"]+)"', basic.text)
    assert init is not None
    segment = api.client.get(prefix + init.group(1).replace("$RepresentationID$", "0"))
    assert segment.status_code == 200 and segment.headers["content-type"] == "video/mp4"


def test_hls_master_drops_tall_variants_and_media_playlists_carry_one_key_system(
    api: ApiHarness,
) -> None:
    title = api.publish("tt-main")
    session = start(api, "tt-main", plan="basic")
    master = api.client.get(path_of(session["manifests"]["hls"]))
    assert master.status_code == 200
    assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert "RESOLUTION=640x360" in master.text and "1280x720" not in master.text
    variant = next(line for line in master.text.splitlines() if line.startswith("hls/video_"))
    base = path_of(session["manifests"]["hls"]).split("master.m3u8")[0]
    media = api.client.get(base + variant)
    assert media.status_code == 200, media.text
    keys = [line for line in media.text.splitlines() if line.startswith("#EXT-X-KEY")]
    assert keys and all('KEYFORMAT="identity"' in k for k in keys)
    assert f"/v1/license/hls-key/{title.kid('SD')}?token=" in keys[0]
    segments = [line for line in media.text.splitlines() if line.endswith(".m4s")]
    assert segments and all("/media/" in s and "/tt-main/v1/" in s for s in segments)
    assert api.client.get(path_of(segments[0])).status_code == 200
    # The identity key URL gives the SD key, and only to this session.
    key_url = path_of(keys[0].split('URI="')[1].split('"')[0])
    assert api.client.get(key_url).status_code == 401  # the link alone: no key
    key = api.client.get(key_url, headers=session["viewer"])
    assert key.status_code == 200 and key.content == title.key("SD").key
    hd = api.client.get(
        path_of(session["manifests"]["hls"]).replace("master.m3u8", "hls/video_720p_700k.m3u8")
    )
    assert hd.status_code == 403


@pytest.fixture
def with_fairplay(open_api: OpenApi) -> ApiHarness:
    # Never contacted here: the URL only makes FairPlay an offered system.
    return open_api(
        license_fairplay_url="http://127.0.0.1:9/fairplay", license_upstream_secret="u" * 32
    )


def test_drm_without_a_configured_license_service_is_not_offered(api: ApiHarness) -> None:
    api.publish("tt-main")
    only_widevine = api.start_playback("tt-main", api.auth(), drm=("widevine",))
    assert only_widevine.status_code == 406
    assert only_widevine.json()["supported"] == ["clearkey"]
    both = api.start_playback("tt-main", api.auth(), drm=("widevine", "clearkey")).json()
    assert set(both["licenses"]) == {"clearkey"}


def test_fairplay_sessions_get_skd_key_uris(with_fairplay: ApiHarness) -> None:
    api = with_fairplay
    title = api.publish("tt-main")
    response = api.start_playback("tt-main", api.auth(), drm=("fairplay", "clearkey"))
    session = response.json()
    assert session["hls_drm"] == "fairplay"
    assert session["fairplay_certificate"].endswith("/v1/license/fairplay/certificate")
    master = api.client.get(path_of(session["manifests"]["hls"])).text
    variant = next(line for line in master.splitlines() if line.startswith("hls/video_360p"))
    base = path_of(session["manifests"]["hls"]).split("master.m3u8")[0]
    media = api.client.get(base + variant).text
    keys = [line for line in media.splitlines() if line.startswith("#EXT-X-KEY")]
    assert keys == [k for k in keys if "com.apple.streamingkeydelivery" in k]
    assert f'URI="skd://{title.kid("SD")}"' in keys[0]


def test_manifest_tokens_are_bound_to_their_session_and_expire(api: ApiHarness) -> None:
    api.publish("tt-main")
    api.publish("tt-other")
    mine = start(api, "tt-main")
    other = start(api, "tt-other")
    url = path_of(mine["manifests"]["dash"])
    swapped = url.split("?")[0] + "?token=" + other["token"]
    response = api.client.get(swapped)
    assert response.status_code == 403 and response.json()["type"].endswith("/forbidden")
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    assert api.client.get(tampered).json()["type"].endswith("/invalid_token")
    secret = api.settings.secrets().signing_secret
    stale = issue_playback_token(secret, mine["session_id"], "tt-main", "v1", int(time.time()) - 5)
    expired = api.client.get(url.split("?")[0] + "?token=" + stale)
    assert expired.status_code == 401 and expired.json()["type"].endswith("/token_expired")
    assert api.client.get(url.split("?")[0]).status_code == 422


def test_takedown_stops_manifests_within_the_cache_ttl(api: ApiHarness) -> None:
    api.publish("tt-main")
    session = start(api, "tt-main")
    from reelflow.catalog import titles as q

    # What the title workflow's takedown records (workflows/title.py).
    q.append_event(
        api.engine, title_id="tt-main", event="taken_down", actor="test", state="taken_down"
    )
    api.client.app.state.ctx.titles.invalidate()  # type: ignore[attr-defined]
    response = api.client.get(path_of(session["manifests"]["dash"]))
    assert response.status_code == 404 and response.json()["type"].endswith("/not_published")


# ---- ClearKey licenses -------------------------------------------------------------------


def test_clearkey_license_answers_only_entitled_kids(demo: ApiHarness) -> None:
    api = demo
    title = api.publish("tt-main")
    basic = start(api, "tt-main", plan="basic")
    wanted = [title.kid("SD"), title.kid("HD"), title.kid("AUDIO")]
    answer = license_for(api, basic, wanted)
    assert answer.status_code == 200, answer.text
    given = {k["kid"]: k["k"] for k in answer.json()["keys"]}
    assert set(given) == {b64(title.kid("SD")), b64(title.kid("AUDIO"))}
    sd = title.key("SD")
    assert base64.urlsafe_b64decode(given[b64(sd.kid_hex)] + "==") == sd.key
    # Asking for the HD key alone, by KID, gets nothing.
    only_hd = license_for(api, basic, [title.kid("HD")])
    assert only_hd.status_code == 403 and only_hd.json()["type"].endswith("/key_withheld")
    premium = start(api, "tt-main", plan="premium")
    assert len(license_for(api, premium, wanted).json()["keys"]) == 3


def test_license_for_foreign_or_revoked_kids_is_withheld(api: ApiHarness) -> None:
    mine = api.publish("tt-main")
    foreign = api.publish("tt-other")
    session = start(api, "tt-main", plan="premium")
    refused = license_for(api, session, [foreign.kid("SD"), foreign.kid("HD")])
    assert refused.status_code == 403
    with session_scope(api.engine) as s:
        row = s.get(ContentKeyRow, mine.kid("SD"))
        assert row is not None
        row.revoked = True
        s.add(row)
    api.client.app.state.ctx.titles.invalidate()  # type: ignore[attr-defined]
    answer = license_for(api, session, [mine.kid("SD"), mine.kid("AUDIO")])
    assert [k["kid"] for k in answer.json()["keys"]] == [b64(mine.kid("AUDIO"))]


def test_license_requests_that_are_malformed_are_422(api: ApiHarness) -> None:
    api.publish("tt-main")
    session = start(api, "tt-main")
    url = path_of(session["licenses"]["clearkey"])
    for body in (b"", b"[]", b'{"kids": []}', b'{"kids": ["short"]}', b'{"kids": "x"}', b"\xff"):
        response = api.client.post(url, content=body, headers=session["viewer"])
        assert response.status_code == 422, body
    many = {"kids": [b64("00" * 16)] * 33}
    assert api.client.post(url, json=many, headers=session["viewer"]).status_code == 422
    persistent = {"kids": [b64("00" * 16)], "type": "persistent-license"}
    assert api.client.post(url, json=persistent, headers=session["viewer"]).status_code == 422


def test_license_without_or_with_a_tampered_token_is_401(api: ApiHarness) -> None:
    title = api.publish("tt-main")
    session = start(api, "tt-main")
    body = {"kids": [b64(title.kid("SD"))]}
    viewer = session["viewer"]
    assert api.client.post("/v1/license/clearkey", json=body, headers=viewer).status_code == 401
    bad = path_of(session["licenses"]["clearkey"]).replace("token=ey", "token=ez")
    assert api.client.post(bad, json=body, headers=viewer).status_code == 401


def test_license_is_rate_limited_per_session(short_lease: ApiHarness) -> None:
    api = short_lease
    title = api.publish("tt-main")
    session = start(api, "tt-main")
    codes = [license_for(api, session, [title.kid("SD")]).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    limited = license_for(api, session, [title.kid("SD")])
    assert int(limited.headers["retry-after"]) >= 1


@pytest.fixture
def player_origin(open_api: OpenApi) -> ApiHarness:
    """The API with one player origin allowed by REELFLOW_CORS_ORIGINS (none by default)."""
    return open_api(cors_origins="https://player.example")


def _preflight(api: ApiHarness, origin: str) -> Any:
    return api.client.options(
        "/v1/license/clearkey?token=x",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )


def test_clearkey_license_answers_browser_preflight(player_origin: ApiHarness) -> None:
    response = _preflight(player_origin, "https://player.example")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://player.example"
    assert "POST" in response.headers["access-control-allow-methods"]
    other = _preflight(player_origin, "https://elsewhere.example")
    assert "access-control-allow-origin" not in other.headers


def test_no_origin_is_allowed_by_default(api: ApiHarness) -> None:
    # The pages the API serves are same-origin: no other site's page may call it.
    response = _preflight(api, "https://player.example")
    assert "access-control-allow-origin" not in response.headers


# ---- embedded origin ---------------------------------------------------------------------


def _prefix(api: ApiHarness, title: str, exp: int | None = None, version: str = "v1") -> str:
    """A link of a live session of ``title`` (the origin serves no other), expiring at exp."""
    holder = start(api, title, sub=f"origin-{new_session_id()}")["session_id"]
    ctx = api.client.app.state.ctx  # type: ignore[attr-defined]
    return sign_prefix(
        ctx.link_secret, title, version, exp or int(time.time()) + 600, holder=holder
    )


def test_origin_serves_ranges_and_types_and_refuses_bad_links(api: ApiHarness) -> None:
    api.publish("tt-main")
    api.publish("tt-other")
    prefix = _prefix(api, "tt-main")
    full = api.client.get(prefix + "video_360p_300k/1.m4s")
    assert full.status_code == 200
    assert full.headers["content-type"] == "video/iso.segment"
    assert full.headers["accept-ranges"] == "bytes"
    assert "immutable" in full.headers["cache-control"]
    part = api.client.get(prefix + "video_360p_300k/1.m4s", headers={"Range": "bytes=10-109"})
    assert part.status_code == 206 and part.content == full.content[10:110]
    size = len(full.content)
    assert part.headers["content-range"] == f"bytes 10-109/{size}"
    tail = api.client.get(prefix + "video_360p_300k/1.m4s", headers={"Range": "bytes=-16"})
    assert tail.content == full.content[-16:]
    beyond = api.client.get(prefix + "video_360p_300k/1.m4s", headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    etag = full.headers["etag"]
    same = api.client.get(prefix + "video_360p_300k/1.m4s", headers={"If-None-Match": etag})
    assert same.status_code == 304
    head = api.client.head(prefix + "video_360p_300k.m3u8")
    assert head.status_code == 200
    assert head.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert api.client.get(prefix + "nope.m4s").status_code == 404
    # A link for one title opens nothing of another; tampering and expiry are refused.
    cross = prefix.replace("/tt-main/", "/tt-other/")
    assert api.client.get(cross + "video_360p_300k/init.mp4").status_code == 403
    sig = prefix.split("/")[3]
    tampered = prefix.replace(sig, ("A" if sig[0] != "A" else "B") + sig[1:])
    assert api.client.get(tampered + "video_360p_300k/init.mp4").status_code == 403
    expired = _prefix(api, "tt-main", exp=int(time.time()) - 1)
    gone = api.client.get(expired + "video_360p_300k/init.mp4")
    assert gone.status_code == 410 and gone.json()["type"].endswith("/link_expired")


TRAVERSALS = [
    "../tt-other/v1/manifest.mpd",
    "..%2F..%2Ftt-other%2Fv1%2Fmanifest.mpd",
    "%2e%2e/%2e%2e/tt-other/v1/manifest.mpd",
    "video_360p_300k/..%5c..%5cmanifest.mpd",
    "./manifest.mpd",
    "video_360p_300k//1.m4s",
    "manifest.mpd%00.jpg",
    "video_360p_300k/../../../../../etc/passwd",
]


def test_origin_refuses_traversal_sent_raw(api: ApiHarness) -> None:
    api.publish("tt-main")
    api.publish("tt-other")
    prefix = _prefix(api, "tt-main")
    # A real server and raw request lines: HTTP clients would normalise ".." themselves.
    with serve(create_app(api.settings)) as port:
        assert raw_get(port, prefix + "video_360p_300k/init.mp4")[0] == 200
        for suffix in TRAVERSALS:
            status, body = raw_get(port, prefix + suffix)
            assert status in (403, 404), (suffix, status)
            assert b"problems/" in body and b"MPD" not in body


def test_oversized_bodies_are_refused_with_413(api: ApiHarness) -> None:
    api.publish("tt-main")
    big = b'{"device_id": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = api.client.post(
        "/v1/titles/tt-main/playback",
        content=big,
        headers={**api.auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["type"].endswith("/payload_too_large")


def test_a_session_replaced_on_its_device_gets_no_more_licenses(api: ApiHarness) -> None:
    title = api.publish("tt-main")
    headers = api.auth(plan="premium", sub="reloader")
    first = api.start_playback("tt-main", headers, device_id="tv").json()
    assert license_for(api, first, [title.kid("SD")], headers).status_code == 200
    second = takeover(api, headers, "tv", first["session_id"]).json()
    assert license_for(api, first, [title.kid("SD")], headers).status_code == 410
    assert license_for(api, second, [title.kid("SD")], headers).status_code == 200


def test_a_device_bound_by_the_identity_provider_counts_once(api: ApiHarness) -> None:
    from reelflow.playback_api.auth.auth import mint_dev_token
    from reelflow.playback_api.auth.auth_config import dev_token_secret

    api.publish("tt-main")
    token = mint_dev_token(
        dev_token_secret(api.settings.secrets().signing_secret),
        sub="bound",
        plan="basic",
        country="US",
        issuer=api.settings.auth_issuer,
        audience=api.settings.auth_audience,
        device="stb-42",
    )
    headers = {"Authorization": f"Bearer {token}"}
    # The body's device ids differ, but both starts are the same bound device: a takeover.
    assert api.start_playback("tt-main", headers, device_id="a").status_code == 201
    assert api.start_playback("tt-main", headers, device_id="b").status_code == 201


def test_heartbeats_fit_three_times_into_a_lease(short_lease: ApiHarness) -> None:
    short_lease.publish("tt-main")
    body = start(short_lease, "tt-main")
    assert body["lease_ttl_s"] == 1 and body["heartbeat_interval_s"] == 1


def test_redis_down_is_a_503_problem_not_a_500(
    tmp_path: Path, media_set: MediaSet, packager_path: str
) -> None:
    from tests.services import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    catalog = f"sqlite:///{tmp_path / 'catalog.db'}"
    for api in _harness(tmp_path, dead, catalog, media_set, packager_path, flush_redis=False):
        api.publish("tt-main")
        response = api.start_playback("tt-main", api.auth())
        assert response.status_code == 503
        assert response.json()["type"].endswith("/service_unavailable")


def test_ending_with_a_final_position_saves_it_and_frees_the_stream(api: ApiHarness) -> None:
    api.publish("tt-main")
    headers = api.auth(plan="basic", sub="closer")
    session = api.start_playback("tt-main", headers, device_id="tab").json()
    sid = session["session_id"]
    bad = api.client.delete(f"/v1/sessions/{sid}?position=-3", headers=headers)
    assert bad.status_code == 422
    ended = api.client.delete(f"/v1/sessions/{sid}?position=6.5&duration=8", headers=headers)
    assert ended.status_code == 204
    again = api.start_playback("tt-main", headers, device_id="other-tab")
    assert again.status_code == 201 and again.json()["resume_position_s"] == 6.5


def test_session_progress_and_license_on_sqlite_and_postgresql(api_any_db: ApiHarness) -> None:
    api = api_any_db
    title = api.publish("tt-main")
    headers = api.auth(plan="standard", sub="both-dbs")
    session = api.start_playback("tt-main", headers, device_id="tv").json()
    assert license_for(api, session, [title.kid("SD")], headers).status_code == 200
    beat = api.client.put(
        f"/v1/sessions/{session['session_id']}/heartbeat",
        json={"position": 5.25, "duration": 8},
        headers=headers,
    )
    assert beat.status_code == 200
    api.client.delete(f"/v1/sessions/{session['session_id']}", headers=headers)
    # Redis forgets the cached position: the catalog (SQLite or PostgreSQL) still has it.
    redis.Redis.from_url(api.settings.redis_url).flushdb()
    again = api.start_playback("tt-main", headers, device_id="tv").json()
    assert again["resume_position_s"] == 5.25
    watching = api.client.get("/v1/me/continue-watching", headers=headers).json()
    assert [t["id"] for t in watching["items"]] == ["tt-main"]


def test_takedown_ends_sessions_at_their_next_heartbeat(api: ApiHarness) -> None:
    """A taken-down title renews no media links: the heartbeat ends the session instead."""
    api.publish("tt-main")
    headers = api.auth()
    started = api.start_playback("tt-main", headers)
    assert started.status_code == 201, started.text
    session = started.json()
    from reelflow.catalog import titles as q

    q.append_event(
        api.engine, title_id="tt-main", event="taken_down", actor="test", state="taken_down"
    )
    api.client.app.state.ctx.titles.invalidate()  # type: ignore[attr-defined]
    beat = api.client.put(
        f"/v1/sessions/{session['session_id']}/heartbeat", json={"position": 42.0}, headers=headers
    )
    assert beat.status_code == 404 and beat.json()["type"].endswith("/not_published")
    assert "token" not in beat.json()
    again = api.client.put(
        f"/v1/sessions/{session['session_id']}/heartbeat", json={"position": 43.0}, headers=headers
    )
    assert again.status_code == 410  # the session ended with the refusal
    assert (
        license_for(api, session, [api.published["tt-main"].kid("SD")], headers).status_code == 410
    )
