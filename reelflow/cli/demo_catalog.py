"""The demo's shelf: a few short titles of different genres beside the sample, a simulated
history of viewers who like some of those genres, a first trained recommendation model and
the running experiment that serves it against popularity, so the demo's home page has
rows to personalise as soon as a dev account watches something.

Only ``reelflow demo`` calls this, on the embedded stack. Shelf titles have fixed ids, so a
second demo joins their runs (already published) instead of making them again; the history
is written once per demo (its viewers are pseudonyms no account maps to, recs/demo_history.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from reelflow.catalog import engine_from_settings
from reelflow.catalog.experiments import ExperimentConflict, ExperimentExists
from reelflow.catalog.models import utcnow
from reelflow.cli.title_runs import start_title
from reelflow.cli.title_status import follow
from reelflow.config import Settings
from reelflow.experiments import registry
from reelflow.experiments.definitions import ExperimentIn, VariantIn
from reelflow.lifecycle import contracts as c
from reelflow.media.samples import make_test_title
from reelflow.recs.demo_history import DemoTitle, simulate, write
from reelflow.storage import store_from_settings

console = Console()

SHELF_SECONDS = 6
SIMULATED_VIEWERS = 300
HOME_EXPERIMENT = "home-recs"


@dataclass(frozen=True)
class ShelfTitle:
    id: str
    name: str
    synopsis: str
    genres: tuple[str, ...]
    tone_hz: int


SHELF = (
    ShelfTitle("demo-shelf-reef", "The Quiet Reef", "A year on a coral reef, from spawning "
               "night to the storm season.", ("Documentary", "Nature"), 262),
    ShelfTitle("demo-shelf-ice", "Under the Ice", "Divers follow seals beneath the Antarctic "
               "sea ice.", ("Documentary", "Nature"), 294),
    ShelfTitle("demo-shelf-office", "Office Hours", "A night-shift IT desk and the strangest "
               "tickets it ever closed.", ("Comedy",), 330),
    ShelfTitle("demo-shelf-helpings", "Second Helpings", "Two rival chefs share one kitchen "
               "and one very small van.", ("Comedy", "Drama"), 349),
    ShelfTitle("demo-shelf-night", "The Long Night", "A ferry loses power halfway across, "
               "and someone on board knows why.", ("Thriller", "Drama"), 392),
    ShelfTitle("demo-shelf-planets", "Paper Planets", "A folded-paper astronaut looks for a "
               "way home across the desk.", ("Animation", "Family"), 440),
)  # fmt: skip


def _source(settings: Settings, item: ShelfTitle) -> Path:
    path = settings.home / "samples" / f"{item.id}-{SHELF_SECONDS}s.mp4"
    if path.exists():
        return path
    return make_test_title(
        path,
        ffmpeg=settings.binary("ffmpeg"),
        seconds=SHELF_SECONDS,
        size="640x360",
        tone=f"frequency={item.tone_hz}",
        audio_filter="loudnorm=I=-23:TP=-2:LRA=7",
    )


async def _publish(settings: Settings, items: tuple[ShelfTitle, ...]) -> list[c.TitleStatus]:
    for item in items:
        inp = c.TitleInput(
            title_id=item.id,
            source=str(_source(settings, item)),
            name=item.name,
            synopsis=item.synopsis,
            genres=list(item.genres),
        )
        await start_title(settings, inp)
    return [await follow(settings, item.id, quiet=True) for item in items]


def publish_shelf(settings: Settings) -> list[DemoTitle]:
    """The shelf's titles through the lifecycle; the published ones as the history sees them."""
    console.print(f"[bold]shelf[/] {len(SHELF)} short titles in {len(SHELF)} genres")
    statuses = asyncio.run(_publish(settings, SHELF))
    published = []
    for item, status in zip(SHELF, statuses, strict=True):
        if status.state == "published":
            published.append(DemoTitle(item.id, item.genres, float(SHELF_SECONDS)))
        else:
            console.print(f"[yellow]shelf title {item.id} ended in state {status.state}[/]")
    return published


def seed_history(settings: Settings, titles: list[DemoTitle]) -> int:
    """Simulated viewers' watching of ``titles`` into the events store; the events written."""
    records = simulate(titles, SIMULATED_VIEWERS, utcnow())
    files = write(store_from_settings(settings), records)
    console.print(
        f"[bold]history[/] {len(records)} events of {SIMULATED_VIEWERS} simulated viewers "
        f"({files} files)"
    )
    return len(records)


def start_home_experiment(settings: Settings) -> str:
    """The hybrid against popularity on the home rows, running (created once)."""
    engine = engine_from_settings(settings)
    body = ExperimentIn(
        key=HOME_EXPERIMENT,
        hypothesis="rows ranked by the hybrid lead to more watching than the most popular",
        variants=[
            VariantIn(key="popularity", weight=0.5, config={"recs_model": "popularity"}),
            VariantIn(key="hybrid", weight=0.5, config={"recs_model": "hybrid"}),
        ],
        primary_metric="minutes_watched",
        guardrails=["play_starts"],
        layer="home",
    )
    with contextlib.suppress(ExperimentExists):  # created by an earlier demo
        registry.create(engine, body, "demo")
    # Running already, or stopped by an operator: left as they chose.
    with contextlib.suppress(ExperimentConflict):
        registry.start(engine, HOME_EXPERIMENT, "demo")
    return HOME_EXPERIMENT


def set_the_shelf(settings: Settings, sample: DemoTitle) -> None:
    """Shelf, history, a first model and the home experiment, each step said as it ends.

    A step that fails is reported and the demo goes on: the sample title is already
    published and playable, and the home falls back to its New and genre rows."""
    from reelflow.cli.recs_models import training_now

    shelf = publish_shelf(settings)
    seed_history(settings, [*shelf, sample])
    try:
        summary = asyncio.run(training_now(settings))
    except Exception as exc:  # the demo's title stays playable; say why rows stay generic
        console.print(f"[yellow]recommendation training did not run: {exc}[/]")
    else:
        console.print(f"[bold]recommendations[/] {summary}")
    console.print(f"[bold]experiment[/] {start_home_experiment(settings)} running")
