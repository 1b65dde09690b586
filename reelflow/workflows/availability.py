"""The availability window: durable timers to the window's start and end, re-armed by the
``update_window`` signal, and the end of a published title (expired, taken down or
superseded by a newer version)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from reelflow.workflows.calls import ActivityCalls

with workflow.unsafe.imports_passed_through():
    import reelflow.lifecycle.activity_defs as defs
    import reelflow.lifecycle.contracts as c


class Availability(ActivityCalls):
    async def _live(self, inp: c.TitleInput) -> tuple[str, str]:
        seen_rev = 0
        opened = False  # window_opened recorded for the current window
        while True:
            if self._takedown is not None:
                return "taken_down", self._takedown
            if self._superseded_by is not None:
                return "superseded", f"replaced by version {self._superseded_by}"
            if seen_rev != self._window_rev:
                seen_rev = self._window_rev
                opened = False
                await self._control(
                    defs.update_availability,
                    c.AvailabilityUpdate(
                        inp.title_id, self._window[0], self._window[1], version=inp.version
                    ),
                )
                await self._event(
                    "window_changed",
                    "published",
                    {"start": self._window[0], "end": self._window[1], "rev": seen_rev},
                    dedupe_suffix=str(seen_rev),
                )
            start = c.parse_instant(self._window[0])
            end = c.parse_instant(self._window[1])
            now = workflow.now()
            if end is not None and end <= now:
                return "expired", "availability window ended"
            # The next moment that matters: the window's start (once), then its end.
            target, is_start = end, False
            if start is not None and start > now and not opened:
                target, is_start = start, True
            visible = f"{self._window[0] or 'now'} until {self._window[1] or 'open-ended'}"
            self._stages["live"].detail = f"visible from {visible}"
            rev = seen_rev
            try:
                await workflow.wait_condition(
                    lambda rev=rev: (  # type: ignore[misc]
                        self._takedown is not None
                        or self._superseded_by is not None
                        or self._window_rev != rev
                    ),
                    timeout=(target - now) if target is not None else None,
                )
            except TimeoutError:
                if is_start:
                    opened = True
                    await self._event(
                        "window_opened",
                        "published",
                        {"start": self._window[0]},
                        dedupe_suffix=f"{seen_rev}",
                    )

    async def _retire(self, inp: c.TitleInput, final: str, reason: str) -> None:
        if self._stage != "live":
            self._begin("live")
        if final == "superseded":
            self._set_state("superseded")
            self._done("live", reason)
            # The title row now belongs to the newer version: record without moving its state.
            await self._event("superseded", None, {"reason": reason})
            return
        await self._control(
            defs.expire_title,
            c.ExpireRequest(
                inp.title_id, inp.version, final, reason, purge=inp.options.purge_on_expire
            ),
            timeout=timedelta(minutes=30),
        )
        self._done("live", reason)
        await self._event(final, final, {"reason": reason, "at": workflow.now().isoformat()})
        await self._notify(final, {"reason": reason})
