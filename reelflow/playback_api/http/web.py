"""Serves the web player (reelflow/web) at /, the admin console at /admin, and Shaka Player
and uPlot from the npm install.

Nothing is fetched from a CDN: Shaka Player and uPlot come from node_modules, installed by
the setup (`npm ci`), and are served by the API at /vendor/shaka/ and /vendor/uplot/.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from reelflow.config import CHECKOUT_DIR, Settings

# reelflow/web: this file is reelflow/playback_api/http/web.py.
WEB_DIR = Path(__file__).resolve().parents[2] / "web"
SHAKA_DIST = Path("node_modules/shaka-player/dist")
UPLOT_DIST = Path("node_modules/uplot/dist")


def _dist_dir(dist: Path, marker: str) -> Path | None:
    for base in filter(None, (CHECKOUT_DIR, Path.cwd())):
        candidate = base / dist
        if (candidate / marker).is_file():
            return candidate
    return None


def shaka_dist_dir() -> Path | None:
    return _dist_dir(SHAKA_DIST, "shaka-player.compiled.js")


def mount_web(app: FastAPI, settings: Settings) -> None:
    shaka = shaka_dist_dir()
    if shaka is not None:
        app.mount("/vendor/shaka", StaticFiles(directory=shaka), name="shaka")
    uplot = _dist_dir(UPLOT_DIST, "uPlot.esm.js")
    if uplot is not None:
        app.mount("/vendor/uplot", StaticFiles(directory=uplot), name="uplot")
    admin_page = WEB_DIR / "admin.html"
    if admin_page.is_file():
        # The console's data needs an admin token; the page itself is as public as the player.
        @app.get("/admin", include_in_schema=False)
        async def admin_console() -> FileResponse:
            return FileResponse(admin_page, media_type="text/html")

    if (WEB_DIR / "index.html").is_file():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
