"""Security: the key policy per DRM system, and the picture filter nobody may step around.

Issues 13 and 25. Everything runs against the real app (real Redis, a real SQLite catalog)
with titles packaged by the real Shaka Packager: 640x360 and 768x576 (SD key), a 2.39:1
1280x536 (HD key by its pixels, though only 536 lines tall), 1280x720 (HD key) and
2560x1440 (UHD key). Production mode uses RS256 viewer tokens from a test identity provider, as a
deployment does; the Widevine/PlayReady license services are the stand-in of
tests/fixtures/fake_license_upstream.py (a commercial service cannot run here), which checks
every entitlement as the documented contract says.

Each ``test_attack_*`` is one way to get more than a viewer's DRM or plan allows, and shows
it refused; ``test_control_*`` shows the same path still works where it should.
"""

from __future__ import annotations

import base64
import re
import secrets
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from reelflow.activities.deps import Deps
from reelflow.activities.publish_activities import PublishActivities
from reelflow.catalog import titles as q
from reelflow.catalog.models import ContentKeyRow, Package
from reelflow.config import ConfigError, Settings, get_settings
from reelflow.keystore.content_keys import KeyPlace, open_key
from reelflow.lifecycle import contracts as c
from reelflow.packaging.packager import HLS_MASTER_NAME, MPD_NAME
from reelflow.packaging.streams import VideoRendition
from reelflow.playback_api.auth.signing import issue_playback_token
from reelflow.playback_api.delivery.key_policy import key_policy_from_settings
from reelflow.playback_api.routes.media import PACKAGE_MANIFEST_RE
from tests.fixtures.fake_license_upstream import FakeLicenseUpstream
from tests.fixtures.published import GOP, SECONDS
from tests.playback_api.conftest import ApiHarness, OpenApi

ISS = "https://id.example.test/"
UPSTREAM_SECRET = b"key-policy-upstream-secret-0123456789abcdef"
PROBLEMS = "https://reelflow.dev/problems/"
ATTACKS: list[str] = []  # names of the attack tests, counted in the report


# ---- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ladder(tmp_path_factory: pytest.TempPathFactory) -> tuple[VideoRendition, ...]:
    """768x576 (the largest SD picture), a 2.39:1 1280x536 (HD: 686,080 pixels) and
    2560x1440 (UHD)."""
    out = tmp_path_factory.mktemp("key-policy-media")
    ffmpeg = get_settings().binary("ffmpeg")
    renditions = []
    for w, h, rate in ((768, 576, 500_000), (1280, 536, 600_000), (2560, 1440, 900_000)):
        path = out / f"v{h}.mp4"
        subprocess.run(
            [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
             f"testsrc2=size={w}x{h}:rate=24:duration={SECONDS}", "-c:v", "libx264",
             "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-b:v", str(rate), *GOP, "-an",
             str(path)],
            check=True,
        )  # fmt: skip
        renditions.append(VideoRendition(path, w, h, rate))
    return tuple(renditions)


@pytest.fixture(scope="module")
def idp_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def upstream() -> Iterator[FakeLicenseUpstream]:
    with FakeLicenseUpstream(UPSTREAM_SECRET) as server:
        yield server


def production(
    open_api: OpenApi,
    tmp_path: Path,
    idp_key: rsa.RSAPrivateKey,
    upstream: FakeLicenseUpstream,
    **settings: Any,
) -> ApiHarness:
    pem = idp_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "idp.pem").write_bytes(pem)
    return open_api(
        env="production",
        signing_secret=secrets.token_urlsafe(32),
        master_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        auth_issuer=ISS,
        auth_public_key_path=tmp_path / "idp.pem",
        **upstream.settings(),
        **settings,
    )


@pytest.fixture
def prod(
    open_api: OpenApi, tmp_path: Path, idp_key: rsa.RSAPrivateKey, upstream: FakeLicenseUpstream
) -> ApiHarness:
    """The app in production mode with its default key policy."""
    return production(open_api, tmp_path, idp_key, upstream)


