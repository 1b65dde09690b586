"""Web player startup: Play click -> first `playing`, beside bare Shaka on a static server.

Both run in Debian's Chromium launched as the web tests launch it (tests/web/harness.py),
a fresh profile per run, so every run starts with a cold HTTP cache:

- reelflow: the web player served by the API (uvicorn, one process). The viewer is signed
  in and on the title page; the clock starts at the click on Play and includes the
  playback-session call, the filtered manifest, the ClearKey license from the API and the
  first segments from the embedded origin's signed prefix.
- bare: the same package (the same files) from Python's http.server with the keys given
  inline (`drm.clearKeys`), Shaka loaded from the same npm dist; the clock starts at a
  click on a button that creates the player and loads the manifest.

Runs alternate between the two; the first of each is a discarded warm-up. Printed: the
median of each, the ratio and every sample. Aim: <= 400 ms absolute, <= 1.5x bare.

    .venv/bin/python bench/startup.py [--runs 7]

Needs redis-server, ffmpeg, the npm Shaka Packager and Shaka Player, and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page  # noqa: E402

from reelflow.catalog import engine_from_settings  # noqa: E402
from reelflow.catalog.db import upgrade  # noqa: E402
from reelflow.config import Settings  # noqa: E402
from reelflow.playback_api.auth.auth import mint_dev_token  # noqa: E402
from reelflow.playback_api.auth.auth_config import dev_token_secret  # noqa: E402
from reelflow.playback_api.http.web import shaka_dist_dir  # noqa: E402
from reelflow.storage import LocalStore  # noqa: E402
from tests.fixtures.published import PublishedTitle, make_media, publish_title  # noqa: E402
from tests.services import free_port, redis_server, wait_for_port  # noqa: E402
from tests.web.harness import chromium  # noqa: E402

TITLE = "bench-startup"
TIMEOUT_MS = 15_000

# Installed before the click: the click and the first `playing` (media events do not
# bubble, a capturing listener on the document still sees them), in page time.
CLOCK = """() => {
  window.__t = {};
  document.addEventListener('click', (e) => {
    if (e.target.closest('[data-action=play]') && !__t.click) __t.click = performance.now();
  }, true);
  document.addEventListener('playing', () => {
    if (!__t.playing) __t.playing = performance.now();
  }, true);
}"""

BARE_PAGE = """<!doctype html>
<meta charset="utf-8">
<title>bare shaka</title>
<link rel="icon" href="data:,">
<script src="/shaka/shaka-player.compiled.js"></script>
<video muted autoplay playsinline style="width: 960px"></video>
<button data-action="play">Play</button>
<script>
  shaka.polyfill.installAll();
  const video = document.querySelector('video');
  document.querySelector('button').addEventListener('click', async () => {
    const player = new shaka.Player();
    await player.attach(video);
    player.configure({ drm: { clearKeys: __KEYS__ } });
    await player.load('/package/__MPD__');
    video.play();
  });
