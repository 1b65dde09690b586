"""Content keys, package and verify (media queue), publish to origin, and the older
versions of the title told to retire (the ``supersede`` signal)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

from reelflow.workflows.calls import ActivityCalls
from reelflow.workflows.patches import PIXEL_KEY_CLASSES

with workflow.unsafe.imports_passed_through():
    import reelflow.lifecycle.activity_defs as defs
    import reelflow.lifecycle.contracts as c
    from reelflow.domain.ids import legacy_workflow_id, workflow_id
    from reelflow.domain.track_classes import (
        TrackClass,
        track_class_for_height,
        track_class_for_picture,
    )


class Publishing(ActivityCalls):
    async def _package_and_publish(
        self, inp: c.TitleInput, ingest: c.IngestResult, thumbs: c.ThumbnailsResult
    ) -> None:
        """Content keys, package + verify (media queue), publish to origin, retire older."""
        kids = await self._content_keys(inp)

        self._begin("package")
        pkg = await self._media(
            defs.package_title,
            c.PackageRequest(
                inp.title_id,
                inp.version,
                ingest.sha256,
                list(self._renditions),
                thumbs.vtt_key,
                kids,
                original_language=inp.options.original_language,
                files_by_key=self._compact,
            ),
            timeout=timedelta(hours=2),
        )
        self._done("package", f"{', '.join(pkg.drm_systems) or 'clear'}; {pkg.verify_summary}")

        self._begin("publish")
        await self._control(
            defs.publish_title,
            c.PublishRequest(
                inp.title_id, inp.version, pkg, thumbs.poster_keys, thumbs.backdrop_keys
            ),
            timeout=timedelta(minutes=30),
        )
        self._done("publish", pkg.package_prefix)
        await self._event("published", "published", {"drm": pkg.drm_systems})
        await self._notify("published", {"drm": pkg.drm_systems})
        await self._supersede_older(inp)

    async def _content_keys(self, inp: c.TitleInput) -> dict[str, str]:
        """KID per track class ({} = publish clear); the keys stay sealed in the catalog."""
        self._begin("keys")
        if not inp.options.drm:
            self._skip("keys", "published clear (no DRM) by option")
            return {}
        keys = await self._control(
            defs.generate_keys,
            c.KeysRequest(inp.title_id, inp.version, self._key_classes()),
        )
        self._done("keys", ", ".join(sorted(keys.kids)))
        return keys.kids

    def _key_classes(self) -> list[str]:
        # By pixels (the packager's rule) since issue 25; a run that got here before keeps
        # the height-only classes its recorded keys follow.
        by_pixels = workflow.patched(PIXEL_KEY_CLASSES)
        classes: set[str] = set()
        for r in self._renditions:
            if r.kind == "audio":
                classes.add(TrackClass.AUDIO)
            elif r.kind == "video" and by_pixels:
                # An unknown size counts as SD, the class every plan may receive.
                classes.add(track_class_for_picture(r.width or 1, r.height or 1))
            elif r.kind == "video":
                classes.add(track_class_for_height(r.height or 1))
        return sorted(classes)

    async def _supersede_older(self, inp: c.TitleInput) -> None:
        # Publish already moved origin to this version and revoked the older keys; the older
        # workflows only need to stop waiting on their windows.
        for older in range(1, inp.version):
            if not self._compact:  # the ids and the signal this run's history holds
                await self._signal_supersede(
                    legacy_workflow_id(inp.title_id, older) or workflow_id(inp.title_id),
                    [inp.version],
                )
                continue
            ids = [workflow_id(inp.title_id, older), legacy_workflow_id(inp.title_id, older)]
            for wf_id in ids:
                # A version started before the "@v" ids still runs under its legacy id; the
                # title id in the signal keeps another title's run with that id out of it.
                if wf_id and await self._signal_supersede(wf_id, [inp.version, inp.title_id]):
                    break

    async def _signal_supersede(self, wf_id: str, args: list[Any]) -> bool:
        handle = workflow.get_external_workflow_handle(wf_id)
        try:
            await handle.signal("supersede", args=args)
        except Exception:  # that workflow already ended (or never ran)
            workflow.logger.info("%s not running", wf_id)
            return False
        return True