def viewer(api: ApiHarness, idp_key: rsa.RSAPrivateKey, plan: str) -> dict[str, str]:
    """Bearer headers with an RS256 token from the test identity provider (production mode
    accepts no dev token)."""
    now = int(time.time())
    claims = {"sub": f"acct-{uuid.uuid4().hex[:8]}", "plan": plan, "country": "US",
              "iss": ISS, "aud": api.settings.auth_audience, "iat": now, "nbf": now,
              "exp": now + 600}  # fmt: skip
    return {"Authorization": f"Bearer {jwt.encode(claims, idp_key, algorithm='RS256')}"}


def publish(api: ApiHarness, ladder: tuple[VideoRendition, ...], title: str, **kw: Any) -> Any:
    return api.publish(title, extra_videos=ladder, **kw)


def start(
    api: ApiHarness,
    title: str,
    headers: dict[str, str],
    drm: tuple[str, ...] = ("clearkey",),
) -> dict[str, Any]:
    response = api.start_playback(title, headers, drm=drm)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    body["viewer"] = headers  # licenses need the viewer's credential beside the session's links
    return body


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def b64(kid_hex: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(kid_hex)).rstrip(b"=").decode()


def clearkey(api: ApiHarness, session: dict[str, Any], *kids: str) -> Any:
    url = path_of(session["licenses"]["clearkey"])
    body = {"kids": [b64(k) for k in kids], "type": "temporary"}
    return api.client.post(url, json=body, headers=session["viewer"])


def granted(response: Any) -> set[str]:
    assert response.status_code == 200, response.text
    return {base64.urlsafe_b64decode(k["kid"] + "==").hex() for k in response.json()["keys"]}


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEMS + slug, body
    return body


def mpd_heights(text: str) -> set[int]:
    """Heights of the MPD's video Representations (Shaka puts a lone one's on its set)."""
    ns = "{urn:mpeg:dash:schema:mpd:2011}"
    heights = set()
    for adaptation in ET.fromstring(text).iter(f"{ns}AdaptationSet"):
        if adaptation.get("contentType") == "video":
            for rep in adaptation.iter(f"{ns}Representation"):
                heights.add(int(rep.get("height") or adaptation.get("height") or 0))
    return heights


def hls_heights(text: str) -> set[int]:
    return {int(h) for h in re.findall(r"RESOLUTION=\d+x(\d+)", text)}


def attack(func: Any) -> Any:
    ATTACKS.append(func.__name__)
    return func


# ---- ClearKey in production: SD at most --------------------------------------------------------


@attack
def test_attack_premium_clearkey_asks_for_hd_and_uhd_keys_in_production(
    prod: ApiHarness, ladder: tuple[VideoRendition, ...], idp_key: rsa.RSAPrivateKey
) -> None:
    title = publish(prod, ladder, "tt-film")
    session = start(prod, "tt-film", viewer(prod, idp_key, "premium"))
    # The premium plan streams 4K, but ClearKey unlocks SD at most: the session says so.
    assert session["max_height"] == 576
    everything = [title.kid(c) for c in ("audio", "sd", "hd", "uhd")]
    assert granted(clearkey(prod, session, *everything)) == {title.kid("audio"), title.kid("sd")}
    problem(clearkey(prod, session, title.kid("hd"), title.kid("uhd")), 403, "key_withheld")
    # The HLS identity-key endpoint is a second way to a ClearKey key: same answer.
    for cls in ("hd", "uhd"):
        url = f"/v1/license/hls-key/{title.kid(cls)}?token={session['token']}"
        answer = prod.client.get(url, headers=session["viewer"])
        problem(answer, 403, "key_withheld")
        assert title.key(cls).key not in answer.content


