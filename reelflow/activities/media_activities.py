"""Media-queue activities: thin, idempotent, heartbeating wrappers over ``reelflow.media``.

``MediaActivities`` is what a media worker registers; its activities live by what they
work on: the master in (``source_activities``: ingest, QC), the video
(``encode_activities``: ladder, chunk encodes, join), and what goes beside it
(``track_activities``: audio, subtitles, thumbnails and artwork). What they share is in
``media_support``.

Every output key is derived from the master's checksum and a hash of the parameters
(``storage.layout``), and an activity that finds its complete output already stored
returns it instead of redoing the work: a retry after a crash never produces a second copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reelflow.activities.encode_activities import EncodeActivities
from reelflow.activities.source_activities import SourceActivities
from reelflow.activities.track_activities import TrackActivities


class MediaActivities(SourceActivities, EncodeActivities, TrackActivities):
    def all(self) -> list[Callable[..., Any]]:
        return [
            self.ingest_master,
            self.run_qc,
            self.analyse_ladder,
            self.encode_chunk,
            self.join_renditions,
            self.encode_audio,
            self.prepare_subtitles,
            self.make_thumbnails,
        ]
