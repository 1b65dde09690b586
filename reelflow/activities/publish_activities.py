"""Control-queue activities of part 2: content keys, publish, availability, expiry, notify."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from temporalio.exceptions import ApplicationError

from reelflow.activities.deps import Deps
from reelflow.activities.heartbeat import auto_heartbeat, current_progress
from reelflow.catalog import assets as catalog_assets
from reelflow.catalog import packages as catalog_packages
from reelflow.catalog import titles
from reelflow.catalog.models import ContentKeyRow, TitleState
from reelflow.domain.artwork import CANDIDATES_ENTRY, MAX_ARTWORK_CANDIDATES
from reelflow.domain.content_keys import generate_content_keys
from reelflow.domain.track_classes import TrackClass
from reelflow.keystore.content_keys import KeyPlace, seal_key
from reelflow.lifecycle import activity_defs as defs
from reelflow.lifecycle import contracts as c
from reelflow.lifecycle.activity_defs import implements
from reelflow.packaging.packager import THUMBS_DIR
from reelflow.storage import layout
from reelflow.studios.events import STUDIO_EVENTS


class PublishActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.generate_keys,
            self.publish_title,
            self.update_availability,
            self.expire_title,
            self.notify_studio,
        ]

    @implements(defs.generate_keys)
    @auto_heartbeat
    def generate_keys(self, req: c.KeysRequest) -> c.KeysResult:
        """One random key per track class, sealed at rest; existing keys are reused."""
        secrets = self.deps.settings.secrets()

        def sealed_rows(missing: list[str]) -> list[ContentKeyRow]:
            new = generate_content_keys([TrackClass(cls) for cls in missing])
            return [
                ContentKeyRow(
                    kid=key.kid_hex,
                    title_id=req.title_id,
                    version=req.version,
                    track_class=str(cls),
                    sealed_key=seal_key(
                        key.key,
                        master_key=secrets.master_key,
                        key_version=secrets.master_key_version,
                        kid=key.kid,
                        place=KeyPlace(req.title_id, req.version, str(cls)),
                    ),
                    key_version=secrets.master_key_version,
                )
                for cls, key in new.items()
            ]

        kids = catalog_packages.keep_content_keys(
            self.deps.engine,
            title_id=req.title_id,
            version=req.version,
            classes=req.classes,
            make=sealed_rows,
        )
        return c.KeysResult({cls: kids[cls] for cls in req.classes})

    @implements(defs.publish_title)
    @auto_heartbeat
    def publish_title(self, req: c.PublishRequest) -> c.PublishResult:
        """Copy the package to origin, write the package row, mark the title published."""
        store = self.deps.store
        origin = layout.origin_prefix(req.title_id, req.version)
        pkg = req.package
        files = self._package_files(pkg)
        progress = current_progress()
        for n, rel in enumerate(files):
            dst = layout.origin_key(req.title_id, req.version, rel)
            if not store.exists(dst):
                store.copy(layout.package_file_key(pkg.package_prefix, rel), dst)
            progress.update("copy to origin", done=n + 1, total=len(files), unit="files")
        artwork = self._copy_artwork(req, files)
        newly = catalog_packages.publish_package(
            self.deps.engine,
            title_id=req.title_id,
            version=req.version,
            origin_prefix=origin,
            mpd_key=layout.origin_key(req.title_id, req.version, pkg.mpd),
            hls_key=layout.origin_key(req.title_id, req.version, pkg.hls_master),
            drm_systems=pkg.drm_systems,
            kids=pkg.kids,
            representations=pkg.representations,
            artwork=artwork,
        )
        # Retire older versions' packages only once this one is live: no gap in availability.
        catalog_packages.retire_older_versions(
            self.deps.engine, req.title_id, req.version, self._delete_origin
        )
        return c.PublishResult(origin_prefix=origin, newly_published=newly)

    def _package_files(self, pkg: c.PackageInfo) -> list[str]:
        """The package's files: inline from an older run, else from the store by key."""
        if pkg.files or not pkg.files_key:
            return list(pkg.files)
        files = json.loads(self.deps.store.get_bytes(pkg.files_key))["files"]
        if len(files) != pkg.file_count:
            raise ApplicationError(
                f"{pkg.files_key} lists {len(files)} files, the package had {pkg.file_count}",
                type="PackageInvalid",
                non_retryable=True,
            )
        return [str(rel) for rel in files]

    def _copy_artwork(self, req: c.PublishRequest, files: list[str]) -> dict[str, list[str]]:
        """Posters and backdrops copied to ``<origin>/art/``; the package row's artwork map.

        Paths are relative to ``origin`` and keep the order given (largest first). A copy
        already at origin is kept, so a retried activity copies only what it missed.
        """
        artwork: dict[str, list[str]] = {}
        placed: dict[str, str] = {}  # origin-relative path -> source key
        for kind, keys in (("poster", req.poster_keys), ("backdrop", req.backdrop_keys)):
            artwork[kind] = [self._place(req, key, placed) for key in keys]
        candidates = self._copy_candidates(req, placed)
        if candidates:  # no new entry without candidates: older readers see the old map
            artwork[CANDIDATES_ENTRY] = candidates
        artwork["thumbnails"] = sorted(
            rel for rel in files if rel.startswith(f"{THUMBS_DIR}/") and rel.endswith(".vtt")
        )[:1]
        return artwork

    def _copy_candidates(self, req: c.PublishRequest, placed: dict[str, str]) -> list[str]:
        """Artwork candidates 1.. found next to the poster and backdrop keys, copied to origin;
        their origin paths, candidate by candidate, each kind's sizes largest first. A
        candidate is kept only whole (every size of both kinds), so the artwork endpoint never
        has to mix frames."""
        store = self.deps.store
        paths: list[str] = []
        for n in range(1, MAX_ARTWORK_CANDIDATES):
            keys = [
                layout.artwork_candidate_key(key, n)
                for key in (*req.poster_keys, *req.backdrop_keys)
            ]
            if not keys or not all(store.exists(key) for key in keys):
                break  # candidates are numbered without gaps
            paths.extend(self._place(req, key, placed) for key in keys)
        return paths

    def _place(self, req: c.PublishRequest, key: str, placed: dict[str, str]) -> str:
        """Copy one image to ``<origin>/art/`` (unless already there); its origin path."""
        rel = layout.origin_artwork_path(PurePosixPath(key).name)
        if placed.setdefault(rel, key) != key:
            # Two sources, one name: the second would silently serve the first image.
            raise ApplicationError(
                f"artwork {key} and {placed[rel]} share the name {rel}",
                type="ArtworkConflict",
                non_retryable=True,
            )
        dst = layout.origin_key(req.title_id, req.version, rel)
        if not self.deps.store.exists(dst):
            self.deps.store.copy(key, dst)
        return rel

    def _delete_origin(self, origin_prefix: str) -> None:
        self.deps.store.delete_prefix(origin_prefix + "/")

    @implements(defs.update_availability)
    @auto_heartbeat
    def update_availability(self, req: c.AvailabilityUpdate) -> None:
        titles.set_window(
            self.deps.engine,
            title_id=req.title_id,
            window_start=c.parse_instant(req.window_start),
            window_end=c.parse_instant(req.window_end),
            version=req.version or None,
        )

    @implements(defs.expire_title)
    @auto_heartbeat
    def expire_title(self, req: c.ExpireRequest) -> None:
        """Unpublish: origin copy removed, keys revoked, title expired/taken down."""
        if req.final_state not in (TitleState.EXPIRED, TitleState.TAKEN_DOWN):
            raise ValueError(f"bad final state {req.final_state}")
        catalog_packages.unpublish_version(
            self.deps.engine, req.title_id, req.version, self._delete_origin
        )
        if req.purge:
            for prefix in self._version_prefixes(req.title_id, req.version):
                self.deps.store.delete_prefix(prefix)

    def _version_prefixes(self, title_id: str, version: int) -> list[str]:
        """What purging one version deletes: its package, and its master, QC report,
        ladder, renditions, images and subtitles, which are keyed by content hash
        (media_activities), not by version. A hash another version of the title also has
        (the same master or subtitle file delivered again) is kept: its files are shared."""
        assets = catalog_assets.title_assets(self.deps.engine, title_id)
        subtitles = catalog_assets.title_renditions(self.deps.engine, title_id, kind="subtitle")
        others = {a.sha256[:16] for a in assets if a.version != version}
        prefixes = [layout.package_version_prefix(title_id, version)]
        for sha in sorted({a.sha256 for a in assets if a.version == version}):
            if sha[:16] in others:
                continue
            prefixes.extend(layout.content_prefixes(title_id, sha))
        # subtitles/<title>/<sha16 of the file>/<language>.vtt
        folders: dict[bool, set[str]] = {True: set(), False: set()}
        for r in subtitles:
            folders[r.version == version].add(layout.subtitle_folder(r.object_key))
        prefixes.extend(sorted(folders[True] - folders[False]))
        return prefixes

    @implements(defs.notify_studio)
    @auto_heartbeat
    def notify_studio(self, req: c.NotifyRequest) -> str | None:
        """Enqueue the signed studio callback (rq); idempotent per title, version and event."""
        if req.event not in STUDIO_EVENTS:
            return None
        callback = titles.title_callback_url(self.deps.engine, req.title_id)
        if not callback:
            return None
        from reelflow.jobs.webhooks import enqueue_notification

        return enqueue_notification(
            self.deps.settings,
            title_id=req.title_id,
            version=req.version,
            event=req.event,
            callback_url=callback,
            detail=req.detail,
        )