</script>
"""


@contextmanager
def process(
    args: list[str], port: int, env: dict[str, str], log: Path, host: str = "127.0.0.1"
) -> Iterator[str]:
    """A server process on a port of ``host`` (loopback by default; its own interpreter: no
    GIL shared with the Playwright driver); yields its base URL."""
    with log.open("wb") as fh:
        proc = subprocess.Popen(args, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            wait_for_port(port, 30, host)
            yield f"http://{host}:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def measure(start: Callable[[Page], None], click: Callable[[Page], None]) -> float:
    """One run on a fresh profile: ms from the Play click to the first `playing`."""
    with chromium() as context:
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("pageerror", lambda e: print(f"    page error: {e}"))
        start(page)
        page.evaluate(CLOCK)
        click(page)
        page.wait_for_function("window.__t.playing > 0")
        timing: dict[str, float] = page.evaluate("window.__t")
        return timing["playing"] - timing["click"]


def bare_dir(work: Path, store: LocalStore, title: PublishedTitle) -> Path:
    shaka = shaka_dist_dir()
    if shaka is None:
        raise SystemExit("Shaka Player missing: run npm ci in the checkout")
    site = work / "static"
    site.mkdir()
    package = store.root / title.origin_prefix
    (site / "package").symlink_to(package, target_is_directory=True)
    (site / "shaka").symlink_to(shaka.resolve(), target_is_directory=True)
    mpd = next(p.name for p in package.glob("*.mpd"))
    keys = {k.kid_hex: k.key.hex() for k in title.keys.values()}
    page = BARE_PAGE.replace("__KEYS__", json.dumps(keys)).replace("__MPD__", mpd)
    (site / "index.html").write_text(page)
    return site


def run(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="reelflow-bench-startup-") as tmp, redis_server() as r:
        work = Path(tmp)
        port = free_port()
        settings = Settings(home=work / "state", redis_url=r, api_port=port)
        settings.ensure_home()
        upgrade(settings.resolved_database_url)
        engine = engine_from_settings(settings)
        store = LocalStore(settings.resolved_store_root)
        print("publishing a test title (real packager) ...", flush=True)
        media = make_media(work / "media", ffmpeg=settings.binary("ffmpeg"))
        title = publish_title(
            settings, engine, store, media, packager=settings.binary("packager"), title_id=TITLE
        )
        secret = dev_token_secret(settings.secrets().signing_secret)

        def viewer(sub: str) -> str:
            token = mint_dev_token(
                secret,
                sub=sub,
                plan="premium",
                country="US",
                issuer=settings.auth_issuer,
                audience=settings.auth_audience,
            )
            auth = {"token": token, "sub": sub, "plan": "premium", "country": "US"}
            return json.dumps(json.dumps(auth))

        site = bare_dir(work, store, title)
        env = {
            **os.environ,
            "REELFLOW_HOME": str(settings.home),
            "REELFLOW_REDIS_URL": r,
            "REELFLOW_API_PORT": str(port),
            "REELFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # not needed here
        }
        reelflow = [str(Path(sys.executable).parent / "reelflow"), "api"]
        static_port = free_port()
        static = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                  "--directory", str(site), str(static_port)]  # fmt: skip
        with (
            process(reelflow, port, env, work / "api.log") as api_url,
            process(static, static_port, env, work / "static.log") as bare_url,
        ):
            accounts = iter(range(1_000_000))

            def open_title(page: Page) -> None:
                # An account per run: each fresh profile is a new device, and a closed tab
                # holds its stream lease until it expires (premium allows 4 streams).
                auth = viewer(f"bench-viewer-{next(accounts)}")
                page.add_init_script(f"sessionStorage.setItem('reelflow.auth', {auth})")
                page.goto(f"{api_url}/#/title/{TITLE}")
                page.wait_for_selector("[data-action=play]")

            def open_bare(page: Page) -> None:
                page.goto(f"{bare_url}/index.html")
                page.wait_for_function("window.shaka !== undefined")

            def click(page: Page) -> None:
                page.click("[data-action=play] >> nth=0")

            samples: dict[str, list[float]] = {"reelflow": [], "bare": []}
            for i in range(runs + 1):
                for name, start in (("reelflow", open_title), ("bare", open_bare)):
                    ms = measure(start, click)
                    if i > 0:  # the first round warms the servers and the OS caches
                        samples[name].append(ms)
                    print(f"  {'warm-up' if i == 0 else f'run {i}'} {name:<8} {ms:7.1f} ms")
        app_ms = statistics.median(samples["reelflow"])
        bare_ms = statistics.median(samples["bare"])
        print()
        print(f"Play click -> first playing, median of {runs} runs (fresh Chromium profile each)")
        print(f"  bare Shaka, static server, inline keys: {bare_ms:7.1f} ms")
        print(f"  reelflow web player via the API:        {app_ms:7.1f} ms")
        print(f"  ratio: {app_ms / bare_ms:.2f}x (aim <= 1.5x); absolute aim <= 400 ms")
        for name, values in samples.items():
            print(f"  {name} samples: {', '.join(f'{v:.0f}' for v in values)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="measured runs per side (>= 5)")
    args = parser.parse_args()
    run(max(args.runs, 5))
    sys.stdout.flush()
    os._exit(0)  # no Temporal client here, but uvicorn/playwright threads need not linger


if __name__ == "__main__":
    main()
