"""Which track classes each DRM system may unlock: the key policy.

Studios' content-security rules allow a software DRM for SD at most and want hardware-backed
DRM for HD and UHD. ClearKey is the weakest of all: its keys reach JavaScript in the clear.
So every DRM system gets the set of ``TrackClass`` values it may unlock, and that set is
applied twice:

* at playback start (``select_drm``): a session's key classes are the plan's classes that
  its DRM systems may unlock, and its largest picture (in pixels, width x height) is
  limited to what those classes cover, so its manifests (filtered by the token's pixel
  cap) offer only what its DRM may unlock;
* at every license answer (``license_auth.authorize_license``): a key leaves only if the
  *requesting* system may unlock its class, whatever the session's plan allows.

Defaults (``default_classes``), in every mode: ClearKey unlocks AUDIO and SD only; Widevine,
PlayReady and FairPlay every class (the license proxy then asks the upstream for each
class's robustness and output protection, license_proxy.TRACK_POLICY: hardware-backed DRM
for HD and UHD, so a software CDM gets SD at most). ClearKey unlocks HD only when the
operator says so, ``REELFLOW_KEY_POLICY_CLEARKEY=AUDIO,SD,HD`` (a local demo that wants
720p in a browser without a commercial CDM), and the API warns at start-up when it does.
Each system's set can be set with ``REELFLOW_KEY_POLICY_<SYSTEM>=AUDIO,SD``
(``Settings.key_policy_<system>``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from reelflow.config import ConfigError, Settings
from reelflow.domain.track_classes import (
    VIDEO_CLASSES,
    TrackClass,
    picture_pixels,
    pixel_limit,
    pixels_text,
)
from reelflow.playback_api.delivery.entitlements import Entitlement
from reelflow.playback_api.http.problems import Problem

log = logging.getLogger("reelflow.api.key_policy")

AUDIO, SD, HD, UHD = TrackClass.AUDIO, TrackClass.SD, TrackClass.HD, TrackClass.UHD
ALL_CLASSES = frozenset(TrackClass)
DRM_SYSTEMS = ("clearkey", "widevine", "playready", "fairplay")
_DEFAULTS: Mapping[str, frozenset[TrackClass]] = MappingProxyType(
    {
        # Software DRM whose keys reach JavaScript: audio and SD only.
        "clearkey": frozenset({AUDIO, SD}),
        "widevine": ALL_CLASSES,
        "playready": ALL_CLASSES,
        "fairplay": ALL_CLASSES,
    }
)


def default_classes(drm: str) -> frozenset[TrackClass]:
    """What ``drm`` may unlock when its setting is unset, in every mode: a software DRM's
    HD is the operator's explicit choice, never a default (failing closed)."""
    return _DEFAULTS[drm]


def env_var(drm: str) -> str:
    return f"REELFLOW_KEY_POLICY_{drm.upper()}"


def parse_classes(drm: str, spec: str) -> frozenset[TrackClass]:
    """``"AUDIO,SD"`` as track classes; ConfigError naming the variable when it is not one.

    Empty means the system unlocks nothing. Video classes must be contiguous from SD up
    (manifests are filtered by a largest picture, which cannot skip a class), and a system
    that unlocks video must unlock audio too (a picture without sound is no playback)."""
    names = [part.strip().upper() for part in spec.split(",") if part.strip()]
    unknown = sorted({n for n in names if n not in TrackClass.__members__})
    if unknown:
        raise ConfigError(
            f"{env_var(drm)}: unknown track class(es) {', '.join(unknown)} "
            f"(known: {', '.join(TrackClass)})"
        )
    classes = frozenset(TrackClass(n) for n in names)
    video = [tc for tc, _ in VIDEO_CLASSES if tc in classes]
    if video != [tc for tc, _ in VIDEO_CLASSES[: len(video)]]:
        raise ConfigError(
            f"{env_var(drm)}: video classes must run from SD up without a gap "
            f"(SD / SD,HD / SD,HD,UHD), got {','.join(video)}"
        )
    if video and AUDIO not in classes:
        raise ConfigError(f"{env_var(drm)}: a system that unlocks video must unlock AUDIO too")
    return classes


