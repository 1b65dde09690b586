"""Studio quotas (REELFLOW_STUDIO_*), composed into the one ``Settings``.

The defaults hold for every studio; ``reelflow studios quota`` stores a per-studio value
with the studio's row, which wins over these (docs/operations.md, "Studio quotas").
"""

from __future__ import annotations

from pydantic import BaseModel, Field

GIB = 1024**3


class StudioQuotaSettings(BaseModel):
    # Webhook ingests a studio may send, per clock minute and per clock hour (fixed
    # windows in Redis). A burst of a season's episodes fits; a runaway loop does not.
    studio_ingests_per_minute: int = Field(default=30, ge=1, le=100_000)
    studio_ingests_per_hour: int = Field(default=300, ge=1, le=1_000_000)
    # The largest master a studio may upload through a presigned POST: the store itself
    # refuses a bigger body (the POST policy's content-length-range). 5 GiB is what one
    # POST may carry on AWS S3; larger masters come by an https source URL.
    studio_upload_max_bytes: int = Field(default=5 * GIB, ge=1, le=5 * 1024 * GIB)
