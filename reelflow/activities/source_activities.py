"""The master in: fetch and store it (content-addressed), then QC it and record what the
probe measured (the catalog's duration, the player's progress bar)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from temporalio.exceptions import ApplicationError

from reelflow.activities.deps import params_hash
from reelflow.activities.heartbeat import auto_heartbeat, current_progress, upload
from reelflow.activities.media_support import MediaActivityBase, stage_progress
from reelflow.catalog import assets as catalog_assets
from reelflow.catalog import titles
from reelflow.ingest.fetch import fetch_to
from reelflow.ingest.sources import BadSource, Fetched, SourceTooLarge, TransientSourceError
from reelflow.lifecycle import activity_defs as defs
from reelflow.lifecycle import contracts as c
from reelflow.lifecycle.activity_defs import implements
from reelflow.media.probe import MediaInfo
from reelflow.media.qc import run_qc
from reelflow.media.qc_report import QCOptions, QCReport
from reelflow.storage import layout


class SourceActivities(MediaActivityBase):
    # ------------------------------------------------------------------ ingest
    @implements(defs.ingest_master)
    @auto_heartbeat
    def ingest_master(self, req: c.IngestRequest) -> c.IngestResult:
        with self.deps.scratch("ingest") as work:
            fetched = self._fetch_master(req, work / "master")
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

    def _fetch_master(self, req: c.IngestRequest, dest: Path) -> Fetched:
        """The source fetched to ``dest``; a source no retry can fix is a final error."""
        s = self.deps.settings
        try:
            return fetch_to(
                req.source,
                dest,
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
            on_progress=stage_progress("qc"),
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
        if report.media is not None:
            self._record_probe(req, report.media)
        return _qc_result(report, report_key)

    def _record_probe(self, req: c.QCRequest, info: MediaInfo) -> None:
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


def _qc_result(report: QCReport, report_key: str) -> c.QCResult:
    info = report.media
    video = info.video if info else None
    width, height = video.display_size if video else (0, 0)
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
