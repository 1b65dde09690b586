"""Channels in the catalog: one id space with titles, the stream key sealed to its row."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelflow.catalog.db import make_engine, upgrade
from reelflow.catalog.live_channels import (
    ChannelIdTaken,
    delete_channel,
    get_channel,
    list_channels,
)
from reelflow.catalog.titles import upsert_title
from reelflow.config import Settings
from reelflow.domain.channels import ChannelConfig
from reelflow.live.channels import StreamKeyUnsealError, config_of, create_channel, open_stream_key


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(home=tmp_path / "state")
    s.ensure_home()
    upgrade(s.resolved_database_url)
    return s


def test_a_channel_keeps_its_settings_and_only_its_own_key_opens(settings: Settings) -> None:
    engine = make_engine(settings.resolved_database_url)
    config = ChannelConfig("News", (240, 480), 3600, "standard", False, 30)
    made = create_channel(settings, engine, "news", config)
    other = create_channel(settings, engine, "sport", ChannelConfig("Sport"))
    row = get_channel(engine, "news")
    assert config_of(row) == config and [c.id for c in list_channels(engine)] == ["news", "sport"]
    assert made.stream_key.encode() not in row.sealed_stream_key
    assert open_stream_key(settings, engine, "news") == made.stream_key
    assert open_stream_key(settings, engine, "sport") == other.stream_key

    # A sealed key copied onto another channel's row does not open there.
    from reelflow.catalog.db import session_scope
    from reelflow.catalog.models import LiveChannelRow

    with session_scope(engine) as s:
        target = s.get(LiveChannelRow, "sport")
        assert target is not None
        target.sealed_stream_key = row.sealed_stream_key
    with pytest.raises(StreamKeyUnsealError) as caught:
        open_stream_key(settings, engine, "sport")
    assert made.stream_key not in str(caught.value)


def test_titles_and_channels_share_one_id_space(settings: Settings) -> None:
    engine = make_engine(settings.resolved_database_url)
    upsert_title(engine, title_id="movie", name="A film")
    with pytest.raises(ChannelIdTaken):
        create_channel(settings, engine, "movie", ChannelConfig("Not a film"))
    create_channel(settings, engine, "news", ChannelConfig("News"))
    with pytest.raises(ChannelIdTaken):
        create_channel(settings, engine, "news", ChannelConfig("News again"))
    delete_channel(engine, "news")
    create_channel(settings, engine, "news", ChannelConfig("News again"))


def test_master_key_rotation_carries_stream_keys_along(settings: Settings) -> None:
    import json

    from reelflow.cli.keys_admin import rotate_master
    from reelflow.config import rotate_generated_master_key

    engine = make_engine(settings.resolved_database_url)
    made = create_channel(settings, engine, "news", ChannelConfig("News"))
    assert rotate_generated_master_key(settings) == 2
    rotate_master(Settings(home=settings.home), engine)
    assert get_channel(engine, "news").key_version == 2
    # With the retired key gone, the channel's key still opens: it moved to version 2.
    secrets_file = settings.home / "secrets.json"
    data = json.loads(secrets_file.read_text())
    data["retired_master_keys"] = {}
    secrets_file.write_text(json.dumps(data))
    assert open_stream_key(Settings(home=settings.home), engine, "news") == made.stream_key
