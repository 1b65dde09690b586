"""package_title reuses a finished package (its file list inline or by key), and keys are
unsealed by KID only for their own title."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from reelflow.activities.deps import Deps, params_hash
from reelflow.activities.packaging_activities import PackagingActivities, _language, load_keys
from reelflow.activities.publish_activities import PublishActivities
from reelflow.lifecycle import contracts as c
from reelflow.storage import layout

VIDEO = c.RenditionInfo("360p", "video", "renditions/film/0123456789abcdef-a/360p.mp4")


def finished_package(deps: Deps) -> tuple[c.PackageRequest, str]:
    req = c.PackageRequest("film", 1, "0" * 64, [VIDEO], None, {}, segment_duration=6)
    params = {"renditions": [VIDEO.object_key], "kids": {}, "seg": 6, "thumbs": None}
    prefix = layout.package_prefix("film", 1, params_hash(params))
    info = c.PackageInfo(prefix, "manifest.mpd", "master.m3u8", ["manifest.mpd"], [], {}, [], "ok")
    deps.store.put_bytes(layout.package_done_key(prefix), json.dumps(asdict(info)).encode())
    return req, layout.package_done_key(prefix)


def package(deps: Deps, req: c.PackageRequest) -> c.PackageInfo:
    result: c.PackageInfo = ActivityEnvironment().run(PackagingActivities(deps).package_title, req)
    return result


def test_a_finished_package_is_returned_not_redone(local_deps: Deps) -> None:
    req, done_key = finished_package(local_deps)
    inline = package(local_deps, req)
    assert inline.files == ["manifest.mpd"] and inline.files_key == done_key
    req.files_by_key = True
    by_key = package(local_deps, req)
    assert by_key.files == [] and by_key.file_count == 1 and by_key.files_key == done_key


def test_keys_open_by_kid_for_their_own_title_only(local_deps: Deps) -> None:
    kids = (
        ActivityEnvironment()
        .run(PublishActivities(local_deps).generate_keys, c.KeysRequest("film", 1, ["AUDIO", "SD"]))
        .kids
    )
    keys = load_keys(local_deps, "film", kids)
    assert {str(cls) for cls in keys} == {"AUDIO", "SD"}
    assert all(k.kid.hex() == kids[str(cls)] for cls, k in keys.items())
    with pytest.raises(ApplicationError) as missing:
        load_keys(local_deps, "other", kids)
    assert missing.value.type == "KeyMissing"


def test_untagged_languages_fall_back() -> None:
    assert _language("fr", "en") == "fr"
    assert [_language(t, "en") for t in (None, "", "und", "zxx")] == ["en"] * 4
