"""Model versions in a real object store: numbered, listed with their metrics, a pointer
naming the serving one; promote, rollback, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelflow.recs.artifact import ArtifactError
from reelflow.recs.model_store import ModelStore, UnknownModelVersion
from reelflow.storage import LocalStore
from reelflow.storage.layout import model_file_key, model_pointer_key, parse_model_file_key
from tests.recs.serving_support import serving_model


@pytest.fixture
def models(tmp_path: Path) -> ModelStore:
    return ModelStore(LocalStore(tmp_path / "objects"))


def test_versions_promote_and_rollback(models: ModelStore) -> None:
    assert models.versions() == [] and models.load_serving() is None
    first = models.save(serving_model(), {"ndcg_at_10": 0.30})
    second = models.save(serving_model(), {"ndcg_at_10": 0.31})
    assert (first, second) == (1, 2)
    assert models.serving_version() is None  # stored is not serving
    models.promote(first)
    pointer = models.promote(second)
    assert (pointer.version, pointer.previous, pointer.reason) == (2, 1, "promoted")
    listed = models.versions()
    assert [(v.version, v.serving, v.metrics["ndcg_at_10"]) for v in listed] == [
        (1, False, 0.30),
        (2, True, 0.31),
    ]
    back = models.rollback(first)
    assert (back.version, back.previous, back.reason) == (1, 2, "rollback")
    served = models.load_serving()
    assert served is not None and served.version == 1


def test_a_version_without_metrics_is_unfinished_and_never_served(models: ModelStore) -> None:
    models.save(serving_model(), {"ndcg_at_10": 0.3})
    models.store.put_bytes(model_file_key("hybrid", 2, "model.npz"), b"half written")
    assert [v.version for v in models.versions()] == [1]
    with pytest.raises(UnknownModelVersion, match="no version 2"):
        models.promote(2)
    assert models.save(serving_model(), {}) == 2  # the next finished version takes the number


def test_altered_files_in_the_store_are_refused_on_load(models: ModelStore) -> None:
    version = models.save(serving_model(), {})
    key = model_file_key("hybrid", version, "model.npz")
    data = models.store.get_bytes(key)
    models.store.put_bytes(key, data[:-1] + bytes([data[-1] ^ 0xFF]))
    with pytest.raises(ArtifactError):
        models.load(version)
    with pytest.raises(UnknownModelVersion):
        models.load(9)


def test_model_keys_come_from_the_layout() -> None:
    assert model_file_key("hybrid", 3, "model.npz") == "models/hybrid/v3/model.npz"
    assert model_pointer_key("hybrid") == "models/hybrid/serving.json"
    assert parse_model_file_key("hybrid", "models/hybrid/v3/metrics.json") == (3, "metrics.json")
    assert parse_model_file_key("hybrid", "models/hybrid/serving.json") is None
    assert parse_model_file_key("hybrid", "models/other/v3/metrics.json") is None
    with pytest.raises(ValueError):
        model_file_key("Hybrid!", 1, "model.npz")
