"""The video: the ladder (fixed or per-title), one encode per chunk for every rung, then
each rung's chunks joined and verified.

Outputs are keyed by the master's checksum and a hash of the parameters
(``storage.layout``): an activity that finds its complete output returns it, so a retry
after a crash never encodes twice.
"""

from __future__ import annotations

import json
from typing import Any

from temporalio.exceptions import ApplicationError

from reelflow.activities.deps import params_hash
from reelflow.activities.heartbeat import auto_heartbeat, current_progress, upload
from reelflow.activities.media_support import (
    MediaActivityBase,
    bad_input_is_final,
    bad_media,
    stage_progress,
    worker_identity,
)
from reelflow.catalog import assets as catalog_assets
from reelflow.domain.ladders import Ladder, apple_fixed_ladder
from reelflow.lifecycle import activity_defs as defs
from reelflow.lifecycle import contracts as c
from reelflow.lifecycle.activity_defs import implements
from reelflow.media.chunks import Chunk, plan_chunks
from reelflow.media.encode import EncodeAdaptations, chunk_frames, encode_chunk, join_chunks
from reelflow.media.ladder import LadderOptions
from reelflow.media.ladder_analysis import analyse_per_title
from reelflow.media.probe import probe
from reelflow.media.quality import vmaf_ffmpeg
from reelflow.media.rendition_check import verify_rendition
from reelflow.storage import layout


class EncodeActivities(MediaActivityBase):
    # ------------------------------------------------------------------ ladder
    @implements(defs.analyse_ladder)
    @auto_heartbeat
    def analyse_ladder(self, req: c.AnalyseRequest) -> c.LadderResult:
        params = {"method": req.method, "codec": req.codec, "max_kbps": req.max_kbps}
        ladder_hash = params_hash(params)
        key = layout.ladder_key(req.title_id, req.sha256, ladder_hash)
        if self.deps.store.exists(key):
            ladder = self._ladder(key)
        else:
            ladder = self._analyse(req)
            self.deps.store.put_bytes(key, json.dumps(ladder.to_dict()).encode())
        self._record_ladder(req, ladder)
        specs, plan_key = self._chunk_plan(req, ladder_hash)
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

    def _analyse(self, req: c.AnalyseRequest) -> Ladder:
        """The master's ladder: Apple's fixed table cut to its size, or per-title analysis."""
        master = self.deps.local_copy(req.master_key)
        info = probe(master, ffprobe=self.deps.ffprobe)
        if info.video is None:
            raise bad_media(ValueError("master has no video stream"))
        w, h = info.video.display_size
        with bad_input_is_final(ValueError):
            if req.method == "fixed":
                return apple_fixed_ladder(w, h, codec=req.codec)  # type: ignore[arg-type]
            with self.deps.scratch("analyse") as work:
                return analyse_per_title(
                    master,
                    info,
                    ffmpeg=self.deps.ffmpeg,
                    ffmpeg_vmaf=vmaf_ffmpeg(self.deps.settings),
                    options=LadderOptions(
                        codec=req.codec,  # type: ignore[arg-type]
                        max_kbps=req.max_kbps,
                        exclude=tuple((a, b) for a, b in req.exclude),
                    ),
                    on_progress=stage_progress("analyse"),
                    work_dir=work,
                )

    def _record_ladder(self, req: c.AnalyseRequest, ladder: Ladder) -> None:
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

    def _chunk_plan(self, req: c.AnalyseRequest, ladder_hash: str) -> tuple[list[c.ChunkSpec], str]:
        """The chunks to encode, and the key they are stored under when the request asks
        (``plan_by_key``: the plan grows with the duration, so it stays out of history)."""
        seg = self.deps.settings.segment_duration
        chunks = plan_chunks(req.duration_s, segment_s=float(seg))
        specs = [c.ChunkSpec(ch.index, ch.start_s, ch.duration_s) for ch in chunks]
        if not req.plan_by_key:
            return specs, ""
        plan_key = layout.chunk_plan_key(
            req.title_id,
            req.sha256,
            ladder_hash,
            params_hash({"duration": req.duration_s, "seg": seg}),
        )
        self.deps.store.put_bytes(plan_key, json.dumps([ch.to_dict() for ch in chunks]).encode())
        return specs, plan_key

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
                    adaptations=_encode_adaptations(req.adaptations),
                    on_progress=stage_progress(f"encode chunk {chunk.index}"),
                )
            for name, path in outputs.items():
                upload(self.deps.store, keys[name], path)
        return c.EncodeChunkResult(
            chunk.index, keys, reused=False, parts_prefix=prefix, worker=worker_identity()
        )

    # ------------------------------------------------------------------ join
    @implements(defs.join_renditions)
    @auto_heartbeat
    def join_renditions(self, req: c.JoinRequest) -> list[c.RenditionInfo]:
        ladder = self._ladder(req.ladder_key)
        prefix, parts_of = _chunk_parts(req, ladder)
        expected_frames = chunk_frames(Chunk(0, 0.0, req.duration_s), req.fps)
        out: list[c.RenditionInfo] = []
        for rung in ladder.rungs:
            key = layout.rendition_key(prefix, rung.name)
            if not self.deps.store.exists(key):
                self._join_rung(req, rung.name, parts_of[rung.name], key, expected_frames)
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

    def _join_rung(
        self, req: c.JoinRequest, rung: str, part_keys: list[str], key: str, expected_frames: int
    ) -> None:
        """One rung's chunks joined by stream copy, verified whole, then stored at ``key``."""
        with self.deps.scratch(f"join-{rung}") as work:
            parts = [self.deps.local_copy(part) for part in part_keys]
            joined = join_chunks(
                parts,
                work / f"{rung}.mp4",
                ffmpeg=self.deps.ffmpeg,
                duration_s=req.duration_s,
                on_progress=stage_progress(f"join {rung}"),
            )
            current_progress().update(f"verify {rung}")
            check = verify_rendition(
                joined,
                ffprobe=self.deps.ffprobe,
                expected_duration_s=req.duration_s,
                expected_frames=expected_frames,
                gop_s=float(self.deps.settings.gop_seconds),
                fps=req.fps,
            )
            if not check.ok:
                raise ApplicationError(
                    f"rendition {rung} failed verification: " + "; ".join(check.problems),
                    type="RenditionInvalid",
                )
            upload(self.deps.store, key, joined)


def _encode_adaptations(adaptations: dict[str, Any]) -> EncodeAdaptations:
    """QC's adaptations as the encoder takes them."""
    return EncodeAdaptations(
        deinterlace=bool(adaptations.get("deinterlace")),
        rotation=int(adaptations.get("rotate_degrees") or 0),
        # HDR masters are tone-mapped to SDR only when the title asked for it.
        tonemap=bool(adaptations.get("hdr")) and bool(adaptations.get("tone_map")),
    )


def _chunk_parts(req: c.JoinRequest, ladder: Ladder) -> tuple[str, dict[str, list[str]]]:
    """The rendition prefix and, per rung, its chunk parts' keys in chunk order."""
    if req.chunk_results:  # every chunk's keys, from a run before parts_prefix
        first = req.chunk_results[0].parts[ladder.rungs[0].name]
        parts = {
            rung.name: [r.parts[rung.name] for r in req.chunk_results] for rung in ladder.rungs
        }
        return layout.parts_prefix_of(first), parts
    prefix = req.parts_prefix
    return prefix, {
        rung.name: [layout.chunk_part_key(prefix, i, rung.name) for i in range(req.chunk_count)]
        for rung in ladder.rungs
    }
