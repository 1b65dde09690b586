"""Artwork candidates: how the extra poster/backdrop frames of a title are named and found.

The thumbnail step keeps the best few distinct frames of a master. Candidate 0 is the
title's artwork as it always was (``poster_600x900.jpg`` ... under the package's artwork map
entries ``"poster"`` and ``"backdrop"``); candidates 1.. are the same sizes named
``c<n>_poster_600x900.jpg`` and listed together, largest first per kind, under the map's
``"candidates"`` entry. A reader that knows nothing of candidates sees exactly the old map.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

MAX_ARTWORK_CANDIDATES = 3  # candidate 0 and two alternates
CANDIDATES_ENTRY = "candidates"
_CANDIDATE_NAME = re.compile(r"^c([1-9])_([a-z]+)_")


def candidate_file_name(n: int, filename: str) -> str:
    """The file name of candidate ``n`` for a candidate-0 ``filename`` (0 keeps it as is)."""
    if not 0 <= n < MAX_ARTWORK_CANDIDATES:
        raise ValueError(f"artwork candidate {n} is not 0-{MAX_ARTWORK_CANDIDATES - 1}")
    return filename if n == 0 else f"c{n}_{filename}"


def _parts(path: str) -> tuple[int, str] | None:
    match = _CANDIDATE_NAME.match(path.rsplit("/", 1)[-1])
    return (int(match.group(1)), match.group(2)) if match else None


def candidate_count(artwork: Mapping[str, Sequence[str]], kind: str) -> int:
    """How many candidates of ``kind`` a package's artwork map holds (0 without any art)."""
    if not artwork.get(kind):
        return 0
    extra = {p[0] for path in artwork.get(CANDIDATES_ENTRY, ()) if (p := _parts(path))}
    count = 1
    while count in extra and count < MAX_ARTWORK_CANDIDATES:
        count += 1  # only a gap-free run counts: candidate n exists for every n < count
    return count


def candidate_paths(artwork: Mapping[str, Sequence[str]], kind: str, n: int) -> list[str]:
    """Candidate ``n``'s images of ``kind``, largest first; candidate 0 is ``artwork[kind]``.
    Empty when the map has no such candidate."""
    if n == 0:
        return list(artwork.get(kind, ()))
    return [p for p in artwork.get(CANDIDATES_ENTRY, ()) if _parts(p) == (n, kind)]