@dataclass(frozen=True)
class KeyPolicy:
    env: str
    classes: Mapping[str, frozenset[TrackClass]]  # DRM system -> classes it may unlock

    def unlockable(self, drm: str) -> frozenset[TrackClass]:
        # A system this table does not know unlocks nothing: failing closed.
        return self.classes.get(drm, frozenset())

    def max_pixels(self, drm: str, session_max_pixels: int) -> int:
        """The session's largest picture as far as ``drm`` may decrypt it (for per-system
        manifests)."""
        return min(session_max_pixels, pixel_limit(self.unlockable(drm)))

    def describe(self) -> str:
        return " ".join(
            f"{drm}={','.join(sorted(self.unlockable(drm))) or '-'}" for drm in DRM_SYSTEMS
        )


def key_policy_from_settings(settings: Settings) -> KeyPolicy:
    """Each system's set from its setting, else the mode's default; ConfigError when invalid."""
    configured: dict[str, str | None] = {
        "clearkey": settings.key_policy_clearkey,
        "widevine": settings.key_policy_widevine,
        "playready": settings.key_policy_playready,
        "fairplay": settings.key_policy_fairplay,
    }
    classes = {
        drm: default_classes(drm) if spec is None else parse_classes(drm, spec)
        for drm, spec in configured.items()
    }
    return KeyPolicy(settings.env, MappingProxyType(classes))


def log_key_policy(policy: KeyPolicy) -> None:
    """One start-up line with the policy; a warning when ClearKey unlocks above SD."""
    log.info("key policy", extra={"fields": {"env": policy.env, "policy": policy.describe()}})
    above_sd = sorted(policy.unlockable("clearkey") & {HD, UHD})
    if above_sd:
        log.warning(
            "ClearKey unlocks %s keys: they reach the browser in the clear. The default "
            "is AUDIO,SD (%s)",
            ",".join(above_sd),
            env_var("clearkey"),
            extra={"fields": {"env": policy.env}},
        )


@dataclass(frozen=True)
class DrmSelection:
    """What a new session may use: its DRM systems, key classes and largest picture."""

    drm: tuple[str, ...]
    key_classes: frozenset[TrackClass]
    max_pixels: int


def select_drm(
    policy: KeyPolicy,
    entitlement: Entitlement,
    asked: Sequence[str],
    available: Sequence[str],
    smallest: tuple[int, int] | None,
) -> DrmSelection:
    """The session's systems (those asked for, in order, that can unlock the title's
    smallest rendition under the plan), the plan's classes they may unlock, the largest
    picture those cover.

    ``asked`` and ``available`` hold only systems this deployment can license for this
    title; ``smallest`` is the (width, height) of the title's smallest video rendition
    (None: no video). Raises drm_policy, naming the available systems that could play it,
    when none asked can."""
    lowest = picture_pixels(*smallest) if smallest else None

    def classes_for(drm: str) -> frozenset[TrackClass]:
        return entitlement.key_classes & policy.unlockable(drm)

    def plays(drm: str) -> bool:
        mine = classes_for(drm)
        if lowest is None:
            return bool(mine)
        return min(entitlement.max_pixels, pixel_limit(mine)) >= lowest

    chosen = [drm for drm in asked if plays(drm)]
    if not chosen:
        limits = ", ".join(f"{d} up to {pixels_text(pixel_limit(classes_for(d)))}" for d in asked)
        start = f"this title starts at {smallest[0]}x{smallest[1]}" if smallest else "this title"
        raise Problem(
            "drm_policy",
            f"{start}: the requested DRM may not unlock it under the key policy ({limits})",
            playable=[d for d in available if plays(d)],
        )
    classes = frozenset().union(*(classes_for(d) for d in chosen))
    return DrmSelection(
        drm=tuple(chosen),
        key_classes=classes,
        max_pixels=min(entitlement.max_pixels, pixel_limit(classes)),
    )
