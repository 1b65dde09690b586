"""One real stack for every browser test: Temporal dev server, workers, Redis, API, Chromium.

The main title goes through the real lifecycle (TitleWorkflow on the dev server with real
workers: ingest, QC, fixed ladder encode, sprites, artwork, keys, Shaka Packager, publish)
from a generated 720p clip. Titles that only exist to be refused (geo, plan, window) are
packaged with tests/fixtures/published.py, which uses the same tools without Temporal.
The API runs under uvicorn on a loopback port and serves the web player at /.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis
from playwright.sync_api import BrowserContext, Page, Request, Response
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from reelflow.catalog import engine_from_settings
from reelflow.catalog.db import upgrade
from reelflow.config import Settings
from reelflow.domain.ids import workflow_id
from reelflow.lifecycle import contracts as c
from reelflow.playback_api.auth.auth import Plan, mint_dev_token
from reelflow.playback_api.auth.auth_config import dev_token_secret
from reelflow.playback_api.http.app import create_app
from reelflow.storage import store_from_settings
from reelflow.workflows.title import TitleWorkflow
from tests.fixtures import catalog_reads as reads
from tests.fixtures.catalog_reads import catalog_shows_published
from tests.fixtures.published import MediaSet, publish_title
from tests.services import free_port
from tests.web.harness import chromium, serve_on
from tests.workflows.conftest import make_clip, running_workers

# Long enough to resume in the middle (resume needs >= 5 s and < 95% of the duration).
CLIP_SECONDS = 16
MAIN_TITLE = "harbour-lights"
MAIN_NAME = "Harbour Lights"
GEO_TITLE = "paris-nights"  # France only
PREMIUM_TITLE = "night-ferry"  # premium plan only
FUTURE_TITLE = "coming-soon"  # window opens tomorrow
SUBTITLES = (
    "1\n00:00:00,500 --> 00:00:04,000\nThe harbour at dusk.\n\n"
    "2\n00:00:05,000 --> 00:00:09,000\nLights come on, one by one.\n\n"
    "3\n00:00:10,000 --> 00:00:15,000\nA ferry leaves for the islands.\n"
)


@dataclass
class WebStack:
    url: str
    settings: Settings
    engine: Engine
    secret: bytes = field(repr=False)

    def token(self, sub: str, plan: Plan = "premium", country: str = "US") -> str:
        return mint_dev_token(
            dev_token_secret(self.secret),
            sub=sub,
            plan=plan,
            country=country,
            issuer=self.settings.auth_issuer,
            audience=self.settings.auth_audience,
        )

    def api(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def kids(self, title_id: str) -> dict[str, str]:
        """Track class (AUDIO, SD, HD) -> KID hex of the title's first version."""
        return {k.track_class: k.kid for k in reads.content_keys_for(self.engine, title_id, 1)}


# ---- the stack ----------------------------------------------------------------------------


async def publish_by_lifecycle(client: Client, settings: Settings, work: Path) -> None:
    """The main title through TitleWorkflow with real workers, until it is published."""
    # -1 dB of the lavfi tone reads about -23 LUFS: QC passes loudness.
    clip = make_clip(work / "master.mp4", seconds=CLIP_SECONDS, size="1280x720", volume_db=-1.0)
    subs = work / "en.srt"
    subs.write_text(SUBTITLES)
    inp = c.TitleInput(
        title_id=MAIN_TITLE,
        source=str(clip),
        name=MAIN_NAME,
        synopsis="A harbour town at dusk, as its lights come on one by one.",
        genres=["drama", "mystery"],
        rating="PG",
        options=c.TitleOptions(ladder="fixed"),
        subtitles=[c.SubtitleSource("en", str(subs))],
        media_queue=settings.media_queue,
    )
    async with running_workers(client, settings):
        handle = await client.start_workflow(
            TitleWorkflow.run, inp, id=workflow_id(MAIN_TITLE), task_queue=settings.control_queue
        )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            status: c.TitleStatus = await handle.query(TitleWorkflow.status)
            if status.state == "published":
                await catalog_shows_published(engine_from_settings(settings), MAIN_TITLE, 1)
                return
            if status.state in ("failed", "qc_failed"):
                raise AssertionError(f"lifecycle ended in {status.state}: {status}")
            if status.state == "awaiting_approval":
                await handle.signal(TitleWorkflow.approve, "web-tests")
            await asyncio.sleep(0.2)
    raise AssertionError("the main title was not published within 10 minutes")


