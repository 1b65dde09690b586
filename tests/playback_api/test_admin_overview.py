"""The admin title overview never passes on what a studio hid in its callback URL."""

from __future__ import annotations

from reelflow.playback_api.routes.admin_qoe import public_detail


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
    assert detail["callback_url"].endswith("#frag")  # the stored row is left alone
    assert public_detail({"actor": "ops"}) == {"actor": "ops"}
