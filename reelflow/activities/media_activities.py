"""Media-queue activities: thin, idempotent, heartbeating wrappers over ``reelflow.media``.

Every output key is derived from the master's checksum and a hash of the parameters, and
an activity that finds its complete output already stored returns it instead of redoing
the work: a retry after a crash never produces a second copy.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from temporalio.exceptions import ApplicationError

from reelflow.activities.deps import Deps, params_hash
from reelflow.activities.heartbeat import auto_heartbeat, current_progress, upload
from reelflow.catalog import assets as catalog_assets
from reelflow.catalog import titles
from reelflow.catalog.models import Rendition
from reelflow.ingest.sources import BadSource, SourceTooLarge, TransientSourceError, fetch_to
from reelflow.lifecycle import activity_defs as defs
from reelflow.lifecycle import contracts as c
from reelflow.lifecycle.activity_defs import implements
from reelflow.media.chunks import Chunk, plan_chunks
from reelflow.media.encode import (
    EncodeAdaptations,
    chunk_frames,
    encode_chunk,
    join_chunks,
    verify_rendition,
)
from reelflow.media.errors import FFmpegError, MediaError
from reelflow.media.ladder import Ladder, LadderOptions, apple_fixed_ladder
from reelflow.media.ladder_analysis import analyse_per_title
from reelflow.media.probe import probe
from reelflow.media.qc import run_qc
from reelflow.media.qc_report import QCOptions
from reelflow.media.quality import vmaf_ffmpeg
from reelflow.storage import layout


def _heartbeat(stage: str) -> Callable[[float], None]:
    return current_progress().fraction(stage)


def worker_identity() -> str:
    """This process as Temporal names its workers by default (the history's identity)."""
    return f"{os.getpid()}@{socket.gethostname()}"


def _bad_media(exc: Exception) -> ApplicationError:
    return ApplicationError(str(exc), type="BadMedia", non_retryable=True)


@contextmanager
def bad_input_is_final(*also: type[Exception]) -> Iterator[None]:
    """A media error about the input (or one of ``also``) can't be fixed by a retry: make it
    a non-retryable BadMedia. A failed ffmpeg run may be transient and stays retryable."""
    final: tuple[type[Exception], ...] = (MediaError, *also)
    try:
        yield
    except FFmpegError:
        raise
    except final as exc:
        raise _bad_media(exc) from exc


class MediaActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

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

    # ------------------------------------------------------------------ ingest
    @implements(defs.ingest_master)
    @auto_heartbeat
    def ingest_master(self, req: c.IngestRequest) -> c.IngestResult:
        s = self.deps.settings
        with self.deps.scratch("ingest") as work:
            try:
                fetched = fetch_to(
                    req.source,
                    work / "master",
                    progress=current_progress().bytes("fetch master"),
                    store=self.deps.store,
                    max_bytes=s.ingest_max_bytes,
                    timeout_s=s.ingest_timeout_s,
                    public_only=req.public_only,
                    studio_id=req.studio_id,
                    # Outside the scratch dir, which goes with this attempt: a retry
                    # resumes the partial instead of starting over.
                    resume_dir=self.deps.work_root / "partial",
                )
            except SourceTooLarge as exc:
                raise ApplicationError(str(exc), type="SourceTooLarge", non_retryable=True)
            except BadSource as exc:
                raise ApplicationError(str(exc), type="BadSource", non_retryable=True)
            except TransientSourceError as exc:
                raise ApplicationError(str(exc), type="SourceUnavailable")
            key = layout.master_key(req.title_id, fetched.sha256)
            reused = self.deps.store.exists(key)
            if not reused:
                upload(self.deps.store, key, fetched.path, step="store master")
        catalog_assets.record_asset(
            self.deps.engine,
            title_id=req.title_id,
            version=req.version,
            master_key=key,
            sha256=fetched.sha256,
            size_bytes=fetched.size_bytes,
        )
        return c.IngestResult(key, fetched.sha256, fetched.size_bytes, reused)

    # ------------------------------------------------------------------ QC
    @implements(defs.run_qc)
    @auto_heartbeat
    def run_qc(self, req: c.QCRequest) -> c.QCResult:
        s = self.deps.settings
        master = self.deps.local_copy(req.master_key)
        options = QCOptions(
            loudness_target_lufs=s.loudness_target_lufs,
            loudness_tolerance_lu=s.loudness_tolerance_lu,
        )
        report = run_qc(
            master,
            ffmpeg=self.deps.ffmpeg,
            ffprobe=self.deps.ffprobe,
            options=options,
            on_progress=_heartbeat("qc"),
        )
        doc = report.to_dict()
        report_key = layout.qc_report_key(req.title_id, req.sha256, params_hash(asdict(options)))
        self.deps.store.put_bytes(report_key, json.dumps(doc, indent=1).encode())
        catalog_assets.record_qc(
            self.deps.engine,
            title_id=req.title_id,
            version=req.version,
            passed=report.passed,
            warnings=len(report.warnings),
            report=doc,
        )
        info = report.media
        video = info.video if info else None
        width, height = video.display_size if video else (0, 0)
        if info is not None:
            catalog_assets.record_asset(
                self.deps.engine,
                title_id=req.title_id,
                version=req.version,
                master_key=req.master_key,
                sha256=req.sha256,
                size_bytes=info.size_bytes,
                probe=info.to_dict(),
            )
            if info.duration_s:
                # The catalog, the player's progress bar and "continue watching" need it.
                titles.set_duration(
                    self.deps.engine, req.title_id, info.duration_s, version=req.version
                )
        adapt = report.adaptations
        fps = adapt.force_cfr_fps or (video.avg_fps or video.fps if video else 0.0)
        return c.QCResult(
            passed=report.passed,
            summary=report.summary(),
            failures=[f"{ch.name}: {ch.reason}" for ch in report.failures],
            warnings=[f"{ch.name}: {ch.reason}" for ch in report.warnings],
            report_key=report_key,
            adaptations=asdict(adapt),
            duration_s=info.duration_s if info else 0.0,
            width=width,
            height=height,
            fps=float(fps or 0.0),
            has_audio=bool(info and info.has_audio),
        )

    # ------------------------------------------------------------------ ladder
    @implements(defs.analyse_ladder)
    @auto_heartbeat
    def analyse_ladder(self, req: c.AnalyseRequest) -> c.LadderResult:
        s = self.deps.settings
        params = {"method": req.method, "codec": req.codec, "max_kbps": req.max_kbps}
        key = layout.ladder_key(req.title_id, req.sha256, params_hash(params))
        if self.deps.store.exists(key):
            ladder = Ladder.from_dict(json.loads(self.deps.store.get_bytes(key)))
        else:
            master = self.deps.local_copy(req.master_key)
            info = probe(master, ffprobe=self.deps.ffprobe)
            if info.video is None:
                raise _bad_media(ValueError("master has no video stream"))
            w, h = info.video.display_size
            with bad_input_is_final(ValueError):
                if req.method == "fixed":
                    ladder = apple_fixed_ladder(w, h, codec=req.codec)  # type: ignore[arg-type]
                else:
                    with self.deps.scratch("analyse") as work:
                        ladder = analyse_per_title(
                            master,
                            info,
                            ffmpeg=self.deps.ffmpeg,
                            ffmpeg_vmaf=vmaf_ffmpeg(s),
                            options=LadderOptions(
                                codec=req.codec,  # type: ignore[arg-type]
                                max_kbps=req.max_kbps,
                                exclude=tuple((a, b) for a, b in req.exclude),
                            ),
                            on_progress=_heartbeat("analyse"),
                            work_dir=work,
                        )
            self.deps.store.put_bytes(key, json.dumps(ladder.to_dict()).encode())
        if req.alongside:
            catalog_assets.record_alongside_ladder(
                self.deps.engine,
                title_id=req.title_id,
                version=req.version,
                codec=req.codec,
                ladder=ladder.to_dict(),
            )
        else:
            catalog_assets.record_ladder(
                self.deps.engine,
                title_id=req.title_id,
                version=req.version,
                method=ladder.method,
                metric=ladder.metric or "none",
                ladder=ladder.to_dict(),
            )
        chunks = plan_chunks(req.duration_s, segment_s=float(s.segment_duration))
        specs = [c.ChunkSpec(ch.index, ch.start_s, ch.duration_s) for ch in chunks]
        plan_key = ""
        if req.plan_by_key:  # the plan grows with the duration: it stays out of history
            plan_key = layout.chunk_plan_key(
                req.title_id,
                req.sha256,
                params_hash(params),
                params_hash({"duration": req.duration_s, "seg": s.segment_duration}),
            )
            self.deps.store.put_bytes(
                plan_key, json.dumps([ch.to_dict() for ch in chunks]).encode()
            )
        return c.LadderResult(
            ladder_key=key,
            method=ladder.method,
            metric=ladder.metric,
            rungs=[
                c.RungSpec(r.name, r.width, r.height, r.bitrate_kbps, r.codec) for r in ladder.rungs
            ],
            chunks=[] if plan_key else specs,
            chunk_plan_key=plan_key,
            chunk_count=len(specs),
        )

    def _ladder(self, key: str) -> Ladder:
        return Ladder.from_dict(json.loads(self.deps.store.get_bytes(key)))

    def _chunk(self, req: c.EncodeChunkRequest) -> Chunk:
        """The request's chunk, given inline or as an index into the stored plan."""
        if req.chunk is not None:
            return Chunk(req.chunk.index, req.chunk.start_s, req.chunk.duration_s)
        plan = json.loads(self.deps.store.get_bytes(req.chunk_plan_key))
        return Chunk.from_dict(plan[req.chunk_index])

    @staticmethod
    def _rendition_prefix(
        title_id: str, sha256: str, ladder_key: str, fps: float, adaptations: dict[str, Any]
    ) -> str:
        h = params_hash({"ladder": ladder_key, "fps": fps, "adapt": adaptations})
        return layout.rendition_prefix(title_id, sha256, h)

    # ------------------------------------------------------------------ encode
    @implements(defs.encode_chunk)
    @auto_heartbeat
    def encode_chunk(self, req: c.EncodeChunkRequest) -> c.EncodeChunkResult:
        ladder = self._ladder(req.ladder_key)
        prefix = self._rendition_prefix(
            req.title_id, req.sha256, req.ladder_key, req.fps, req.adaptations
        )
        chunk = self._chunk(req)
        keys = {r.name: layout.chunk_part_key(prefix, chunk.index, r.name) for r in ladder.rungs}
        if all(self.deps.store.exists(k) for k in keys.values()):
            return c.EncodeChunkResult(
                chunk.index, keys, reused=True, parts_prefix=prefix, worker=worker_identity()
            )
        master = self.deps.local_copy(req.master_key)
        adapt = EncodeAdaptations(
            deinterlace=bool(req.adaptations.get("deinterlace")),
            rotation=int(req.adaptations.get("rotate_degrees") or 0),
            # HDR masters are tone-mapped to SDR only when the title asked for it.
            tonemap=bool(req.adaptations.get("hdr")) and bool(req.adaptations.get("tone_map")),
        )
        with self.deps.scratch(f"chunk{chunk.index}") as work:
            with bad_input_is_final():
                outputs = encode_chunk(
                    master,
                    chunk,
                    ladder,
                    work,
                    ffmpeg=self.deps.ffmpeg,
                    fps=req.fps,
                    gop_s=float(self.deps.settings.gop_seconds),
                    adaptations=adapt,
                    on_progress=_heartbeat(f"encode chunk {chunk.index}"),
                )
            for name, path in outputs.items():
                upload(self.deps.store, keys[name], path)
        return c.EncodeChunkResult(
            chunk.index, keys, reused=False, parts_prefix=prefix, worker=worker_identity()
        )

    @implements(defs.join_renditions)
    @auto_heartbeat
    def join_renditions(self, req: c.JoinRequest) -> list[c.RenditionInfo]:
        ladder = self._ladder(req.ladder_key)
        if req.chunk_results:  # every chunk's keys, from a run before parts_prefix
            first = req.chunk_results[0].parts[ladder.rungs[0].name]
            prefix = layout.parts_prefix_of(first)
            parts_of = {
                rung.name: [r.parts[rung.name] for r in req.chunk_results] for rung in ladder.rungs
            }
        else:
            prefix = req.parts_prefix
            parts_of = {
                rung.name: [
                    layout.chunk_part_key(prefix, i, rung.name) for i in range(req.chunk_count)
                ]
                for rung in ladder.rungs
            }
        gop_s = float(self.deps.settings.gop_seconds)
        expected_frames = chunk_frames(Chunk(0, 0.0, req.duration_s), req.fps)
        out: list[c.RenditionInfo] = []
        for rung in ladder.rungs:
            key = layout.rendition_key(prefix, rung.name)
            if not self.deps.store.exists(key):
                with self.deps.scratch(f"join-{rung.name}") as work:
                    parts = [self.deps.local_copy(key) for key in parts_of[rung.name]]
                    joined = join_chunks(
                        parts,
                        work / f"{rung.name}.mp4",
                        ffmpeg=self.deps.ffmpeg,
                        duration_s=req.duration_s,
                        on_progress=_heartbeat(f"join {rung.name}"),
                    )
                    current_progress().update(f"verify {rung.name}")
                    check = verify_rendition(
                        joined,
                        ffprobe=self.deps.ffprobe,
                        expected_duration_s=req.duration_s,
                        expected_frames=expected_frames,
                        gop_s=gop_s,
                        fps=req.fps,
                    )
                    if not check.ok:
                        raise ApplicationError(
                            f"rendition {rung.name} failed verification: "
                            + "; ".join(check.problems),
                            type="RenditionInvalid",
                        )
                    upload(self.deps.store, key, joined)
            info = c.RenditionInfo(
                name=rung.name,
                kind="video",
                object_key=key,
                codec=rung.codec,
                width=rung.width,
                height=rung.height,
                bitrate_kbps=rung.bitrate_kbps,
            )
            self._record(req.title_id, req.version, info)
            out.append(info)
        return out

    def _record(self, title_id: str, version: int, info: c.RenditionInfo) -> None:
        catalog_assets.upsert_rendition(
            self.deps.engine,
            Rendition(title_id=title_id, version=version, **asdict(info)),
        )

    # ------------------------------------------------------------------ audio
    @implements(defs.encode_audio)
    @auto_heartbeat
    def encode_audio(self, req: c.AudioRequest) -> list[c.RenditionInfo]:
        from reelflow.media.audio import encode_audio

        s = self.deps.settings
        prefix = layout.audio_prefix(
            req.title_id, req.sha256, params_hash({"audio": 1, "norm": req.normalize})
        )
        manifest_key = layout.audio_tracks_key(prefix)
        if self.deps.store.exists(manifest_key):
            tracks = [
                c.RenditionInfo(**t) for t in json.loads(self.deps.store.get_bytes(manifest_key))
            ]
        else:
            master = self.deps.local_copy(req.master_key)
            info = probe(master, ffprobe=self.deps.ffprobe)
            tracks = []
            with self.deps.scratch("audio") as work:
                current_progress().update("audio encode")
                with bad_input_is_final():
                    encoded = encode_audio(
                        master,
                        work,
                        ffmpeg=self.deps.ffmpeg,
                        info=info,
                        normalize=req.normalize,
                        target_lufs=s.loudness_target_lufs,
                    )
                for t in encoded:
                    key = layout.audio_track_key(prefix, Path(t.path).name)
                    upload(self.deps.store, key, Path(t.path))
                    tracks.append(
                        c.RenditionInfo(
                            name=Path(t.path).stem,
                            kind="audio",
                            object_key=key,
                            codec=t.codec,
                            bitrate_kbps=t.bitrate_kbps,
                            language=t.language,
                            channels=t.channels,
                        )
                    )
            self.deps.store.put_bytes(
                manifest_key, json.dumps([asdict(tr) for tr in tracks]).encode()
            )
        for track in tracks:
            self._record(req.title_id, req.version, track)
        return tracks

    # ------------------------------------------------------------------ subtitles
    @implements(defs.prepare_subtitles)
    @auto_heartbeat
    def prepare_subtitles(self, req: c.SubtitlesRequest) -> list[c.RenditionInfo]:
        from reelflow.media.errors import SubtitleError
        from reelflow.media.subtitles import decode_caption_bytes, to_webvtt

        s = self.deps.settings
        out: list[c.RenditionInfo] = []
        for sub in req.subtitles:
            with self.deps.scratch("subs") as work:
                try:
                    fetched = fetch_to(
                        sub.source,
                        work / "captions",
                        store=self.deps.store,
                        max_bytes=20 * 1024 * 1024,
                        timeout_s=s.ingest_timeout_s,
                        public_only=req.public_only,
                    )
                    vtt = to_webvtt(decode_caption_bytes(fetched.path.read_bytes()))
                except (BadSource, SubtitleError) as exc:
                    raise ApplicationError(
                        f"subtitles {sub.language}: {exc}", type="BadSubtitles", non_retryable=True
                    )
            key = layout.subtitle_key(req.title_id, fetched.sha256, sub.language)
            self.deps.store.put_bytes(key, vtt.encode())
            info = c.RenditionInfo(
                name=f"sub-{sub.language}", kind="subtitle", object_key=key, language=sub.language
            )
            self._record(req.title_id, req.version, info)
            out.append(info)
        return out

    # ------------------------------------------------------------------ thumbnails
    @implements(defs.make_thumbnails)
    @auto_heartbeat
    def make_thumbnails(self, req: c.ThumbnailsRequest) -> c.ThumbnailsResult:
        from reelflow.media.thumbnails import make_artwork, make_thumbnails

        done_key = layout.images_done_key(req.title_id, req.sha256)
        if self.deps.store.exists(done_key):
            return c.ThumbnailsResult(**json.loads(self.deps.store.get_bytes(done_key)))
        master = self.deps.local_copy(req.master_key)
        with self.deps.scratch("thumbs") as work:
            with bad_input_is_final():
                thumbs = make_thumbnails(
                    master,
                    work / "sprites",
                    ffmpeg=self.deps.ffmpeg,
                    duration_s=req.duration_s,
                    on_progress=_heartbeat("thumbnails"),
                )
                current_progress().update("artwork")
                art = make_artwork(
                    master, work / "art", ffmpeg=self.deps.ffmpeg, duration_s=req.duration_s
                )

            def put(path: Path, area: layout.ImageArea) -> str:
                key = layout.image_key(req.title_id, req.sha256, area, path.name)
                upload(self.deps.store, key, path)
                return key

            result = c.ThumbnailsResult(
                vtt_key=put(thumbs.vtt, "sprites"),
                sprite_keys=[put(p, "sprites") for p in thumbs.sprites],
                poster_keys=[put(p, "art") for p in art.posters],
                backdrop_keys=[put(p, "art") for p in art.backdrops],
                interval_s=thumbs.interval_s,
            )
        self.deps.store.put_bytes(done_key, json.dumps(asdict(result)).encode())
        return result
