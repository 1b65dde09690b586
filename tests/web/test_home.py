"""The web home in Chromium against the real stack: the rows of GET /v1/me/home in the API's
order (ids, headings, titles), Continue watching with its progress, and row events named
by the row's id. Run with REELFLOW_UPDATE_DOC_IMAGES=1 to refresh docs/images/home.png."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import Package
from reelflow.catalog.viewer_queries import save_progress
from reelflow.domain.artwork import candidate_count
from tests.web.conftest import CLIP_SECONDS, MAIN_NAME, MAIN_TITLE, WebStack
from tests.web.test_admin import _keep
from tests.web.test_player import sign_in
from tests.web.test_viewer_events import flush, logged, wait_until

pytestmark = pytest.mark.slow

ROWS_ON_PAGE = """els => els.map(e => [
  e.dataset.rowId, e.querySelector('h2').textContent,
  [...e.querySelectorAll('a[data-title-id]')].map(a => a.dataset.titleId)])"""


def test_home_shows_the_apis_rows_and_names_them_in_events(
    web_stack: WebStack, page: Page, tmp_path: Path
) -> None:
    sub = f"hana-{uuid.uuid4().hex[:6]}"
    save_progress(web_stack.engine, sub, MAIN_TITLE, 6.0, CLIP_SECONDS)  # started, not done
    sign_in(page, web_stack, sub)
    home = web_stack.api("GET", "/v1/me/home?limit=20", web_stack.token(sub))
    assert home.status_code == 200, home.text
    expected = [
        [row["id"], row["title"], [item["id"] for item in row["items"]]]
        for row in home.json()["rows"]
    ]
    assert page.eval_on_selector_all("section.row", ROWS_ON_PAGE) == expected
    assert expected[0][:2] == ["continue-watching", "Continue watching"]
    continuing = page.locator("[data-row-id='continue-watching']")
    expect(continuing.locator(f"a[data-title-id='{MAIN_TITLE}'] .progress")).to_have_count(1)
    assert "genre-mystery" in [row[0] for row in expected]
    poster = page.locator(f"[data-row-id='new'] a[data-title-id='{MAIN_TITLE}'] img")
    expect(poster).to_have_js_property("complete", True)
    assert poster.evaluate("img => img.naturalWidth") > 0
    # The lifecycle's thumbnail step kept alternates, published beside candidate 0: the
    # poster above is the one the artwork bandit chose for this viewer.
    with session_scope(web_stack.engine) as s:
        package = s.exec(select(Package).where(Package.title_id == MAIN_TITLE)).first()
        assert package is not None and candidate_count(package.artwork, "poster") >= 2
    page.screenshot(path=tmp_path / "home.png", full_page=True)
    _keep(tmp_path / "home.png", "home.png")

    mystery = page.locator("[data-row-id='genre-mystery'] a[data-title-id]")
    position = mystery.evaluate_all("links => links.map(a => a.dataset.titleId)").index(MAIN_TITLE)
    mystery.nth(position).click()
    expect(page.locator("h1")).to_have_text(MAIN_NAME)
    flush(page)

    def clicked() -> bool:
        return any(e.type == "row_click" for e in logged(web_stack, sub))

    wait_until(clicked, "the row click in the event log")
    events = logged(web_stack, sub)
    [click] = [e for e in events if e.type == "row_click"]
    assert (click.title, click.fields) == (
        MAIN_TITLE,
        {"row": "genre-mystery", "position": position},
    )
    shown = {e.fields["row"]: e.fields for e in events if e.type == "row_impression"}
    assert shown["continue-watching"]["titles"] == [MAIN_TITLE]
    assert shown["continue-watching"]["position"] == 0
    assert set(shown) <= {row[0] for row in expected}
