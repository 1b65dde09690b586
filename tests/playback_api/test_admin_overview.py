"""The admin title overview never passes on what a studio hid in its callback URL, and its
signed link opens the package's thumbnails only."""

from __future__ import annotations

from urllib.parse import urlsplit

from reelflow.playback_api.routes.admin_qoe import public_detail
from tests.playback_api.conftest import ApiHarness


def test_callback_url_loses_user_info_query_and_fragment() -> None:
    detail = {
        "delivery_id": "d1",
        "callback_url": "https://hook:s3cret@studio.example:8443/cb/v1?token=abc#frag",
        "attempts": 2,
    }
    shown = public_detail(detail)
    assert shown == {
        "delivery_id": "d1",
        "callback_url": "https://studio.example:8443/cb/v1",
        "attempts": 2,
    }
    assert "s3cret" not in str(shown) and "abc" not in str(shown)
    assert str(detail["callback_url"]).endswith("#frag")  # the stored row is left alone
    assert public_detail({"actor": "ops"}) == {"actor": "ops"}


def test_the_overviews_signed_link_opens_thumbnails_and_sprites_only(api: ApiHarness) -> None:
    api.publish("tt-over")
    response = api.client.get("/v1/admin/titles/tt-over/overview", headers=api.auth(admin=True))
    assert response.status_code == 200, response.text
    sprites = response.json()["sprites"]
    prefix = urlsplit(sprites["prefix"]).path
    vtt = api.client.get(prefix + sprites["vtt"])
    assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT")
    sheet = vtt.text.splitlines()[3].split("#")[0]
    folder = sprites["vtt"].rsplit("/", 1)[0]
    tile = api.client.get(f"{prefix}{folder}/{sheet}")
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/jpeg"
    # Before issue 25 this link covered the whole package: segments, playlists, init data.
    for rest in ("video_360p_300k/1.m4s", "video_360p_300k/init.mp4", "video_360p_300k.m3u8"):
        refused = api.client.get(prefix + rest)
        assert refused.status_code == 403, rest
        assert refused.json()["type"].endswith("/forbidden")
