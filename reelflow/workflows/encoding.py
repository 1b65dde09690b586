"""Analyse and encode: the per-title ladder of each codec (the main one first), then one
activity per chunk writing every rung from one decode, then a join per ladder.

The main ladder's commands stay as recorded; an extra ladder (``patches.AV1_ALONGSIDE``)
is analysed, encoded and joined after it, its activity summaries naming its codec.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

from reelflow.workflows.calls import ActivityCalls
from reelflow.workflows.patches import AV1_ALONGSIDE

with workflow.unsafe.imports_passed_through():
    import reelflow.lifecycle.activity_defs as defs
    import reelflow.lifecycle.contracts as c


class Encoding(ActivityCalls):
    def _extra_codecs(self, inp: c.TitleInput) -> list[str]:
        """The codecs whose ladders go beside the main one (AV1_ALONGSIDE)."""
        extra = [x for x in dict.fromkeys(inp.options.extra_codecs) if x != inp.options.codec]
        if not extra or not workflow.patched(AV1_ALONGSIDE):
            return []
        return extra

    async def _analyse(
        self, inp: c.TitleInput, ingest: c.IngestResult, qc: c.QCResult
    ) -> list[c.LadderResult]:
        """The per-title ladder of each codec (the main one first) and the chunk plan."""
        self._begin("analyse")
        ladder = await self._analyse_codec(inp, ingest, qc, inp.options.codec)
        self._ladder = ladder
        for codec in self._extra_codecs(inp):
            extra = await self._analyse_codec(inp, ingest, qc, codec, alongside=True)
            self._extra_ladders.append(extra)
        detail = f"{len(ladder.rungs)} rungs ({ladder.method}, {ladder.metric})"
        for extra in self._extra_ladders:
            codec = extra.rungs[0].codec if extra.rungs else "?"
            detail += f"; {codec}: {len(extra.rungs)} rungs"
        self._done("analyse", detail)
        return [ladder, *self._extra_ladders]

    async def _analyse_codec(
        self,
        inp: c.TitleInput,
        ingest: c.IngestResult,
        qc: c.QCResult,
        codec: str,
        *,
        alongside: bool = False,
    ) -> c.LadderResult:
        return await self._media(
            defs.analyse_ladder,
            c.AnalyseRequest(
                inp.title_id,
                inp.version,
                ingest.master_key,
                ingest.sha256,
                method=inp.options.ladder,
                codec=codec,
                max_kbps=inp.options.max_kbps,
                duration_s=qc.duration_s,
                exclude=qc.black_intervals,
                plan_by_key=self._compact,
                alongside=alongside,
            ),
            timeout=timedelta(hours=4),
        )

    @staticmethod
    def _plan_by_key(ladder: c.LadderResult) -> bool:
        # A plan kept by key (compact path) arrives as its length only.
        return not ladder.chunks and bool(ladder.chunk_plan_key)

    @classmethod
    def _chunk_total(cls, ladder: c.LadderResult) -> int:
        return ladder.chunk_count if cls._plan_by_key(ladder) else len(ladder.chunks)

    async def _encode(
        self,
        inp: c.TitleInput,
        ingest: c.IngestResult,
        qc: c.QCResult,
        ladders: list[c.LadderResult],
    ) -> None:
        """Each ladder in turn (the main one first): one activity per chunk, every rung
        from one decode, then a join per rung."""
        self._begin("encode")
        all_chunks = sum(self._chunk_total(ladder) for ladder in ladders)
        details = [await self._encode_ladder(inp, ingest, qc, x, all_chunks) for x in ladders]
        self._done("encode", details[0] + "".join(f"; {d}" for d in details[1:]))

    async def _encode_ladder(
        self,
        inp: c.TitleInput,
        ingest: c.IngestResult,
        qc: c.QCResult,
        ladder: c.LadderResult,
        all_chunks: int,
    ) -> str:
        """One ladder's chunks and joins; the stage detail of that ladder."""
        by_key = self._plan_by_key(ladder)
        total = self._chunk_total(ladder)
        plan: list[c.ChunkSpec | None] = [None] * total if by_key else list(ladder.chunks)
        # The main ladder's commands stay as recorded; an extra ladder's name their codec.
        codec = f"{ladder.rungs[0].codec}: " if ladder is not self._ladder and ladder.rungs else ""

        async def encode(index: int, chunk: c.ChunkSpec | None) -> c.EncodeChunkResult:
            result = await self._media(
                defs.encode_chunk,
                c.EncodeChunkRequest(
                    inp.title_id,
                    inp.version,
                    ingest.master_key,
                    ingest.sha256,
                    ladder.ladder_key,
                    chunk,
                    qc.fps,
                    {**qc.adaptations, "tone_map": inp.options.tone_map},
                    chunk_index=index,
                    chunk_plan_key=ladder.chunk_plan_key if by_key else "",
                ),
                timeout=timedelta(hours=4),
                summary=f"{codec}chunk {index + 1}/{total}",
            )
            self._chunks_done += 1
            # Joining takes the last slice of the stage's progress.
            self._stages["encode"].progress = round(90.0 * self._chunks_done / all_chunks, 1)
            return result

        chunk_results = sorted(
            await asyncio.gather(*(encode(ch.index if ch else i, ch) for i, ch in enumerate(plan))),
            key=lambda r: r.index,
        )
        join = self._join_request(inp, ingest, qc, ladder, chunk_results, total)
        videos = await self._media(defs.join_renditions, join, timeout=timedelta(hours=2))
        self._renditions.extend(videos)
        spread = worker_spread(chunk_results)
        return f"{codec}{total} chunk(s) x {len(ladder.rungs)} rungs" + (
            f"; by worker: {spread}" if spread else ""
        )

    def _join_request(
        self,
        inp: c.TitleInput,
        ingest: c.IngestResult,
        qc: c.QCResult,
        ladder: c.LadderResult,
        chunk_results: list[c.EncodeChunkResult],
        total: int,
    ) -> c.JoinRequest:
        """The join of one ladder: by the parts' one prefix on the compact path, else with
        every chunk's result."""
        prefixes = {r.parts_prefix for r in chunk_results}
        if self._compact and len(prefixes) == 1 and "" not in prefixes:
            # The join finds every part under the one prefix: no list that grows per chunk.
            return c.JoinRequest(
                inp.title_id,
                inp.version,
                ingest.sha256,
                ladder.ladder_key,
                [],
                qc.duration_s,
                qc.fps,
                parts_prefix=prefixes.pop(),
                chunk_count=total,
            )
        # A run from before COMPACT_LIFECYCLE, or chunks from an older worker.
        return c.JoinRequest(
            inp.title_id,
            inp.version,
            ingest.sha256,
            ladder.ladder_key,
            chunk_results,
            qc.duration_s,
            qc.fps,
        )


def worker_spread(chunk_results: list[c.EncodeChunkResult]) -> str:
    """Chunks per worker ("w1 3, w2 2"): one entry per worker, so it stays small for any
    length."""
    per_worker: dict[str, int] = {}
    for r in chunk_results:
        if r.worker:
            per_worker[r.worker] = per_worker.get(r.worker, 0) + 1
    return ", ".join(f"{w} {n}" for w, n in sorted(per_worker.items()))
