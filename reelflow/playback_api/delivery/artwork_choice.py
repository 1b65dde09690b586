"""The artwork bandit (recs/artwork_bandit.py) where the catalog meets it.

A catalog answer's signed artwork link names the viewer's candidate (``"a"`` in the signed
value; absent for candidate 0, so such a link is byte for byte the link of before); the
artwork endpoint serves that candidate and counts a poster fetch as its impression; a
title's detail answer counts a click on the candidate its viewer is being shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reelflow.domain.artwork import MAX_ARTWORK_CANDIDATES, candidate_count, candidate_paths
from reelflow.recs.artwork_bandit import ArtworkChooser

Artwork = Mapping[str, Sequence[str]]


def link_choice(
    chooser: ArtworkChooser, viewer_sub: str, title_id: str, artwork: Artwork
) -> dict[str, int]:
    """What the signed link adds for this viewer: ``{"a": n}`` for a candidate n > 0."""
    count = candidate_count(artwork, "poster")
    if not viewer_sub or count <= 1:
        return {}
    choice = chooser.choose(viewer_sub, title_id, count)
    return {"a": choice} if choice else {}


def signed_candidate(value: Mapping[str, Any]) -> int | None:
    """The candidate a signed link value names (0 when none); None if it is not one."""
    candidate = value.get("a", 0)
    if type(candidate) is not int or not 0 <= candidate < MAX_ARTWORK_CANDIDATES:
        return None
    return candidate


async def served_paths(
    chooser: ArtworkChooser, title_id: str, artwork: Artwork, kind: str, candidate: int
) -> list[str]:
    """The images to serve for a link naming ``candidate`` (largest first), counting a poster
    fetch as an impression of what is served. A candidate the live version no longer has
    falls back to candidate 0."""
    paths = candidate_paths(artwork, kind, candidate)
    if not paths:
        candidate, paths = 0, candidate_paths(artwork, kind, 0)
    if paths and kind == "poster" and candidate_count(artwork, kind) > 1:
        await chooser.refresh_if_stale()
        await chooser.record_impression(title_id, candidate)
    return paths


async def count_click(
    chooser: ArtworkChooser, viewer_sub: str, title_id: str, artwork: Artwork
) -> None:
    """Opening a title is a click on the candidate its viewer is being shown."""
    count = candidate_count(artwork, "poster")
    if count > 1:
        await chooser.refresh_if_stale()
        shown = chooser.choose(viewer_sub, title_id, count)
        await chooser.record_click(viewer_sub, title_id, shown)
