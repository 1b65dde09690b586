"""Embedded mode in a real browser: a DNS-rebinding page and another site's page get nothing.

Chromium resolves made-up names to 127.0.0.1 (``--host-resolver-rules``), which is what a
rebinding attack achieves with its own DNS: a page under the attacker's name whose requests
reach the API on the developer's loopback. The API (the real app under uvicorn, the web
stack of conftest.py) must answer such a page nothing, and must hand another site's page no
dev token, while its own pages on 127.0.0.1 and localhost keep working.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.services import serve_app
from tests.web.conftest import WebStack
from tests.web.harness import chromium

pytestmark = pytest.mark.slow

RULES = "--host-resolver-rules=MAP rebind.example 127.0.0.1, MAP evil.example 127.0.0.1"
MINT = """async ([url, mode, type]) => {
  try {
    const r = await fetch(url, { method: 'POST', mode, headers: { 'Content-Type': type },
      body: JSON.stringify({ sub: 'victim' }) });
    return r.type === 'opaque' ? 'opaque' : `${r.status} ${await r.text()}`;
  } catch (error) {
    return 'refused: ' + error.message;
  }
}"""


@pytest.fixture
def attacker(tmp_path: Path) -> Iterator[BrowserContext]:
    with chromium(tmp_path / "profile", extra_args=(RULES,)) as context:
        context.set_default_timeout(20_000)
        yield context


def _post_403s(stack: WebStack) -> float:
    """POSTs refused 403 so far (refused before routing, they count as route "unmatched")."""
    text = httpx.get(stack.url + "/metrics", timeout=10).text
    pattern = r'reelflow_http_requests_total\{method="POST",[^}]*status="403"\} (\S+)'
    return sum(float(v) for v in re.findall(pattern, text))


def _page(context: BrowserContext) -> Page:
    return context.pages[0] if context.pages else context.new_page()


def test_a_rebinding_page_gets_neither_the_pages_nor_a_token(
    web_stack: WebStack, attacker: BrowserContext
) -> None:
    port = urlsplit(web_stack.url).port
    page = _page(attacker)
    answer = page.goto(f"http://rebind.example:{port}/")
    assert answer is not None and answer.status == 403
    assert "loopback host" in answer.text()
    minted = page.evaluate(MINT, ["/v1/dev/token", "same-origin", "application/json"])
    assert minted.startswith("403 ") and "access_token" not in minted, minted


@pytest.fixture
def evil_site() -> Iterator[int]:
    """The attacker's site: a page of its own, on this machine (so Chromium's Private
    Network Access sees a local page, as with a rebinding name) under evil.example."""

    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>win a prize</title>")

    with serve_app(Starlette(routes=[Route("/", home)])) as port:
        yield port


def test_another_sites_page_gets_no_dev_token(
    web_stack: WebStack, attacker: BrowserContext, evil_site: int
) -> None:
    page = _page(attacker)
    page.goto(f"http://evil.example:{evil_site}/")
    mint = web_stack.url + "/v1/dev/token"
    # A JSON request needs a CORS preflight: no origin is allowed, so it never goes out.
    assert page.evaluate(MINT, [mint, "cors", "application/json"]).startswith("refused")
    # A "simple" one goes out without asking: the API refuses it for its Origin.
    before = _post_403s(web_stack)
    assert page.evaluate(MINT, [mint, "no-cors", "text/plain"]) == "opaque"
    assert _post_403s(web_stack) == before + 1


def test_the_api_s_own_pages_still_sign_in_on_any_loopback_name(
    web_stack: WebStack, attacker: BrowserContext
) -> None:
    port = urlsplit(web_stack.url).port
    page = _page(attacker)
    for base in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        assert page.goto(base + "/") is not None
        minted = page.evaluate(MINT, ["/v1/dev/token", "same-origin", "application/json"])
        assert minted.startswith("200 ") and "access_token" in minted, minted
