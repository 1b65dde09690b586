"""A channel's settings, its ids and its stream keys, by the rules in domain/channels.py."""

from __future__ import annotations

import pytest

from reelflow.domain.channels import (
    STREAM_KEY_CHARS,
    ChannelConfig,
    InvalidChannel,
    channel_id,
    new_stream_key,
)
from reelflow.domain.ids import InvalidTitleId


def test_defaults_are_a_valid_low_latency_channel() -> None:
    c = ChannelConfig("News")
    assert c.latency == "low" and c.rung_heights == (240, 360) and c.dvr_s == 7200


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"name": " "}, "name"),
        ({"rung_heights": ()}, "1-6 rungs"),
        ({"rung_heights": (240, 240)}, "distinct"),
        ({"rung_heights": (241,)}, "even"),
        ({"rung_heights": (100,)}, "144"),
        ({"dvr_s": 10}, "DVR"),
        ({"dvr_s": 10**9}, "DVR"),
        ({"latency": "warp"}, "latency"),
        ({"reconnect_window_s": 0}, "reconnect"),
    ],
)
def test_out_of_bounds_settings_are_named(changes: dict[str, object], words: str) -> None:
    args: dict[str, object] = {"name": "News", **changes}
    with pytest.raises(InvalidChannel, match=words):
        ChannelConfig(**args)  # type: ignore[arg-type]


def test_channel_ids_are_title_ids() -> None:
    assert channel_id("news-24") == "news-24"
    with pytest.raises(InvalidTitleId):
        channel_id("../etc")


def test_stream_keys_are_long_and_url_safe() -> None:
    keys = {new_stream_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        # The SRT passphrase takes 10-79 characters; ' and & would break the listener URL.
        assert len(key) == STREAM_KEY_CHARS and not set(key) & set("'&?=/ ")
