"""Precomputed lists in Redis: the one place that names their keys and fields.

One hash per viewer, ``recs:rows:<viewer pseudonym>``: a field per model (``hybrid``,
``popularity``: ``ViewerRecs.to_json``), ``version`` (the model version that made them)
and ``at`` (Unix seconds: the newest watching they reflect). Written at training time for
active viewers, and after a fold-in at request time, always with a TTL: a viewer idle past
it is folded in again on their next visit rather than kept for ever.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reelflow.recs.viewer_recs import RECS_MODELS, RecsModel, ViewerRecs

ROWS_PREFIX = "recs:rows:"
_AT = "at"
_VERSION = "version"


def rows_key(viewer: str) -> str:
    """The hash of one viewer's lists (the events store's pseudonym, never the account)."""
    return ROWS_PREFIX + viewer


def encode_rows(lists: Mapping[RecsModel, ViewerRecs], version: str, at: float) -> dict[str, str]:
    """The hash fields of a viewer's lists for every model."""
    fields: dict[str, str] = {model: recs.to_json() for model, recs in lists.items()}
    return {**fields, _VERSION: version, _AT: repr(float(at))}


@dataclass(frozen=True)
class CachedRows:
    version: str
    at: float
    lists: dict[RecsModel, str]  # model -> ViewerRecs JSON

    def recs(self, model: RecsModel) -> ViewerRecs | None:
        text = self.lists.get(model)
        return ViewerRecs.from_json(text) if text is not None else None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def decode_rows(raw: Mapping[bytes | str, bytes | str]) -> CachedRows | None:
    """What a hash holds, or None when it is missing or not this code's (then fold in)."""
    fields = {_text(k): _text(v) for k, v in raw.items()}
    try:
        at = float(fields[_AT])
        version = fields[_VERSION]
    except (KeyError, ValueError):
        return None
    lists: dict[RecsModel, str] = {m: fields[m] for m in RECS_MODELS if m in fields}
    return CachedRows(version, at, lists)
