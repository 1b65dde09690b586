"""A serving model as files: numeric arrays in one ``.npz`` and everything else in JSON.

No pickle anywhere: a write to the object store must never become code execution in the
API or a worker. Arrays are loaded with ``allow_pickle=False`` (an object array is
refused), the manifest is plain JSON, and the manifest holds the SHA-256 of the arrays,
so an arrays file swapped or altered after training is refused before it is parsed.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict
from typing import Any

import numpy as np
import scipy.sparse as sp

from reelflow.recs.hybrid_parts import Blend, HybridParts
from reelflow.recs.interactions import Dataset, ItemCatalog
from reelflow.recs.serving_model import ServingModel

FORMAT = 1
ARRAYS_NAME = "model.npz"
MANIFEST_NAME = "manifest.json"
_SPARSE = ("features", "fill")
_DENSE = {
    "warm": np.int64,
    "weights": np.float32,
    "trending": np.float64,
    "cold": np.int64,
    "popularity": np.float64,
    "by_country": np.float64,
}


class ArtifactError(ValueError):
    """A model version's files are missing, altered or not what this code writes."""


def to_files(model: ServingModel) -> tuple[bytes, bytes]:
    """(arrays, manifest) of the model."""
    parts = model.parts
    countries = sorted(model.by_country)
    n_items = len(model.item_ids)
    by_country = np.array([model.by_country[c] for c in countries]).reshape(-1, n_items)
    arrays: dict[str, np.ndarray] = {
        "warm": parts.warm.astype(np.int64),
        "weights": parts.weights.astype(np.float32),
        "trending": parts.trending.astype(np.float64),
        "cold": parts.cold.astype(np.int64),
        "popularity": model.popularity.astype(np.float64),
        "by_country": by_country.astype(np.float64),
    }
    for name in _SPARSE:
        matrix = sp.csr_matrix(getattr(parts, name))
        arrays[f"{name}_data"] = matrix.data.astype(np.float64)
        arrays[f"{name}_indices"] = matrix.indices.astype(np.int64)
        arrays[f"{name}_indptr"] = matrix.indptr.astype(np.int64)
        arrays[f"{name}_shape"] = np.array(matrix.shape, dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    data = buffer.getvalue()
    meta = parts.data.meta
    manifest = {
        "format": FORMAT,
        "version": model.version,
        "trained_until": model.trained_until,
        "arrays_sha256": hashlib.sha256(data).hexdigest(),
        "item_ids": list(model.item_ids),
        "titles": list(meta.titles),
        "genres": [list(g) for g in meta.genres],
        "years": [None if np.isnan(y) else int(y) for y in meta.years.tolist()],
        "languages": list(meta.languages),
        "cast": [list(c) for c in meta.cast],
        "countries": countries,
        "blend": asdict(model.blend),
    }
    return data, json.dumps(manifest, separators=(",", ":")).encode()


def from_files(arrays: bytes, manifest_bytes: bytes) -> ServingModel:
    """The model the two files hold; ArtifactError when they are not this code's files."""
    try:
        manifest = json.loads(manifest_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"the manifest is not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"the manifest is not format {FORMAT}")
    if hashlib.sha256(arrays).hexdigest() != manifest.get("arrays_sha256"):
        raise ArtifactError("the arrays do not match the manifest's SHA-256: altered or swapped")
    try:
        with np.load(io.BytesIO(arrays), allow_pickle=False) as npz:
            loaded = {name: npz[name] for name in npz.files}
        return _model(manifest, loaded)
    except (KeyError, TypeError, ValueError, OSError) as exc:
        # ValueError includes numpy's refusal of an object (pickled) array.
        raise ArtifactError(f"the model files are not usable: {exc}") from None


def _sparse(loaded: dict[str, np.ndarray], name: str) -> sp.csr_matrix:
    shape = tuple(int(x) for x in loaded[f"{name}_shape"])
    matrix = (loaded[f"{name}_data"], loaded[f"{name}_indices"], loaded[f"{name}_indptr"])
    return sp.csr_matrix(matrix, shape=shape)


def _model(manifest: dict[str, Any], loaded: dict[str, np.ndarray]) -> ServingModel:
    for name, dtype in _DENSE.items():
        if loaded[name].dtype != dtype:
            raise ArtifactError(f"array {name} is {loaded[name].dtype}, not {np.dtype(dtype)}")
    item_ids = tuple(str(i) for i in manifest["item_ids"])
    n_items = len(item_ids)
    catalog = ItemCatalog(
        ids=item_ids,
        titles=tuple(str(t) for t in manifest["titles"]),
        genres=tuple(tuple(str(g) for g in gs) for gs in manifest["genres"]),
        years=tuple(None if y is None else int(y) for y in manifest["years"]),
        languages=tuple(None if x is None else str(x) for x in manifest["languages"]),
        cast=tuple(tuple(str(c) for c in cs) for cs in manifest["cast"]),
    )
    empty = np.zeros(0, dtype=np.int64)
    data = Dataset(
        user_ids=(),
        item_ids=item_ids,
        users=empty,
        items=empty,
        times=empty,
        weights=np.zeros(0),
        meta=catalog.aligned(item_ids),
    )
    warm, cold = loaded["warm"], loaded["cold"]
    parts = HybridParts(
        data=data,
        warm=warm,
        weights=loaded["weights"],
        features=_sparse(loaded, "features"),
        trending=loaded["trending"],
        cold=cold,
        fill=_sparse(loaded, "fill"),
    )
    by_country = loaded["by_country"]
    countries = [str(c) for c in manifest["countries"]]
    _check_shapes(parts, loaded["popularity"], by_country, len(countries), n_items)
    return ServingModel(
        version=int(manifest["version"]),
        parts=parts,
        blend=Blend(**manifest["blend"]),
        popularity=loaded["popularity"],
        by_country={c: by_country[n] for n, c in enumerate(countries)},
        trained_until=int(manifest["trained_until"]),
    )


def _check_shapes(
    parts: HybridParts, popularity: np.ndarray, by_country: np.ndarray, countries: int, n: int
) -> None:
    """Every array sized for the item universe the manifest names, indices inside it."""
    warm, cold = len(parts.warm), len(parts.cold)
    wanted = {
        "weights": (parts.weights.shape, (warm, warm)),
        "features": (parts.features.shape[:1], (n,)),
        "fill": (parts.fill.shape, (cold, warm)),
        "trending": (parts.trending.shape, (n,)),
        "popularity": (popularity.shape, (n,)),
        "by_country": (by_country.shape, (countries, n)),
    }
    for name, (got, want) in wanted.items():
        if tuple(got) != want:
            raise ArtifactError(f"array {name} has shape {tuple(got)}, expected {want}")
    for name, index in (("warm", parts.warm), ("cold", parts.cold)):
        if len(index) and (index.min() < 0 or index.max() >= n):
            raise ArtifactError(f"array {name} indexes outside the {n} items")
