"""Media-queue activity: package verified renditions with Shaka Packager, then verify.

Clear content keys exist only inside this activity's memory: the workflow passes KIDs, the
activity unseals the keys from the catalog with the master key and drops them when done.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from temporalio.exceptions import ApplicationError

from reelflow.activities.deps import Deps, params_hash
from reelflow.activities.heartbeat import auto_heartbeat, current_progress
from reelflow.catalog import packages as catalog_packages
from reelflow.domain.content_keys import ContentKey
from reelflow.domain.track_classes import TrackClass
from reelflow.keystore.content_keys import KeyPlace, open_key
from reelflow.lifecycle import activity_defs as defs
from reelflow.lifecycle import contracts as c
from reelflow.lifecycle.activity_defs import implements
from reelflow.media.quality import vmaf_ffmpeg
from reelflow.media.watchdog import SubprocessStalled
from reelflow.packaging.errors import PackagingError
from reelflow.packaging.packager import PackageResult, package
from reelflow.packaging.streams import AudioTrack, SubtitleTrack, VideoRendition
from reelflow.packaging.verify import verify_package
from reelflow.packaging.verify_report import VerifyReport
from reelflow.storage import layout


def load_keys(deps: Deps, title_id: str, kids: dict[str, str]) -> dict[TrackClass, ContentKey]:
    """Unseal the title's content keys by KID (only in the caller's memory)."""
    master = deps.settings.secrets().master_keys
    rows = catalog_packages.content_keys_by_kid(deps.engine, title_id, kids.values())
    out: dict[TrackClass, ContentKey] = {}
    for cls, kid_hex in kids.items():
        row = rows.get(kid_hex)
        if row is None:
            raise ApplicationError(f"no content key {kid_hex} for {title_id}", type="KeyMissing")
        kid = bytes.fromhex(kid_hex)
        place = KeyPlace(title_id, row.version, cls)
        key = open_key(row.sealed_key, master_keys=master, kid=kid, place=place)
        out[TrackClass(cls)] = ContentKey(kid=kid, key=key, track_class=TrackClass(cls))
    return out


def _as_requested(info: c.PackageInfo, req: c.PackageRequest, done_key: str) -> c.PackageInfo:
    """The file list inline, or (``files_by_key``) only the key of package.json holding it:
    one entry per segment, which workflow history must not carry for a feature film."""
    full = replace(info, files_key=done_key, file_count=len(info.files))
    return replace(full, files=[]) if req.files_by_key else full


def _language(tagged: str | None, fallback: str) -> str:
    return tagged if tagged and tagged not in ("und", "unk", "mis", "zxx") else fallback


@dataclass(frozen=True)
class PackagerInputs:
    """The renditions as local files, as the packager takes them."""

    videos: list[VideoRendition]
    audios: list[AudioTrack]
    subtitles: list[SubtitleTrack]
    thumbnails_vtt: Path | None


class PackagingActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def all(self) -> list[Callable[..., Any]]:
        return [self.package_title]

    @implements(defs.package_title)
    @auto_heartbeat
    def package_title(self, req: c.PackageRequest) -> c.PackageInfo:
        segment_duration = req.segment_duration or self.deps.settings.segment_duration
        params = {
            "renditions": sorted(r.object_key for r in req.renditions),
            "kids": req.kids,
            "seg": segment_duration,
            "thumbs": req.thumbnails_vtt_key,
        }
        prefix = layout.package_prefix(req.title_id, req.version, params_hash(params))
        done_key = layout.package_done_key(prefix)
        if self.deps.store.exists(done_key):
            cached = c.PackageInfo(**json.loads(self.deps.store.get_bytes(done_key)))
            return _as_requested(cached, req, done_key)
        keys = load_keys(self.deps, req.title_id, req.kids) if req.kids else None
        inputs = self._packager_inputs(req)
        with self.deps.scratch("package") as work:
            out = work / "out"
            out.mkdir()
            result, report = self._package_verified(inputs, out, segment_duration, keys)
            self._upload(prefix, result, out)
        info = c.PackageInfo(
            package_prefix=prefix,
            mpd=result.mpd,
            hls_master=result.hls_master,
            files=list(result.files),
            drm_systems=list(result.drm_systems),
            kids=dict(result.kids),
            representations=[r.as_row() for r in result.representations],
            verify_summary=f"{len(report.checks)} checks passed",
        )
        self.deps.store.put_bytes(done_key, json.dumps(asdict(info)).encode())
        return _as_requested(info, req, done_key)

    def _packager_inputs(self, req: c.PackageRequest) -> PackagerInputs:
        def language(r: c.RenditionInfo) -> str:
            return _language(r.language, req.original_language)

        def of_kind(kind: str) -> list[c.RenditionInfo]:
            return [r for r in req.renditions if r.kind == kind]

        return PackagerInputs(
            videos=[
                VideoRendition(
                    path=self.deps.local_copy(r.object_key),
                    width=r.width or 0,
                    height=r.height or 0,
                    bitrate=(r.bitrate_kbps or 0) * 1000,
                    codec=r.codec or "h264",
                )
                for r in of_kind("video")
            ],
            audios=[
                AudioTrack(
                    path=self.deps.local_copy(r.object_key),
                    language=language(r),
                    channels=r.channels or 2,
                )
                for r in of_kind("audio")
            ],
            subtitles=[
                SubtitleTrack(
                    path=self._local_with_suffix(r.object_key, ".vtt"), language=language(r)
                )
                for r in of_kind("subtitle")
            ],
            thumbnails_vtt=(
                self._local_with_suffix(req.thumbnails_vtt_key, ".vtt")
                if req.thumbnails_vtt_key
                else None
            ),
        )

    def _package_verified(
        self,
        inputs: PackagerInputs,
        out: Path,
        segment_duration: int,
        keys: dict[TrackClass, ContentKey] | None,
    ) -> tuple[PackageResult, VerifyReport]:
        """Shaka Packager into ``out``, then every verification; a package that fails
        either is final (PackageInvalid), a stalled packager is retried."""
        s = self.deps.settings
        progress = current_progress()
        progress.update("package")
        try:
            result = package(
                inputs.videos,
                inputs.audios,
                inputs.subtitles,
                out_dir=out,
                packager=s.binary("packager"),
                segment_duration=segment_duration,
                keys=keys,
                thumbnails_vtt=inputs.thumbnails_vtt,
            )
            progress.update("verify")
            report = verify_package(
                result,
                ffprobe=self.deps.ffprobe,
                ffmpeg_decode=vmaf_ffmpeg(s),
                packager=s.binary("packager"),
                keys=keys,
            )
        except SubprocessStalled:
            raise  # a hung packager is worth a retry, unlike a failed one
        except PackagingError as exc:
            raise ApplicationError(str(exc), type="PackageInvalid", non_retryable=True)
        if not report.passed:
            raise ApplicationError(
                "package failed verification: "
                + "; ".join(f"{f.name}: {f.detail}" for f in report.failures),
                type="PackageInvalid",
                non_retryable=True,
            )
        return result, report

    def _upload(self, prefix: str, result: PackageResult, out: Path) -> None:
        # Thousands of segments for a feature: the count done rides the heartbeat.
        progress = current_progress()
        progress.update("upload package", total=len(result.files), unit="files")
        for n, rel in enumerate(result.files):
            self.deps.store.put_file(layout.package_file_key(prefix, rel), out / rel)
            progress.update(done=n + 1)

    def _local_with_suffix(self, key: str, suffix: str) -> Path:
        # The packager infers formats from file names, and store keys keep their suffixes.
        path = self.deps.local_copy(key)
        if path.suffix == suffix:
            return path
        alias = path.with_name(path.name + suffix)
        if not alias.exists():
            alias.write_bytes(path.read_bytes())
        return alias
