"""What ``RecsTrainingWorkflow`` and its activities exchange, the activities' wire names,
and the promotion rule (pure, so the workflow decides it deterministically).

Sizes and scores only: the history and the model stay in the events store and the object
store, read by the activities that need them. Instants travel as ISO 8601 strings.
"""

from __future__ import annotations

from dataclasses import dataclass

# As they sit in histories: renaming one breaks the replay of a running training.
TRAIN_RECS_MODEL = "train_recs_model"
PROMOTE_RECS_MODEL = "promote_recs_model"
PRECOMPUTE_RECS_ROWS = "precompute_recs_rows"


@dataclass
class TrainingRequest:
    # The instant whose history the run reads (its window ends there); None: the run's start.
    now: str | None = None


@dataclass
class TrainAt:
    now: str  # resolved


@dataclass
class TrainResult:
    version: int | None  # the stored candidate; None when there was nothing to train on
    ndcg: float  # the candidate's nDCG@10 on the whole holdout
    serving_version: int | None  # serving when the run trained
    # Both models' nDCG@10 on the same plays: those held out and newer than the serving
    # model's training (recs/training.py). None: no serving model, or no such play.
    compared_ndcg: float | None
    serving_ndcg: float | None
    tolerance: float  # REELFLOW_RECS_PROMOTE_TOLERANCE when the run trained
    viewers: int
    interactions: int
    skipped: str = ""  # why there is no candidate


@dataclass
class PromoteRequest:
    version: int


@dataclass
class PrecomputeResult:
    version: int | None  # the serving version the lists were computed with
    viewers: int  # active viewers written


@dataclass
class TrainingProgress:
    stage: str = "train"  # train, promote, precompute, done
    version: int | None = None
    promoted: bool | None = None
    decision: str = ""
    viewers_precomputed: int = 0


@dataclass
class TrainingSummary:
    trained: TrainResult
    promoted: bool
    decision: str
    precomputed: PrecomputeResult


def promotion(candidate: float | None, serving: float | None, tolerance: float) -> tuple[bool, str]:
    """Promote unless the candidate's nDCG@10 falls below the serving model's on the same
    plays by more than ``tolerance`` (relative): noise between equal models passes. Nothing
    to compare on (no serving model, or no play newer than it): promoted."""
    if candidate is None or serving is None:
        return True, "promoted: no serving model, or no held-out play newer than it"
    floor = serving * (1.0 - tolerance)
    if candidate >= floor:
        return True, f"nDCG@10 {candidate:.4f} >= {floor:.4f} (serving {serving:.4f})"
    return False, f"nDCG@10 {candidate:.4f} < {floor:.4f} (serving {serving:.4f}): kept serving"
