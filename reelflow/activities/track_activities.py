"""What goes beside the video: audio tracks (loudness-normalised), subtitles (WebVTT), and
thumbnails, sprites and artwork from the master."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from temporalio.exceptions import ApplicationError

from reelflow.activities.deps import params_hash
from reelflow.activities.heartbeat import auto_heartbeat, current_progress, upload
from reelflow.activities.media_support import (
    MediaActivityBase,
    bad_input_is_final,
    stage_progress,
)
from reelflow.ingest.fetch import fetch_to
from reelflow.ingest.sources import BadSource
from reelflow.lifecycle import activity_defs as defs
from reelflow.lifecycle import contracts as c
from reelflow.lifecycle.activity_defs import implements
from reelflow.media.probe import probe
from reelflow.storage import layout

CAPTIONS_MAX_BYTES = 20 * 1024 * 1024


class TrackActivities(MediaActivityBase):
    # ------------------------------------------------------------------ audio
    @implements(defs.encode_audio)
    @auto_heartbeat
    def encode_audio(self, req: c.AudioRequest) -> list[c.RenditionInfo]:
        prefix = layout.audio_prefix(
            req.title_id, req.sha256, params_hash({"audio": 1, "norm": req.normalize})
        )
        manifest_key = layout.audio_tracks_key(prefix)
        if self.deps.store.exists(manifest_key):
            tracks = [
                c.RenditionInfo(**t) for t in json.loads(self.deps.store.get_bytes(manifest_key))
            ]
        else:
            tracks = self._encode_audio_tracks(req, prefix)
            self.deps.store.put_bytes(
                manifest_key, json.dumps([asdict(tr) for tr in tracks]).encode()
            )
        for track in tracks:
            self._record(req.title_id, req.version, track)
        return tracks

    def _encode_audio_tracks(self, req: c.AudioRequest, prefix: str) -> list[c.RenditionInfo]:
        from reelflow.media.audio import encode_audio

        master = self.deps.local_copy(req.master_key)
        info = probe(master, ffprobe=self.deps.ffprobe)
        tracks: list[c.RenditionInfo] = []
        with self.deps.scratch("audio") as work:
            current_progress().update("audio encode")
            with bad_input_is_final():
                encoded = encode_audio(
                    master,
                    work,
                    ffmpeg=self.deps.ffmpeg,
                    info=info,
                    normalize=req.normalize,
                    target_lufs=self.deps.settings.loudness_target_lufs,
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
        return tracks

    # ------------------------------------------------------------------ subtitles
    @implements(defs.prepare_subtitles)
    @auto_heartbeat
    def prepare_subtitles(self, req: c.SubtitlesRequest) -> list[c.RenditionInfo]:
        out: list[c.RenditionInfo] = []
        for sub in req.subtitles:
            sha256, vtt = self._captions_as_webvtt(sub, public_only=req.public_only)
            key = layout.subtitle_key(req.title_id, sha256, sub.language)
            self.deps.store.put_bytes(key, vtt.encode())
            info = c.RenditionInfo(
                name=f"sub-{sub.language}", kind="subtitle", object_key=key, language=sub.language
            )
            self._record(req.title_id, req.version, info)
            out.append(info)
        return out

    def _captions_as_webvtt(self, sub: c.SubtitleSource, *, public_only: bool) -> tuple[str, str]:
        """The delivered caption file's SHA-256 and its text as WebVTT; BadSubtitles (final)
        for a source or a format no retry can fix."""
        from reelflow.media.errors import SubtitleError
        from reelflow.media.subtitles import decode_caption_bytes, to_webvtt

        with self.deps.scratch("subs") as work:
            try:
                fetched = fetch_to(
                    sub.source,
                    work / "captions",
                    store=self.deps.store,
                    max_bytes=CAPTIONS_MAX_BYTES,
                    timeout_s=self.deps.settings.ingest_timeout_s,
                    public_only=public_only,
                )
                vtt = to_webvtt(decode_caption_bytes(fetched.path.read_bytes()))
            except (BadSource, SubtitleError) as exc:
                raise ApplicationError(
                    f"subtitles {sub.language}: {exc}", type="BadSubtitles", non_retryable=True
                )
        return fetched.sha256, vtt

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
                    on_progress=stage_progress("thumbnails"),
                )
                current_progress().update("artwork")
                art = make_artwork(
                    master, work / "art", ffmpeg=self.deps.ffmpeg, duration_s=req.duration_s
                )

            def put(path: Path, area: layout.ImageArea) -> str:
                key = layout.image_key(req.title_id, req.sha256, area, path.name)
                upload(self.deps.store, key, path)
                return key

            # Alternates go next to candidate 0 (c<n>_ names); publishing finds them from
            # the poster and backdrop keys, so the workflow passes nothing new.
            for alt in art.alternates:
                for path in (*alt.posters, *alt.backdrops):
                    put(path, "art")
            result = c.ThumbnailsResult(
                vtt_key=put(thumbs.vtt, "sprites"),
                sprite_keys=[put(p, "sprites") for p in thumbs.sprites],
                poster_keys=[put(p, "art") for p in art.posters],
                backdrop_keys=[put(p, "art") for p in art.backdrops],
                interval_s=thumbs.interval_s,
            )
        self.deps.store.put_bytes(done_key, json.dumps(asdict(result)).encode())
        return result