@attack
def test_attack_clearkey_in_a_session_whose_other_drm_unlocks_hd(
    prod: ApiHarness, ladder: tuple[VideoRendition, ...], idp_key: rsa.RSAPrivateKey
) -> None:
    title = publish(prod, ladder, "tt-film")
    # Widevine may unlock HD and UHD, so this session's key classes include them...
    session = start(prod, "tt-film", viewer(prod, idp_key, "premium"), ("widevine", "clearkey"))
    assert session["max_height"] == 1440 and set(session["licenses"]) == {"widevine", "clearkey"}
    # ...but the ClearKey endpoint answers for ClearKey, not for the session.
    everything = [title.kid(c) for c in ("audio", "sd", "hd", "uhd")]
    assert granted(clearkey(prod, session, *everything)) == {title.kid("audio"), title.kid("sd")}
    key = prod.client.get(
        f"/v1/license/hls-key/{title.kid('hd')}?token={session['token']}",
        headers=session["viewer"],
    )
    problem(key, 403, "key_withheld")
    # The HLS master for the ClearKey key lines lists only what ClearKey may unlock; the one
    # for Widevine lists every height (its upstream enforces HDCP and a secure decoder).
    hls = path_of(session["manifests"]["hls"])
    as_clearkey = prod.client.get(hls.replace("drm=widevine", "drm=clearkey"))
    assert as_clearkey.status_code == 200, as_clearkey.text
    assert hls_heights(as_clearkey.text) == {360, 576}
    as_widevine = prod.client.get(hls.replace("drm=clearkey", "drm=widevine"))
    assert hls_heights(as_widevine.text) == {360, 536, 576, 720, 1440}
    # Naming the 720p media playlist directly with the ClearKey key system is refused.
    media = hls.replace("master.m3u8", "hls/video_720p_700k.m3u8").replace(
        "drm=widevine", "drm=clearkey"
    )
    problem(prod.client.get(media), 403, "forbidden")


@attack
def test_attack_manifests_of_a_clearkey_production_session_list_no_hd(
    prod: ApiHarness, ladder: tuple[VideoRendition, ...], idp_key: rsa.RSAPrivateKey
) -> None:
    title = publish(prod, ladder, "tt-film")
    session = start(prod, "tt-film", viewer(prod, idp_key, "premium"))
    mpd = prod.client.get(path_of(session["manifests"]["dash"]))
    assert mpd.status_code == 200
    assert mpd_heights(mpd.text) == {360, 576}
    # The HD and UHD AdaptationSets went, with their ContentProtection naming those keys.
    for cls in ("hd", "uhd"):
        assert str(uuid.UUID(title.kid(cls))) not in mpd.text.lower()
    master = prod.client.get(path_of(session["manifests"]["hls"]))
    assert hls_heights(master.text) == {360, 576}
    for name in ("video_720p_700k.m3u8", "video_1440p_900k.m3u8", "video_720p_700k_iframe.m3u8",
                 "video_536p_600k.m3u8"):  # fmt: skip
        url = path_of(session["manifests"]["hls"]).replace("master.m3u8", f"hls/{name}")
        problem(prod.client.get(url), 403, "forbidden")


@attack
def test_attack_license_proxy_entitlement_carries_only_what_the_system_may_unlock(
    open_api: OpenApi,
    tmp_path: Path,
    idp_key: rsa.RSAPrivateKey,
    upstream: FakeLicenseUpstream,
    ladder: tuple[VideoRendition, ...],
) -> None:
    # A deployment whose Widevine service issues software (L3) licenses only: SD at most.
    api = production(open_api, tmp_path, idp_key, upstream, key_policy_widevine="AUDIO,SD")
    title = publish(api, ladder, "tt-film")
    session = start(api, "tt-film", viewer(api, idp_key, "premium"), ("widevine", "playready"))
    classes = {"audio": title.kid("audio"), "sd": title.kid("sd"), "hd": title.kid("hd"),
               "uhd": title.kid("uhd")}  # fmt: skip
    seen = {}
    for drm in ("widevine", "playready"):
        answer = api.client.post(
            path_of(session["licenses"][drm]),
            content=b"challenge-" + drm.encode(),
            headers={"Content-Type": "application/octet-stream", **session["viewer"]},
        )
        assert answer.status_code == 200, answer.text
        [received] = list(upstream.requests_for(drm))
        assert received.entitlement is not None, received.rejection
        seen[drm] = received.entitlement
    widevine = seen["widevine"]
    # The session may have HD and UHD (PlayReady unlocks them), Widevine's entitlement not.
    assert widevine.kids == {classes["audio"], classes["sd"]}
    assert set(widevine.claims["policy"]["track_classes"]) == {"audio", "sd"}
    hd_uhd = {title.key(c).key for c in ("hd", "uhd")}
    assert not hd_uhd & {k.key for k in widevine.keys}
    # Control: PlayReady, allowed every class, gets every key with its output protection.
    playready = seen["playready"]
    assert playready.kids == set(classes.values())
    policy = playready.claims["policy"]["track_classes"]
    assert policy["uhd"] == {
        "hdcp": "HDCP_V2_2", "security_level": "HW_SECURE_ALL", "robustness": "SL3000"
    }  # fmt: skip
    assert policy["hd"] == {
        "hdcp": "HDCP_V1", "security_level": "HW_SECURE_CRYPTO", "robustness": "SL3000"
    }  # fmt: skip
    assert policy["sd"]["security_level"] == "SW_SECURE_CRYPTO"
    assert policy["sd"]["robustness"] == "SL2000"


