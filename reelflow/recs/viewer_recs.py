"""What the recommender hands the home page for one viewer: the contract between recs/
(training, the serving model, precomputed rows, fold-in) and the API that builds the rows.

Everything here is title ids, unfiltered: the API filters every list at request time by what
the viewer may watch now (region, plan, window, takedown), so a list computed an hour ago
can never show a title the viewer cannot play. Lists are longer than a row so filtering
still leaves a full row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, Protocol

RecsModel = Literal["hybrid", "popularity"]
RECS_MODELS: tuple[RecsModel, ...] = ("hybrid", "popularity")
# Titles kept per list: rows show 20, filtering at request time drops some.
LIST_LENGTH = 100
BECAUSE_ANCHORS = 3


@dataclass(frozen=True)
class Because:
    """A "Because you watched <anchor>" row: titles like one the viewer watched."""

    anchor: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class ViewerRecs:
    model: RecsModel  # the model that ranked top_picks (an experiment may choose it)
    model_version: str  # the serving model's version; "" when no model is trained yet
    top_picks: tuple[str, ...]  # best first, titles the viewer has finished removed
    because: tuple[Because, ...]  # newest anchor first, at most BECAUSE_ANCHORS
    genres: tuple[str, ...]  # genre names, the viewer's strongest affinity first
    trending: tuple[str, ...]  # in the viewer's country, best first
    folded_in: bool  # computed at request time rather than read from the precomputed rows

    def to_json(self) -> str:
        return json.dumps(
            {
                "model": self.model,
                "model_version": self.model_version,
                "top_picks": list(self.top_picks),
                "because": [{"anchor": b.anchor, "items": list(b.items)} for b in self.because],
                "genres": list(self.genres),
                "trending": list(self.trending),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes, *, folded_in: bool = False) -> ViewerRecs:
        data = json.loads(text)
        model = data["model"]
        if model not in RECS_MODELS:
            raise ValueError(f"unknown recommendation model {model!r}")
        return cls(
            model=model,
            model_version=str(data["model_version"]),
            top_picks=tuple(str(t) for t in data["top_picks"]),
            because=tuple(
                Because(str(b["anchor"]), tuple(str(t) for t in b["items"]))
                for b in data["because"]
            ),
            genres=tuple(str(g) for g in data["genres"]),
            trending=tuple(str(t) for t in data["trending"]),
            folded_in=folded_in,
        )


class RecsReader(Protocol):
    """The API's one way to get a viewer's lists (implemented in recs/, used by the home)."""

    async def viewer_recs(self, viewer_sub: str, country: str, model: RecsModel) -> ViewerRecs:
        """The viewer's lists for ``model``: precomputed at training time when still fresh,
        folded in from the viewer's latest watching otherwise; a stranger gets trending."""
        ...
