"""A serving model as files: the round trip scores the same, and files that were altered,
swapped or pickled are refused before anything in them runs."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest

from reelflow.recs.artifact import ArtifactError, from_files, to_files
from reelflow.recs.serving_model import Viewing
from tests.recs import synthetic
from tests.recs.serving_support import serving_model


def test_a_model_round_trips_through_its_files() -> None:
    model = serving_model()
    arrays, manifest = to_files(model)
    loaded = from_files(arrays, manifest)
    assert loaded.item_ids == model.item_ids
    history = [Viewing(synthetic.item_id(2, n), 1_700_000_000 + n, 1.0) for n in range(3)]
    assert loaded.recs(history, "FR") == model.recs(history, "FR")
    assert loaded.parts.data.meta.genres == model.parts.data.meta.genres


def test_altered_arrays_are_refused() -> None:
    arrays, manifest = to_files(serving_model())
    tampered = arrays[:-10] + bytes(10)
    with pytest.raises(ArtifactError, match="SHA-256"):
        from_files(tampered, manifest)
    with pytest.raises(ArtifactError, match="not JSON"):
        from_files(arrays, b"\x80not json")


def test_a_pickled_array_is_refused_even_with_a_matching_digest() -> None:
    """Someone with write access to the store rewrites both files: the object array (a
    pickle inside the npz) is still never unpickled."""
    arrays, manifest = to_files(serving_model())
    with np.load(io.BytesIO(arrays), allow_pickle=False) as npz:
        content = {name: npz[name] for name in npz.files}
    content["trending"] = np.array([{"boom": 1}], dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **content)  # allow_pickle defaults to True when saving
    evil = buffer.getvalue()
    doctored = json.loads(manifest)
    doctored["arrays_sha256"] = hashlib.sha256(evil).hexdigest()
    with pytest.raises(ArtifactError, match="not usable"):
        from_files(evil, json.dumps(doctored).encode())


def test_arrays_of_the_wrong_shape_are_refused() -> None:
    arrays, manifest = to_files(serving_model())
    doctored = json.loads(manifest)
    doctored["item_ids"] = doctored["item_ids"][:-1]  # one item fewer than the arrays hold
    for key in ("titles", "genres", "years", "languages", "cast"):
        doctored[key] = doctored[key][:-1]
    with pytest.raises(ArtifactError, match="shape"):
        from_files(arrays, json.dumps(doctored).encode())
