"""License limits per playback session (REELFLOW_LICENSE_*), composed into the one ``Settings``.

docs/drm.md "Licenses" explains what each limit stops and what it cannot.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class LicenseLimitSettings(BaseModel):
    # Distinct DRM clients (CDMs) one session's proxied license requests may come from: the
    # player's own CDM, plus one for a CDM reset or browser restart inside the session. A
    # session's token handed round a crowd brings a CDM per viewer and is refused.
    license_cdms_per_session: int = Field(default=2, ge=1, le=100)
