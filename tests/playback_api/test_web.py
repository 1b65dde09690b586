"""http/web.py: the player and the admin console are found where the package keeps them."""

from __future__ import annotations

from reelflow.playback_api.http.web import WEB_DIR
from tests.playback_api.conftest import ApiHarness


def test_web_dir_is_the_package_web_folder() -> None:
    assert WEB_DIR.name == "web" and WEB_DIR.parent.name == "reelflow"
    assert (WEB_DIR / "index.html").is_file() and (WEB_DIR / "admin.html").is_file()


def test_the_player_and_the_console_are_served(api: ApiHarness) -> None:
    player = api.client.get("/")
    assert player.status_code == 200 and "text/html" in player.headers["content-type"]
    console = api.client.get("/admin")
    assert console.status_code == 200 and "text/html" in console.headers["content-type"]
