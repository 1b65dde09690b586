"""The viewer's own order of search results: text relevance fused with their affinity.

``GET /v1/search`` reads more matches than it answers (``SEARCH_POOL``), all of them titles
the viewer may play now (``entitlements.is_offered``), and orders them here:

1. Titles whose name is the query itself (case-insensitive, whitespace collapsed) first, in
   relevance order: whoever types a title's exact name wants that title.
2. The rest by reciprocal rank fusion (Cormack, Clarke and Buettcher, SIGIR 2009: the sum of
   ``1 / (K + rank)`` over the rankings a title is in) of three rankings: the full-text
   relevance, the viewer's top picks (``ViewerRecs.top_picks``), and the viewer's genre
   order (a title ranks by its best genre in ``ViewerRecs.genres``). RRF needs no score
   calibration between a bm25/ts_rank score and a recommender's, and K = 60 is the paper's
   value, which keeps a single ranking from dominating. Ties keep the relevance order.

So two viewers with different histories get the same matches in different orders for an
ambiguous query, and nobody loses an exact hit.
"""

from __future__ import annotations

from collections.abc import Sequence

from reelflow.catalog.search import normalize_query
from reelflow.playback_api.delivery.viewer_catalog import CatalogEntry
from reelflow.recs.viewer_recs import ViewerRecs

# Matches read and re-ranked, whatever the page size: a viewer's favourite can come up from
# this far down the relevance order.
SEARCH_POOL = 50
RRF_K = 60


def _fold(text: str) -> str:
    return normalize_query(text).casefold()


def personal_order(
    query: str, entries: Sequence[CatalogEntry], recs: ViewerRecs
) -> list[CatalogEntry]:
    """``entries`` (relevance order) in the viewer's order, as the module says."""
    wanted = _fold(query)
    pick_rank = {title_id: rank for rank, title_id in enumerate(recs.top_picks)}
    genre_rank = {_fold(genre): rank for rank, genre in enumerate(recs.genres)}

    def fused(relevance: int, entry: CatalogEntry) -> float:
        score = 1.0 / (RRF_K + relevance)
        if (pick := pick_rank.get(entry.id)) is not None:
            score += 1.0 / (RRF_K + pick)
        ranks = [r for g in entry.genres if (r := genre_rank.get(_fold(g))) is not None]
        if ranks:
            score += 1.0 / (RRF_K + min(ranks))
        return score

    exact = [e for e in entries if _fold(e.name) == wanted]
    rest = [(i, e) for i, e in enumerate(entries) if _fold(e.name) != wanted]
    rest.sort(key=lambda item: (-fused(*item), item[0]))
    return [*exact, *(e for _, e in rest)]
