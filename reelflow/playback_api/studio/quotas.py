"""A studio's quotas: webhook ingests per minute and per hour, and the largest upload.

Each is the studio's own value when ops set one (``reelflow studios quota``), else the
REELFLOW_STUDIO_* default. The ingest rate is counted in Redis (fixed clock windows,
``SessionStore.hit_rate_limit``), before anything is claimed or started, so an ingest
refused with 429 leaves nothing behind. The upload size is enforced by the store itself:
the presigned POST's policy carries it as a content-length-range (routes/studio.py).
"""

from __future__ import annotations

from reelflow.catalog.models import Studio
from reelflow.config import Settings
from reelflow.playback_api.http.context import ApiContext


def ingests_per_minute(settings: Settings, studio: Studio) -> int:
    return studio.ingests_per_minute or settings.studio_ingests_per_minute


def ingests_per_hour(settings: Settings, studio: Studio) -> int:
    return studio.ingests_per_hour or settings.studio_ingests_per_hour


def upload_max_bytes(settings: Settings, studio: Studio) -> int:
    return studio.max_upload_bytes or settings.studio_upload_max_bytes


async def count_ingest(ctx: ApiContext, studio: Studio) -> None:
    """Count one ingest against the studio's quotas; 429 rate_limited with Retry-After
    (the seconds left in the window that is full) past either."""
    bucket = f"studio-ingest:{studio.id}"
    await ctx.sessions.hit_rate_limit(bucket, ingests_per_minute(ctx.settings, studio), 60)
    await ctx.sessions.hit_rate_limit(bucket, ingests_per_hour(ctx.settings, studio), 3600)