@attack
def test_attack_clearkey_that_may_unlock_no_video_gets_no_session(
    open_api: OpenApi,
    tmp_path: Path,
    idp_key: rsa.RSAPrivateKey,
    upstream: FakeLicenseUpstream,
    ladder: tuple[VideoRendition, ...],
) -> None:
    api = production(open_api, tmp_path, idp_key, upstream, key_policy_clearkey="AUDIO")
    publish(api, ladder, "tt-film")
    refused = api.start_playback("tt-film", viewer(api, idp_key, "premium"), drm=("clearkey",))
    body = problem(refused, 403, "drm_policy")
    assert "clearkey up to no video" in body["detail"]
    assert set(body["playable"]) == {"fairplay", "playready", "widevine"}
    # A session that also asks for Widevine starts, without ClearKey.
    mixed = start(api, "tt-film", viewer(api, idp_key, "premium"), ("clearkey", "widevine"))
    assert set(mixed["licenses"]) == {"widevine"}


@attack
def test_attack_embedded_clearkey_gets_no_hd_by_default(
    api: ApiHarness, ladder: tuple[VideoRendition, ...]
) -> None:
    # Issue 25: ClearKey is software DRM in every mode; no default lets it unlock HD.
    title = publish(api, ladder, "tt-film")
    session = start(api, "tt-film", api.auth(plan="premium"))
    assert session["max_height"] == 576
    everything = [title.kid(c) for c in ("audio", "sd", "hd", "uhd")]
    assert granted(clearkey(api, session, *everything)) == {title.kid("audio"), title.kid("sd")}
    mpd = api.client.get(path_of(session["manifests"]["dash"]))
    assert mpd_heights(mpd.text) == {360, 576}


def test_control_operator_may_let_clearkey_unlock_hd(
    open_api: OpenApi, ladder: tuple[VideoRendition, ...]
) -> None:
    # A local demo in 720p: the operator's explicit setting, warned about at start-up.
    demo = open_api(key_policy_clearkey="AUDIO,SD,HD,UHD")
    title = publish(demo, ladder, "tt-film")
    everything = [title.kid(c) for c in ("audio", "sd", "hd", "uhd")]
    session = start(demo, "tt-film", demo.auth(plan="premium"))
    assert session["max_height"] == 1440
    assert granted(clearkey(demo, session, *everything)) == set(everything)
    mpd = demo.client.get(path_of(session["manifests"]["dash"]))
    assert mpd_heights(mpd.text) == {360, 536, 576, 720, 1440}


def test_control_clearkey_hd_by_setting_is_warned_about(
    open_api: OpenApi, caplog: pytest.LogCaptureFixture
) -> None:
    api = open_api(key_policy_clearkey="AUDIO,SD,HD,UHD")
    # The lifespan already ran for the fixture; build the policy log again under capture.
    from reelflow.playback_api.delivery.key_policy import log_key_policy

    with caplog.at_level("INFO", logger="reelflow.api.key_policy"):
        log_key_policy(key_policy_from_settings(api.settings))
    warning = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warning and "ClearKey unlocks HD,UHD" in warning[0].getMessage()
    assert "REELFLOW_KEY_POLICY_CLEARKEY" in warning[0].getMessage()


# ---- the picture filter: no way around it ------------------------------------------------------


