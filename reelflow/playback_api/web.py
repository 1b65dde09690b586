"""Serves the web player (reelflow/web) at / and Shaka Player from the npm install.

Nothing is fetched from a CDN: Shaka Player comes from node_modules, installed by the
setup (`npm ci`), and is served by the API at /vendor/shaka/.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from reelflow.config import CHECKOUT_DIR, Settings

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SHAKA_DIST = Path("node_modules/shaka-player/dist")


def shaka_dist_dir() -> Path | None:
    for base in filter(None, (CHECKOUT_DIR, Path.cwd())):
        candidate = base / SHAKA_DIST
        if (candidate / "shaka-player.compiled.js").is_file():
            return candidate
    return None


def mount_web(app: FastAPI, settings: Settings) -> None:
    shaka = shaka_dist_dir()
    if shaka is not None:
        app.mount("/vendor/shaka", StaticFiles(directory=shaka), name="shaka")
    if (WEB_DIR / "index.html").is_file():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
