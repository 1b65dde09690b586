"""Plan GOP-aligned encode chunks over a title.

Chunk boundaries fall on segment boundaries (and so on GOP boundaries, since a segment is
a whole number of GOPs), so each chunk can be encoded on its own and the chunks joined
with stream copy: every chunk starts with a closed-GOP keyframe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from reelflow.media.errors import MediaError

DEFAULT_TARGET_CHUNK_S = 60.0


class ChunkPlanError(MediaError, ValueError):
    """The title duration or the chunk parameters cannot give a chunk plan."""


@dataclass(frozen=True)
class Chunk:
    index: int
    start_s: float
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "start_s": self.start_s, "duration_s": self.duration_s}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        return cls(int(data["index"]), float(data["start_s"]), float(data["duration_s"]))


def plan_chunks(
    duration_s: float,
    *,
    segment_s: float = 6.0,
    chunk_segments: int | None = None,
    target_chunk_s: float = DEFAULT_TARGET_CHUNK_S,
    min_last_chunk_s: float | None = None,
) -> list[Chunk]:
    """Split ``duration_s`` into chunks whose length is a whole number of segments.

    ``chunk_segments`` fixes the chunk length in segments; otherwise it is the number of
    segments closest to ``target_chunk_s`` (at least one). A title no longer than one chunk
    is a single chunk. The last chunk takes the remainder; a remainder shorter than
    ``min_last_chunk_s`` (default: one segment) is merged into the previous chunk, so no
    chunk is a sliver that costs a process start for a fraction of a second.
    """
    if not math.isfinite(duration_s) or duration_s <= 0:
        raise ChunkPlanError(f"duration must be a positive number of seconds, got {duration_s}")
    if not math.isfinite(segment_s) or segment_s <= 0:
        raise ChunkPlanError(f"segment duration must be positive, got {segment_s}")
    if chunk_segments is None:
        if target_chunk_s <= 0:
            raise ChunkPlanError(f"target chunk length must be positive, got {target_chunk_s}")
        chunk_segments = max(1, round(target_chunk_s / segment_s))
    elif chunk_segments < 1:
        raise ChunkPlanError(f"chunk_segments must be at least 1, got {chunk_segments}")
    chunk_s = chunk_segments * segment_s
    min_last = segment_s if min_last_chunk_s is None else min_last_chunk_s

    # Count whole chunks with a small tolerance: a 12.0000001 s title with 6 s chunks is
    # two chunks, not two plus a microsecond.
    eps = 1e-6
    n_full = max(1, math.floor(duration_s / chunk_s + eps))
    starts = [float(i * chunk_s) for i in range(n_full)]
    remainder = duration_s - n_full * chunk_s
    if remainder > eps and remainder >= min_last:
        starts.append(float(n_full * chunk_s))
    chunks: list[Chunk] = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else duration_s
        chunks.append(Chunk(index=i, start_s=start, duration_s=end - start))
    return chunks
