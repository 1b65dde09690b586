"""The web player keeps playing across link renewals (issue 13: the lease is the gate).

A second API process on the same catalog, store and Redis as web_stack, with a media-link
lifetime of 20 s: the player must swap each heartbeat's token and signed media prefix into
its later requests, or its segment requests fail with 410 once the first links expire.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Response

from reelflow.playback_api.http.app import create_app
from tests.services import free_port
from tests.web.conftest import MAIN_TITLE, WebStack
from tests.web.harness import serve_on
from tests.web.test_player import open_title_and_play, sign_in, wait_playing

pytestmark = pytest.mark.slow

LINK_TTL_S = 20
MEDIA_EXP = re.compile(rf"/media/(\d+)/[A-Za-z0-9_-]+/s[0-9a-f]{{32}}/{MAIN_TITLE}/v1/")
# Played time summed from small forward steps of currentTime, so a loop back to 0 counts
# what was played before it.
COUNT_PLAYED = """() => {
  const v = document.querySelector('.stage video');
  window.playedS = 0;
  let last = v.currentTime;
  v.addEventListener('timeupdate', () => {
    const step = v.currentTime - last;
    if (step > 0 && step < 1.5) window.playedS += step;
    last = v.currentTime;
  });
}"""


@pytest.fixture(scope="module")
def short_links(web_stack: WebStack) -> Iterator[WebStack]:
    port = free_port()
    settings = web_stack.settings.model_copy(
        update={"api_port": port, "media_link_ttl_s": LINK_TTL_S}
    )
    with serve_on(create_app(settings), port):
        yield WebStack(
            url=f"http://127.0.0.1:{port}",
            settings=settings,
            engine=web_stack.engine,
            secret=web_stack.secret,
        )


def test_playback_outlives_its_first_links_through_heartbeat_renewals(
    short_links: WebStack, page: Page
) -> None:
    answered: list[tuple[float, Response]] = []
    page.on("response", lambda response: answered.append((time.time(), response)))
    sign_in(page, short_links, f"kai-{uuid.uuid4().hex[:6]}")
    open_title_and_play(page, short_links)
    wait_playing(page, 0.3)
    session = page.evaluate("window.reelflow.session")
    first_expiry = session["expires_at"]
    assert first_expiry <= time.time() + LINK_TTL_S + 1
    assert session["heartbeat_interval_s"] == LINK_TTL_S // 3
    # Little buffered ahead or behind, and the 16 s title on a loop: segments keep being
    # fetched for as long as it plays, long after the first links expired.
    page.evaluate(
        """() => {
          reelflow.player.configure({streaming: {bufferingGoal: 3, rebufferingGoal: 1,
                                                 bufferBehind: 2}});
          document.querySelector('.stage video').loop = true;
        }"""
    )
    page.evaluate(COUNT_PLAYED)
    wait_s = first_expiry + 8 - time.time()
    page.wait_for_timeout(wait_s * 1000)

    # Still playing, no message, and it played for longer than one link lifetime.
    assert page.evaluate("document.querySelector('.stage video').paused") is False
    assert page.locator(".message").is_hidden()
    assert page.evaluate("window.playedS") > LINK_TTL_S
    assert page.evaluate("window.reelflow.renewals") >= 2

    media = [(at, r) for at, r in answered if MEDIA_EXP.search(r.url)]
    failed = [(r.url, r.status) for _, r in media if r.status >= 400]
    assert not failed, failed
    late = [r for at, r in media if at > first_expiry + 1]
    assert late, "no segment fetched after the first links expired"
    for response in late:
        match = MEDIA_EXP.search(response.url)
        assert match is not None and int(match.group(1)) > first_expiry, response.url
    beats = [r for _, r in answered if r.url.endswith("/heartbeat")]
    assert beats and all(r.status == 200 for r in beats)
    # The first links really are dead by now: only the renewal kept the stream going.
    first = next(r for _, r in media if int(MEDIA_EXP.search(r.url).group(1)) == first_expiry)  # type: ignore[union-attr]
    stale = page.request.get(first.url)
    assert stale.status == 410
