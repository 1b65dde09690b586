from __future__ import annotations

from reelflow.domain.content_keys import ContentKey
from reelflow.domain.track_classes import TrackClass
from reelflow.packaging import drm
from reelflow.packaging.packager import PackageResult


def test_system_ids() -> None:
    assert drm.WIDEVINE.system_id == "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
    assert drm.PLAYREADY.system_id == "9a04f079-9840-4286-ab92-e65be0885f95"
    assert drm.FAIRPLAY.system_id == "94ce86fb-07ff-4f43-adb8-93d2fa968ca2"
    assert drm.CLEARKEY.system_id == "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"


def test_pssh_builders_match_the_packager(
    encrypted_pkg: PackageResult, content_keys: dict[TrackClass, ContentKey]
) -> None:
    # The packager lists every KID, ordered by DRM label, in the Widevine and common PSSH.
    all_kids = [content_keys[tc].kid for tc in sorted(content_keys, key=lambda t: t.value)]
    checked = 0
    for cp in drm.mpd_content_protection(encrypted_pkg.mpd_path):
        if cp.system is None or cp.pssh is None:
            continue
        if cp.system is drm.PLAYREADY:
            own = next(c for c in drm.mpd_content_protection(encrypted_pkg.mpd_path)
                       if c.adaptation_set == cp.adaptation_set and c.default_kid)  # fmt: skip
            assert own.default_kid is not None
            assert drm.playready_pssh([bytes.fromhex(own.default_kid)]) == cp.pssh
        else:
            assert drm.pssh_for(cp.system, all_kids) == cp.pssh
        checked += 1
    assert checked == 9  # 3 systems x 3 encrypted adaptation sets


def test_parse_hls_key_defaults_to_identity() -> None:
    (key,) = drm.parse_hls_keys('#EXT-X-KEY:METHOD=AES-128,URI="k.bin"')
    assert key.keyformat == "identity" and key.method == "AES-128" and key.uri == "k.bin"