@pytest.fixture(scope="session")
async def web_stack(
    temporal_env: WorkflowEnvironment,
    redis_url: str,
    media_set: MediaSet,
    packager_path: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[WebStack]:
    work = tmp_path_factory.mktemp("web-stack")
    port = free_port()
    tag = uuid.uuid4().hex[:8]
    web_redis = redis_url.rsplit("/", 1)[0] + "/5"  # a database of its own
    redis.Redis.from_url(web_redis).flushdb()
    settings = Settings(
        home=work / "state",
        redis_url=web_redis,
        api_port=port,
        control_queue=f"web-{tag}-control",
        media_queue=f"web-{tag}-media",
        temporal_address=temporal_env.client.service_client.config.target_host,
        # The local demo's operator lets ClearKey (the browser's only CDM here) unlock HD,
        # as docs/drm.md says one may: software DRM gets SD only by default (issue 25).
        key_policy_clearkey="AUDIO,SD,HD,UHD",
    )
    settings.ensure_home()
    upgrade(settings.resolved_database_url)
    await publish_by_lifecycle(temporal_env.client, settings, work)
    engine = engine_from_settings(settings)
    store = store_from_settings(settings)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    for title_id, name, extra in (
        (GEO_TITLE, "Paris Nights", {"regions": ("FR",)}),
        (PREMIUM_TITLE, "Night Ferry", {"plans": ("premium",), "genres": ("drama",)}),
        (FUTURE_TITLE, "Coming Soon", {"window_start": tomorrow}),
        ("copper-coast", "Copper Coast", {"genres": ("comedy",)}),
    ):
        await asyncio.to_thread(
            publish_title, settings, engine, store, media_set, packager=packager_path,
            title_id=title_id, name=name, synopsis=f"{name}, a test title.", **extra,
        )  # fmt: skip
    with serve_on(create_app(settings), port):
        yield WebStack(
            url=f"http://127.0.0.1:{port}",
            settings=settings,
            engine=engine,
            secret=settings.secrets().signing_secret,
        )


# ---- browser ------------------------------------------------------------------------------


@dataclass
class NetLog:
    """Every request the page made and every response it got (URL, method, status)."""

    requests: list[Request] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)

    def urls(self, part: str, method: str | None = None) -> list[str]:
        return [
            r.url for r in self.requests if part in r.url and (method is None or r.method == method)
        ]

    def answered(self, part: str) -> list[Response]:
        return [r for r in self.responses if part in r.url]

    def dash_mpd(self) -> str:
        """The DASH MPD the player loaded: inline in the playback start's answer (the web
        player asks for it there), else the manifest URL's answer."""
        for r in self.answered("/playback"):
            if r.request.method == "POST" and r.status == 201 and r.json().get("dash_mpd"):
                return str(r.json()["dash_mpd"])
        return next(r for r in self.responses if "/manifest.mpd" in r.url).text()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """Chromium on a fresh user-data dir under the test's tmp dir."""
    with chromium(tmp_path / "profile") as context:
        context.set_default_timeout(20_000)
        yield context


@pytest.fixture
def netlog(browser: BrowserContext) -> NetLog:
    log = NetLog()
    # Playwright wraps handlers: plain functions, not bound builtins like list.append.
    browser.on("request", lambda request: log.requests.append(request))
    browser.on("response", lambda response: log.responses.append(response))
    return log


@pytest.fixture
def page(browser: BrowserContext, netlog: NetLog) -> Page:
    page = browser.pages[0] if browser.pages else browser.new_page()
    page.on("pageerror", lambda exc: print(f"page error: {exc}"))
    page.on("console", lambda msg: print(f"console.{msg.type}: {msg.text}"))
    return page


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]
