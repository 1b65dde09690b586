"""The single-activity media stages: ingest and QC before the gate, then audio, subtitles
and thumbnails after the encode (the packager takes all of them).

Each stage group runs its stages in order and hands on what later stages need. Their
commands, in order, are the workflow's history: a change here that is not a pure move
breaks replay of running titles (tests/workflows/test_title_workflow_replay).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from reelflow.workflows.calls import ActivityCalls

with workflow.unsafe.imports_passed_through():
    import reelflow.lifecycle.activity_defs as defs
    import reelflow.lifecycle.contracts as c


class MediaStages(ActivityCalls):
    async def _ingest_master(self, inp: c.TitleInput) -> c.IngestResult:
        self._begin("ingest")
        ingest = await self._media(
            defs.ingest_master,
            c.IngestRequest(
                inp.title_id, inp.version, inp.source, inp.studio_id is not None, inp.studio_id
            ),
            timeout=timedelta(hours=6),
        )
        self._done("ingest", f"{ingest.size_bytes} bytes, sha256 {ingest.sha256[:12]}")
        await self._event("ingested", "qc", {"sha256": ingest.sha256, "size": ingest.size_bytes})
        await self._notify("ingested", {"sha256": ingest.sha256, "size": ingest.size_bytes})
        return ingest

    async def _quality_check(self, inp: c.TitleInput, ingest: c.IngestResult) -> c.QCResult:
        """The QC report; a failed one is recorded here and ends the title."""
        self._begin("qc")
        qc = await self._media(
            defs.run_qc,
            c.QCRequest(inp.title_id, inp.version, ingest.master_key, ingest.sha256),
            timeout=timedelta(hours=4),
        )
        self._qc = qc
        if not qc.passed:
            self._fail("qc", qc.summary)
            self._skip_rest("qc")
            await self._event("qc_failed", "qc_failed", {"failures": qc.failures})
            await self._notify("qc_failed", {"failures": qc.failures})
            return qc
        self._done("qc", qc.summary)
        return qc

    async def _audio_subtitles_thumbnails(
        self, inp: c.TitleInput, ingest: c.IngestResult, qc: c.QCResult
    ) -> c.ThumbnailsResult:
        """The other renditions and the images; the packager takes all of them."""
        self._begin("audio")
        if qc.has_audio:
            audio = await self._media(
                defs.encode_audio,
                c.AudioRequest(
                    inp.title_id,
                    inp.version,
                    ingest.master_key,
                    ingest.sha256,
                    normalize=bool(qc.adaptations.get("normalize_loudness")),
                ),
                timeout=timedelta(hours=2),
            )
            self._renditions.extend(audio)
            self._done("audio", ", ".join(f"{a.language} {a.channels}ch" for a in audio))
        else:
            self._skip("audio", "source has no audio")

        self._begin("subtitles")
        if inp.subtitles:
            subs = await self._media(
                defs.prepare_subtitles,
                c.SubtitlesRequest(
                    inp.title_id, inp.version, inp.subtitles, inp.studio_id is not None
                ),
                timeout=timedelta(minutes=10),
            )
            self._renditions.extend(subs)
            self._done("subtitles", ", ".join(s.language or "?" for s in subs))
        else:
            self._skip("subtitles", "no subtitles delivered")

        # Thumbnails, sprites, artwork.
        self._begin("thumbnails")
        thumbs = await self._media(
            defs.make_thumbnails,
            c.ThumbnailsRequest(
                inp.title_id, inp.version, ingest.master_key, ingest.sha256, qc.duration_s
            ),
            timeout=timedelta(hours=1),
        )
        self._done("thumbnails", f"{len(thumbs.sprite_keys)} sprite sheet(s)")
        await self._event(
            "renditions_ready",
            "packaging",
            {"renditions": [r.name for r in self._renditions], "thumbnails": thumbs.vtt_key},
        )
        return thumbs
