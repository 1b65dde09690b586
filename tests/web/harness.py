"""Browser and server plumbing shared by tests/web and bench/startup.py.

Debian's Chromium under Playwright, launched as docs/web.md and the toolchain say: never
`playwright install`; the browser is /usr/bin/chromium (apt package `chromium`), which
decodes H.264/AAC and has ClearKey EME (no Widevine/PlayReady CDM).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, sync_playwright

from tests.services import serve_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
)
# The player remembers volume and mute in localStorage: every test page starts muted.
MUTED = "try { localStorage.setItem('reelflow.muted', '1'); } catch (e) {}"


@contextmanager
def chromium(
    user_data_dir: Path | None = None,
    *,
    viewport: tuple[int, int] = (1280, 800),
    executable: Path = CHROMIUM,
    extra_args: tuple[str, ...] = (),
) -> Iterator[BrowserContext]:
    """A Chromium context on a fresh profile (``user_data_dir`` must be new or empty);
    ``executable``: a wrapper around /usr/bin/chromium (bench/shaped_link.py runs it in a
    network namespace); ``extra_args``: more switches (e.g. ``--host-resolver-rules``)."""
    if not CHROMIUM.exists():
        raise RuntimeError("Chromium missing: apt-get install chromium (./deploy/dev.sh test)")
    with tempfile.TemporaryDirectory(prefix="reelflow-chromium-") as scratch:
        profile = user_data_dir or Path(scratch)
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(profile),
                executable_path=str(executable),
                headless=False,  # the headless mode comes from --headless=new
                args=[*CHROMIUM_ARGS, *extra_args],
                viewport={"width": viewport[0], "height": viewport[1]},
            )
            context.add_init_script(MUTED)
            try:
                yield context
            finally:
                context.close()


@contextmanager
def serve_on(app: Any, port: int) -> Iterator[None]:
    """uvicorn on 127.0.0.1:port in a thread (the port must be known before the app starts:
    it is in the public URLs the API hands out)."""
    with serve_app(app, port):
        yield
