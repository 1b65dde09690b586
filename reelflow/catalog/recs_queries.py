"""The recommender's catalog reads: what every title is (its content features), for training.

Every title in the catalog, published or not: a title with metadata and no plays yet is a
cold-start candidate from the next training run, and whether a viewer may play a title is
decided at request time by the API, never baked into a model.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from reelflow.catalog.models import Title


@dataclass(frozen=True)
class TitleFacts:
    id: str
    name: str
    genres: tuple[str, ...]
    duration_s: float | None


def title_facts(engine: Engine) -> list[TitleFacts]:
    """Every title's id, name, genres and duration, by id."""
    with Session(engine) as s:
        rows = s.exec(select(Title).order_by(col(Title.id))).all()
        return [
            TitleFacts(t.id, t.name, tuple(str(g) for g in t.genres or ()), t.duration_s)
            for t in rows
        ]
