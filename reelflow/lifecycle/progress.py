"""A title's overall progress from its workflow's ``status`` query (CLI bar, studio API)."""

from __future__ import annotations

from reelflow.lifecycle import contracts as c

# Rough share of a title's wall time per stage; the bar reaches 100 % only at publication.
STAGE_WEIGHTS = {
    "ingest": 5,
    "qc": 10,
    "approval": 1,
    "analyse": 15,
    "encode": 50,
    "audio": 6,
    "subtitles": 1,
    "thumbnails": 5,
    # 100 % only once the title is published, not when the last rendition is made.
    "keys": 1,
    "package": 4,
    "publish": 2,
}


def overall_percent(status: c.TitleStatus) -> float:
    total = sum(STAGE_WEIGHTS.values())
    got = 0.0
    for st in status.stages:
        w = STAGE_WEIGHTS.get(st.name, 0)
        if st.state in ("done", "skipped"):
            got += w
        elif st.state == "running":
            got += w * st.progress / 100.0
    return round(100.0 * got / total, 1)
