"""Versioned recommendation models in the object store, and which one serves.

Each trained version is ``models/<name>/v<N>/``: its arrays and manifest (artifact.py),
then ``metrics.json`` (its evaluation and training facts) written last: a version without
one is a run that died mid-write and is not listed. ``models/<name>/serving.json`` names
the serving version; promote and rollback rewrite it (one small object, so a reader sees
the old or the new pointer, never half of one) and keep the version it replaced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reelflow.recs.artifact import ARRAYS_NAME, MANIFEST_NAME, from_files, to_files
from reelflow.recs.serving_model import ServingModel
from reelflow.storage import ObjectStore
from reelflow.storage.base import ObjectNotFound
from reelflow.storage.layout import (
    model_file_key,
    model_pointer_key,
    models_prefix,
    parse_model_file_key,
)

MODEL_NAME = "hybrid"
METRICS_NAME = "metrics.json"


class UnknownModelVersion(LookupError):
    """No complete version with that number."""


@dataclass(frozen=True)
class ModelVersion:
    version: int
    metrics: dict[str, Any]  # ndcg@10 etc. on the holdout, plus training facts
    serving: bool


@dataclass(frozen=True)
class Pointer:
    version: int
    at: str  # ISO 8601, when it was written
    reason: str  # promoted, rollback
    previous: int | None


class ModelStore:
    def __init__(self, store: ObjectStore, name: str = MODEL_NAME) -> None:
        self.store = store
        self.name = name

    def save(self, model: ServingModel, metrics: dict[str, Any]) -> int:
        """Store ``model`` as the next version (its ``version`` is set to it); its number."""
        version = max(self._complete(), default=0) + 1
        model.version = version
        arrays, manifest = to_files(model)
        self.store.put_bytes(model_file_key(self.name, version, ARRAYS_NAME), arrays)
        self.store.put_bytes(model_file_key(self.name, version, MANIFEST_NAME), manifest)
        body = json.dumps({"version": version, **metrics}, sort_keys=True).encode()
        self.store.put_bytes(model_file_key(self.name, version, METRICS_NAME), body)
        return version

    def _complete(self) -> list[int]:
        found = (parse_model_file_key(self.name, o.key) for o in self.store.list(self._prefix))
        return sorted(p[0] for p in found if p is not None and p[1] == METRICS_NAME)

    @property
    def _prefix(self) -> str:
        return models_prefix(self.name)

    def metrics(self, version: int) -> dict[str, Any]:
        try:
            raw = self.store.get_bytes(model_file_key(self.name, version, METRICS_NAME))
        except ObjectNotFound:
            raise UnknownModelVersion(f"model {self.name} has no version {version}") from None
        loaded: dict[str, Any] = json.loads(raw)
        return loaded

    def versions(self) -> list[ModelVersion]:
        """Every complete version, oldest first."""
        serving = self.pointer()
        current = serving.version if serving else None
        return [ModelVersion(v, self.metrics(v), v == current) for v in self._complete()]

    def pointer(self) -> Pointer | None:
        """The serving pointer; None before any promotion."""
        try:
            raw = json.loads(self.store.get_bytes(model_pointer_key(self.name)))
        except ObjectNotFound:
            return None
        return Pointer(int(raw["version"]), str(raw["at"]), str(raw["reason"]), raw["previous"])

    def serving_version(self) -> int | None:
        pointer = self.pointer()
        return pointer.version if pointer else None

    def promote(self, version: int, reason: str = "promoted") -> Pointer:
        """Make ``version`` the serving one (it must be complete)."""
        self.metrics(version)  # UnknownModelVersion for a version never finished
        pointer = Pointer(version, datetime.now(UTC).isoformat(), reason, self.serving_version())
        body = json.dumps(pointer.__dict__, sort_keys=True).encode()
        self.store.put_bytes(model_pointer_key(self.name), body)
        return pointer

    def rollback(self, version: int) -> Pointer:
        """Serve an earlier (or any complete) version again; the next training run compares
        its candidate with this one."""
        return self.promote(version, reason="rollback")

    def load(self, version: int) -> ServingModel:
        """The version's model (ArtifactError when its files are altered or foreign)."""
        try:
            arrays = self.store.get_bytes(model_file_key(self.name, version, ARRAYS_NAME))
            manifest = self.store.get_bytes(model_file_key(self.name, version, MANIFEST_NAME))
        except ObjectNotFound:
            raise UnknownModelVersion(f"model {self.name} has no version {version}") from None
        model = from_files(arrays, manifest)
        model.version = version
        return model

    def load_serving(self) -> ServingModel | None:
        version = self.serving_version()
        return self.load(version) if version is not None else None