@attack
def test_attack_clear_title_package_manifests_under_the_signed_prefix(
    api: ApiHarness, ladder: tuple[VideoRendition, ...]
) -> None:
    publish(api, ladder, "tt-clear", encrypted=False)
    session = start(api, "tt-clear", api.auth(plan="basic"), ())
    mpd = api.client.get(path_of(session["manifests"]["dash"])).text
    prefix = re.search(r"<BaseURL>http://[^/]+(/media/[^<]+)</BaseURL>", mpd)
    assert prefix is not None
    for name in (MPD_NAME, HLS_MASTER_NAME, MPD_NAME.upper()):
        refused = api.client.get(prefix.group(1) + name)
        problem(refused, 403, "forbidden")
        assert b"Representation" not in refused.content and b"STREAM-INF" not in refused.content
        assert api.client.head(prefix.group(1) + name).status_code == 403
    # What players do need from the origin is still there.
    assert api.client.get(prefix.group(1) + "video_360p_300k/init.mp4").status_code == 200
    assert api.client.get(prefix.group(1) + "video_360p_300k.m3u8").status_code == 200


@attack
@pytest.mark.parametrize("encrypted", [False, True], ids=["clear", "encrypted"])
def test_attack_hls_master_through_the_media_playlist_route(
    api: ApiHarness, ladder: tuple[VideoRendition, ...], encrypted: bool
) -> None:
    publish(api, ladder, "tt-film", encrypted=encrypted)
    session = start(api, "tt-film", api.auth(plan="basic"), ("clearkey",) if encrypted else ())
    hls = path_of(session["manifests"]["hls"])
    for name in (
        HLS_MASTER_NAME,
        "Master.m3u8",
        "other.m3u8",
        "video_720p_700k_iframe_iframe.m3u8",
    ):
        answer = api.client.get(hls.replace("master.m3u8", f"hls/{name}"))
        assert answer.status_code in (404, 422), (name, answer.text)
        assert b"STREAM-INF" not in answer.content
    # Control: the session's own media playlists are served.
    ok = api.client.get(hls.replace("master.m3u8", "hls/video_360p_300k.m3u8"))
    assert ok.status_code == 200 and "#EXTINF" in ok.text


@attack
@pytest.mark.parametrize("encrypted", [False, True], ids=["clear", "encrypted"])
def test_attack_basic_plan_never_gets_a_wide_films_hd_rung(
    api: ApiHarness, ladder: tuple[VideoRendition, ...], encrypted: bool
) -> None:
    # Issue 25: a 2.39:1 1280x536 rung is 536 lines tall but has 686,080 pixels: HD. The
    # height rule labelled it SD, so a basic ClearKey viewer got the key that decrypts it.
    title = publish(api, ladder, "tt-film", encrypted=encrypted)
    with Session(api.engine) as s:
        package = s.exec(select(Package).where(Package.title_id == "tt-film")).one()
    wide = next(r for r in package.representations if r.get("height") == 536)
    assert wide["track_class"] == ("HD" if encrypted else None)
    session = start(api, "tt-film", api.auth(plan="basic"), ("clearkey",) if encrypted else ())
    assert session["max_height"] == 576  # 768x576, the largest SD picture, stays
    mpd = api.client.get(path_of(session["manifests"]["dash"]))
    assert mpd_heights(mpd.text) == {360, 576}
    hls = path_of(session["manifests"]["hls"])
    assert hls_heights(api.client.get(hls).text) == {360, 576}
    for name in ("video_536p_600k.m3u8", "video_536p_600k_iframe.m3u8"):
        problem(api.client.get(hls.replace("master.m3u8", f"hls/{name}")), 403, "forbidden")
    if encrypted:  # and no key for it: the HD key is not the basic plan's
        assert granted(clearkey(api, session, title.kid("sd"))) == {title.kid("sd")}
        problem(clearkey(api, session, title.kid("hd")), 403, "key_withheld")
        url = f"/v1/license/hls-key/{title.kid('hd')}?token={session['token']}"
        problem(api.client.get(url, headers=session["viewer"]), 403, "key_withheld")


def test_a_token_without_a_pixel_cap_gets_no_manifest(
    api: ApiHarness, ladder: tuple[VideoRendition, ...]
) -> None:
    # Tokens from before issue 25 carried a height ("h"), which says nothing of a wide
    # picture's pixels: the manifest routes refuse them (fail closed) until a renewal.
    publish(api, ladder, "tt-film")
    session = start(api, "tt-film", api.auth(plan="basic"))
    secret = api.settings.secrets().signing_secret
    capless = issue_playback_token(
        secret, session["session_id"], "tt-film", "v1", session["expires_at"], drm=("clearkey",)
    )
    for kind in ("dash", "hls"):
        url = path_of(session["manifests"][kind]).replace(session["token"], capless)
        problem(api.client.get(url), 401, "invalid_token")
    # Control: the session's own token, which carries the cap, is served.
    assert api.client.get(path_of(session["manifests"]["dash"])).status_code == 200


