"""A title with an AV1 ladder beside its H.264 one, through the real lifecycle, in Chromium.

The title goes through TitleWorkflow with real workers (SVT-AV1 and x264 encodes, Shaka
Packager, cbcs with ClearKey) with ``extra_codecs=["av1"]``; the player prefers AV1 where
the browser decodes it and falls back to H.264 where it does not.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from reelflow.catalog import engine_from_settings
from reelflow.catalog.models import LadderRow
from reelflow.domain.ids import workflow_id
from reelflow.lifecycle import contracts as c
from reelflow.workflows.title import TitleWorkflow
from tests.fixtures.catalog_reads import catalog_shows_published
from tests.web.conftest import NetLog, WebStack
from tests.web.test_player import licensed_kids, sign_in, video_state, wait_playing
from tests.workflows.conftest import make_clip, running_workers

pytestmark = pytest.mark.slow

AV1_TITLE = "aurora-two-codecs"
ACTIVE_VIDEO_CODEC = "reelflow.player.getVariantTracks().find(t => t.active).videoCodec"
# A browser without AV1: MSE and MediaCapabilities both say no to av01 (and only to it).
NO_AV1 = """
(() => {
  const isType = MediaSource.isTypeSupported.bind(MediaSource);
  MediaSource.isTypeSupported = (type) => !/av01/.test(type) && isType(type);
  const mc = navigator.mediaCapabilities;
  const decodingInfo = mc.decodingInfo.bind(mc);
  mc.decodingInfo = async (config) => {
    const type = (config.video && config.video.contentType) || '';
    if (/av01/.test(type)) {
      return { supported: false, smooth: false, powerEfficient: false, configuration: config };
    }
    return decodingInfo(config);
  };
})();
"""


@pytest.fixture(scope="module")
async def av1_title(
    web_stack: WebStack, temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> c.TitleStatus:
    """An 8 s 480p title published with its H.264 and AV1 ladders in one package."""
    work: Path = tmp_path_factory.mktemp("av1-title")
    clip = make_clip(work / "master.mp4", seconds=8, size="854x480", volume_db=-1.0)
    settings = web_stack.settings
    inp = c.TitleInput(
        title_id=AV1_TITLE,
        source=str(clip),
        name="Aurora",
        genres=["drama"],
        options=c.TitleOptions(ladder="fixed", extra_codecs=["av1"]),
        media_queue=settings.media_queue,
    )
    client = temporal_env.client
    async with running_workers(client, settings):
        handle = await client.start_workflow(
            TitleWorkflow.run, inp, id=workflow_id(AV1_TITLE), task_queue=settings.control_queue
        )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            status: c.TitleStatus = await handle.query(TitleWorkflow.status)
            if status.state == "published":
                await catalog_shows_published(engine_from_settings(settings), AV1_TITLE, 1)
                return status
            if status.state in ("failed", "qc_failed"):
                raise AssertionError(f"lifecycle ended in {status.state}: {status}")
            if status.state == "awaiting_approval":
                await handle.signal(TitleWorkflow.approve, "web-tests")
            await asyncio.sleep(0.2)
    raise AssertionError("the two-codec title was not published within 10 minutes")


def _play(page: Page, stack: WebStack, who: str) -> list[str]:
    """Sign in, open the title, press play; the page's console errors, as they come."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, stack, f"{who}-{uuid.uuid4().hex[:6]}")
    page.goto(f"{stack.url}/#/title/{AV1_TITLE}")
    page.click("[data-action=play] >> nth=0")
    wait_playing(page, 1.0)
    return errors


def _plays_on(page: Page, errors: list[str]) -> None:
    first = video_state(page)
    page.wait_for_timeout(1000)
    later = video_state(page)
    assert later["t"] > first["t"] + 0.5, (first, later)
    assert later["w"] > 0
    assert not [e for e in errors if "playback error" in e], errors


def test_the_lifecycle_made_both_ladders(av1_title: c.TitleStatus, web_stack: WebStack) -> None:
    videos = [r for r in av1_title.renditions if r.kind == "video"]
    by_codec = {
        codec: sorted(r.height or 0 for r in videos if r.codec == codec)
        for codec in ("h264", "av1")
    }
    assert by_codec["h264"] and by_codec["h264"] == by_codec["av1"], by_codec
    assert all(r.name.startswith("av1_") for r in videos if r.codec == "av1")
    # The catalog keeps the main (H.264) ladder, the AV1 one beside it.
    with Session(web_stack.engine) as s:
        row = s.exec(select(LadderRow).where(LadderRow.title_id == AV1_TITLE)).one()
    assert {r["codec"] for r in row.ladder["rungs"]} == {"h264"}
    assert {r["codec"] for r in row.ladder["alongside"]["av1"]["rungs"]} == {"av1"}


def test_av1_is_chosen_and_plays_through_clearkey(
    av1_title: c.TitleStatus, web_stack: WebStack, page: Page, netlog: NetLog
) -> None:
    errors = _play(page, web_stack, "ava")
    codec = page.evaluate(ACTIVE_VIDEO_CODEC)
    assert codec.startswith("av01"), codec
    _plays_on(page, errors)
    assert page.evaluate("reelflow.player.getManifestType()") == "DASH"
    # The package offers both codecs; the same content keys unlock either.
    mpd = netlog.dash_mpd()
    codecs = set(re.findall(r'codecs="(avc1|av01)[^"]*"', mpd))
    assert codecs == {"avc1", "av01"}
    licensed = licensed_kids(netlog)
    kids = web_stack.kids(AV1_TITLE)
    assert kids["SD"] in licensed and licensed <= set(kids.values()), (licensed, kids)


def test_a_browser_without_av1_plays_h264(
    av1_title: c.TitleStatus, web_stack: WebStack, browser: BrowserContext, page: Page
) -> None:
    browser.add_init_script(NO_AV1)
    errors = _play(page, web_stack, "hal")
    codec = page.evaluate(ACTIVE_VIDEO_CODEC)
    assert codec.startswith("avc1"), codec
    _plays_on(page, errors)
