"""What QC says about a master: the options it checks against, its named pass / warn / fail
checks, the adaptations the encoder must make, and the report that carries them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from reelflow.media.probe import MediaInfo

Status = Literal["pass", "warn", "fail"]


DEFAULT_PIX_FMTS: tuple[str, ...] = (
    "yuv420p",
    "yuvj420p",
    "yuv422p",
    "yuvj422p",
    "yuv444p",
    "yuvj444p",
    "yuv420p10le",
    "yuv422p10le",
    "yuv444p10le",
    "nv12",
    "p010le",
)


UNKNOWN_CODECS = frozenset({"unknown", "none", ""})


STANDARD_RATES = (23.976, 24.0, 25.0, 29.97, 30.0, 47.952, 48.0, 50.0, 59.94, 60.0)


@dataclass(frozen=True)
class QCOptions:
    loudness_target_lufs: float = -23.0
    loudness_tolerance_lu: float = 2.0
    silence_max_s: float = 5.0
    silence_threshold_db: float = -50.0
    black_min_s: float = 0.5
    black_pixel_threshold: float = 0.10
    # Limits on the long and short side, so portrait masters pass like landscape ones.
    min_width: int = 320
    min_height: int = 180
    max_width: int = 7680
    max_height: int = 4320
    allowed_pix_fmts: tuple[str, ...] = DEFAULT_PIX_FMTS
    # Share of frame durations off the nominal (beyond time-base rounding) that makes it VFR.
    vfr_threshold: float = 0.05
    # Share of interlaced frames (idet, one dominant field order) for unflagged sources.
    interlace_threshold: float = 0.5
    decode_timeout_s: float | None = None
    # Decoder errors tolerated (a broadcast capture cut mid-GOP complains once at the start).
    max_decode_errors: int = 0


@dataclass(frozen=True)
class QCCheck:
    name: str
    status: Status
    reason: str
    value: str | float | None = None


@dataclass
class Adaptations:
    """What the encoder must do differently for this master."""

    deinterlace: bool = False
    force_cfr_fps: float | None = None
    rotate_degrees: int = 0  # clockwise; ffmpeg's autorotate applies it on decode
    normalize_loudness: bool = False
    hdr: bool = False
    no_audio: bool = False


@dataclass
class QCReport:
    checks: list[QCCheck] = field(default_factory=list)
    adaptations: Adaptations = field(default_factory=Adaptations)
    media: MediaInfo | None = None

    @property
    def passed(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    @property
    def failures(self) -> list[QCCheck]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def warnings(self) -> list[QCCheck]:
        return [c for c in self.checks if c.status == "warn"]

    def check(self, name: str) -> QCCheck | None:
        return next((c for c in self.checks if c.name == name), None)

    def summary(self) -> str:
        if not self.passed:
            return "failed: " + "; ".join(f"{c.name}: {c.reason}" for c in self.failures)
        if self.warnings:
            return "passed with warnings: " + "; ".join(c.name for c in self.warnings)
        return "passed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "summary": self.summary(),
            "checks": [asdict(c) for c in self.checks],
            "adaptations": asdict(self.adaptations),
            "media": self.media.to_dict() if self.media else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QCReport:
        media = data.get("media")
        return cls(
            checks=[QCCheck(**c) for c in data.get("checks", [])],
            adaptations=Adaptations(**data.get("adaptations", {})),
            media=MediaInfo.from_dict(media) if media else None,
        )
