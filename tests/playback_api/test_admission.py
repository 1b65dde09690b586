"""Admission control (http/admission.py) on a real ASGI app: requests held inside the app by
events, so which ones run, wait or are refused is decided by the test, not by timing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reelflow.catalog.db import upgrade
from reelflow.config import Settings
from reelflow.playback_api.http.admission import AdmissionMiddleware, Limits
from reelflow.playback_api.http.app import create_app

# A budget no test run reaches by itself: only the fake clock ages a waiter past it.
LONG_S = 600.0


class Held:
    """The app: /hold/<n> runs until the test releases n; counts what it ran."""

    def __init__(self) -> None:
        self.entered: dict[str, asyncio.Event] = {}
        self.release: dict[str, asyncio.Event] = {}
        self.ran: list[str] = []

    def events(self, name: str) -> tuple[asyncio.Event, asyncio.Event]:
        return (
            self.entered.setdefault(name, asyncio.Event()),
            self.release.setdefault(name, asyncio.Event()),
        )

    async def hold(self, request: Request) -> JSONResponse:
        name = request.path_params["name"]
        entered, release = self.events(name)
        self.ran.append(name)
        entered.set()
        await release.wait()
        return JSONResponse({"done": name})

    def app(self) -> Starlette:
        async def ok(request: Request) -> JSONResponse:
            return JSONResponse({"ok": True})

        return Starlette(
            routes=[
                Route("/hold/{name}", self.hold),
                Route("/healthz", ok),
                Route("/media/{rest:path}", ok),
            ]
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _middleware(
    held: Held, *, in_flight: int, queue: int, budget_s: float = LONG_S, clock: Clock | None = None
) -> AdmissionMiddleware:
    limits = Limits(max_in_flight=in_flight, max_queue=queue, budget_s=budget_s, retry_after_s=3)
    return AdmissionMiddleware(held.app(), limits=limits, clock=clock or Clock())


@pytest.fixture
async def held() -> AsyncIterator[Held]:
    h = Held()
    yield h
    for ev in h.release.values():  # nothing left waiting when a test fails
        ev.set()


def _client(mw: AdmissionMiddleware) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=mw), base_url="http://t")


async def _settle() -> None:
    # Let every started request run up to its next wait (a bounded number of loop turns).
    for _ in range(50):
        await asyncio.sleep(0)


def _assert_overloaded(response: httpx.Response, retry_after: str = "3") -> None:
    assert response.status_code == 503
    assert response.headers["retry-after"] == retry_after
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == "https://reelflow.dev/problems/overloaded" and body["status"] == 503


async def test_past_in_flight_and_queue_the_excess_is_refused_without_running(held: Held) -> None:
    mw = _middleware(held, in_flight=2, queue=1)
    async with _client(mw) as client:
        running = [asyncio.create_task(client.get(f"/hold/{n}")) for n in ("a", "b")]
        await asyncio.wait_for(held.events("a")[0].wait(), 10)
        await asyncio.wait_for(held.events("b")[0].wait(), 10)
        queued = asyncio.create_task(client.get("/hold/c"))
        await _settle()
        assert held.ran == ["a", "b"] and len(mw.waiting) == 1  # c waits, it does not run
        refused = await asyncio.wait_for(client.get("/hold/d"), 10)
        _assert_overloaded(refused)
        assert "d" not in held.ran and mw.shed == 1
        # The operations routes and the media origin pass even now.
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/media/1/sig/t/v1/seg.m4s")).status_code == 200
        held.events("a")[1].set()
        assert (await asyncio.wait_for(running[0], 10)).status_code == 200
        await asyncio.wait_for(held.events("c")[0].wait(), 10)  # a's slot went to c
        for name in ("b", "c"):
            held.events(name)[1].set()
        assert (await asyncio.wait_for(running[1], 10)).status_code == 200
        assert (await asyncio.wait_for(queued, 10)).json() == {"done": "c"}
    assert mw.in_flight == 0 and not mw.waiting


async def test_a_request_that_waited_past_the_budget_is_refused_when_its_turn_comes(
    held: Held,
) -> None:
    clock = Clock()
    mw = _middleware(held, in_flight=1, queue=5, clock=clock)
    async with _client(mw) as client:
        first = asyncio.create_task(client.get("/hold/a"))
        await asyncio.wait_for(held.events("a")[0].wait(), 10)
        stale = asyncio.create_task(client.get("/hold/old"))
        await _settle()
        clock.now += LONG_S + 1  # it has now waited past its budget ...
        fresh = asyncio.create_task(client.get("/hold/new"))
        await _settle()
        assert len(mw.waiting) == 2
        held.events("a")[1].set()
        # ... so the freed slot skips it: refused without running, the fresh one runs.
        _assert_overloaded(await asyncio.wait_for(stale, 10))
        await asyncio.wait_for(held.events("new")[0].wait(), 10)
        held.events("new")[1].set()
        assert (await asyncio.wait_for(fresh, 10)).status_code == 200
        assert (await asyncio.wait_for(first, 10)).status_code == 200
    assert "old" not in held.ran and mw.shed == 1
    assert mw.in_flight == 0 and not mw.waiting


async def test_the_budget_runs_out_while_waiting_refused_then_and_out_of_the_queue(
    held: Held,
) -> None:
    # A budget of a microsecond expires on the waiter's first turn: refused while the slot
    # holder still runs, and the queue is empty again at once.
    mw = _middleware(held, in_flight=1, queue=1, budget_s=1e-6)
    async with _client(mw) as client:
        first = asyncio.create_task(client.get("/hold/a"))
        await asyncio.wait_for(held.events("a")[0].wait(), 10)
        _assert_overloaded(await asyncio.wait_for(client.get("/hold/b"), 10))
        assert not mw.waiting and mw.in_flight == 1
        _assert_overloaded(await asyncio.wait_for(client.get("/hold/c"), 10))  # queue not full
        held.events("a")[1].set()
        assert (await asyncio.wait_for(first, 10)).status_code == 200
        assert (await asyncio.wait_for(client.get("/healthz"), 10)).status_code == 200
    assert held.ran == ["a"] and mw.shed == 2 and mw.in_flight == 0


async def test_a_client_gone_while_queued_leaves_no_slot_taken(held: Held) -> None:
    mw = _middleware(held, in_flight=1, queue=2)
    async with _client(mw) as client:
        first = asyncio.create_task(client.get("/hold/a"))
        await asyncio.wait_for(held.events("a")[0].wait(), 10)
        gone = asyncio.create_task(client.get("/hold/gone"))
        await _settle()
        assert len(mw.waiting) == 1
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        assert not mw.waiting
        held.events("a")[1].set()
        assert (await asyncio.wait_for(first, 10)).status_code == 200
    assert mw.in_flight == 0 and "gone" not in held.ran


async def test_an_app_that_fails_gives_its_slot_back(held: Held) -> None:
    async def boom(scope: object, receive: object, send: object) -> None:
        raise RuntimeError("handler failed")

    limits = Limits(max_in_flight=1, max_queue=0, budget_s=LONG_S, retry_after_s=1)
    mw = AdmissionMiddleware(boom, limits=limits)
    async with _client(mw) as client:
        for _ in range(3):
            with pytest.raises(RuntimeError):
                await client.get("/x")
    assert mw.in_flight == 0 and mw.shed == 0


def test_the_api_app_is_built_with_it_from_settings_and_without_it_when_off(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    upgrade(url)

    def stack(settings: Settings) -> list[object]:
        app = create_app(settings)
        return [m.cls for m in app.user_middleware]

    on = Settings(home=tmp_path, database_url=url, api_max_in_flight=3)
    assert AdmissionMiddleware in stack(on)
    limits = Limits.from_settings(on)
    assert limits.max_in_flight == 3 and limits.budget_s == on.api_queue_budget_ms / 1000
    off = Settings(home=tmp_path, database_url=url, api_admission=False)
    assert AdmissionMiddleware not in stack(off)
