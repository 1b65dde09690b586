"""The recommender's settings (REELFLOW_RECS_*), composed into the one ``Settings``.

Training runs on the control workers from a Temporal schedule; serving runs in the API
(docs/recommendations.md, "Training in production" and "Serving").
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class RecsSettings(BaseModel):
    # How often the schedule trains (hours) and how much history a run reads (days).
    recs_train_every_h: float = Field(default=6.0, gt=0, le=24 * 7)
    recs_history_days: int = Field(default=365, ge=1, le=3650)
    # Viewers with a play this recent get their rows precomputed into Redis at training time.
    recs_active_days: int = Field(default=30, ge=1, le=3650)
    # Precomputed rows live this long (a viewer idle past it is folded in on their next visit).
    recs_rows_ttl_s: int = Field(default=2 * 24 * 3600, ge=60)
    # A candidate is promoted when its nDCG@10 on the holdout is at least the serving model's
    # on the same holdout times (1 - tolerance): noise between two equally good models must
    # not block every promotion, a real drop must.
    recs_promote_tolerance: float = Field(default=0.02, ge=0, lt=1)
    # How often an API process checks which model version serves (seconds).
    recs_model_poll_s: float = Field(default=60.0, gt=0, le=3600)