# ---- configuration and keys ------------------------------------------------------------------


def test_policy_settings_are_validated_naming_the_variable(tmp_path: Path) -> None:
    for spec, fragment in (
        ("AUDIO,SD,4K", "unknown track class(es) 4K"),
        ("AUDIO,HD", "without a gap"),
        ("SD", "must unlock AUDIO"),
    ):
        settings = Settings(home=tmp_path, key_policy_clearkey=spec)
        with pytest.raises(ConfigError, match="REELFLOW_KEY_POLICY_CLEARKEY") as caught:
            key_policy_from_settings(settings)
        assert fragment in str(caught.value)
    with pytest.raises(ConfigError, match="REELFLOW_KEY_POLICY_WIDEVINE"):
        key_policy_from_settings(Settings(home=tmp_path, key_policy_widevine="audio,sd,xhd"))
    # Defaults: ClearKey fails closed in every mode (issue 25); HD only by a setting.
    prod = key_policy_from_settings(
        Settings(home=tmp_path, env="production", key_policy_playready="audio, sd")
    )
    assert prod.describe() == (
        "clearkey=AUDIO,SD widevine=AUDIO,HD,SD,UHD playready=AUDIO,SD fairplay=AUDIO,HD,SD,UHD"
    )
    embedded = key_policy_from_settings(Settings(home=tmp_path))
    assert embedded.unlockable("clearkey") == frozenset({"AUDIO", "SD"})
    demo = key_policy_from_settings(Settings(home=tmp_path, key_policy_clearkey="AUDIO,SD,HD"))
    assert demo.unlockable("clearkey") == frozenset({"AUDIO", "SD", "HD"})
    assert (
        key_policy_from_settings(Settings(home=tmp_path, key_policy_clearkey="")).unlockable(
            "clearkey"
        )
        == frozenset()
    )


def test_origin_manifest_rule_covers_what_the_packager_writes() -> None:
    assert PACKAGE_MANIFEST_RE.match(MPD_NAME) and PACKAGE_MANIFEST_RE.match(HLS_MASTER_NAME)
    for servable in ("video_360p_300k.m3u8", "video_360p_300k/1.m4s", "thumbs/thumbnails.vtt"):
        assert not PACKAGE_MANIFEST_RE.match(servable)


def test_each_version_of_a_title_gets_its_own_keys(api: ApiHarness) -> None:
    """A re-delivery (new version) must not reuse the keys of the one before."""
    q.upsert_title(api.engine, title_id="tt-keys", name="Keys")
    activities = PublishActivities(Deps(api.settings, api.engine, api.store))
    classes = ["AUDIO", "SD", "HD", "UHD"]
    results = [
        ActivityEnvironment().run(activities.generate_keys, c.KeysRequest("tt-keys", v, classes))
        for v in (1, 2, 1)
    ]
    assert results[0].kids == results[2].kids  # a retried activity reuses its version's keys
    v1, v2 = set(results[0].kids.values()), set(results[1].kids.values())
    assert len(v1) == len(v2) == 4 and not v1 & v2
    master_keys = api.settings.secrets().master_keys
    with Session(api.engine) as s:
        rows = s.exec(select(ContentKeyRow).where(ContentKeyRow.title_id == "tt-keys")).all()
    clear = {
        row.version: {
            open_key(
                row.sealed_key,
                master_keys=master_keys,
                kid=bytes.fromhex(row.kid),
                place=KeyPlace(row.title_id, row.version, row.track_class),
            )
            for row in rows
            if row.version == version
        }
        for row in rows
        for version in (row.version,)
    }
    assert len(clear[1]) == len(clear[2]) == 4 and not clear[1] & clear[2]


def test_attack_cases_counted() -> None:
    # One entry per attack test function; two run twice (clear and encrypted title).
    assert len(ATTACKS) == 9
