"""Issue 25: HD and UHD keys go to hardware-backed DRM only, whatever the system.

The license proxy's request to the vendor names, per key class, the least robust client the
vendor may give that key to, in each system's own terms (Widevine security levels,
PlayReady security levels, FairPlay content security levels). The vendor is the stand-in
of tests/fixtures/fake_license_upstream.py (the one fake allowed: a commercial license
service cannot run here), which enforces those levels against a client level the test sets,
as a vendor does with the level in a CDM's challenge.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from reelflow.config import get_settings
from reelflow.packaging.streams import VideoRendition
from reelflow.playback_api.delivery.license_proxy import class_policy
from tests.fixtures.fake_license_upstream import FakeLicenseUpstream, fake_license
from tests.fixtures.published import GOP, SECONDS
from tests.playback_api.conftest import ApiHarness, OpenApi
from tests.playback_api.test_license_proxy import (
    SECRET,
    SOFTWARE,
    SYSTEMS,
    challenge_for,
    post_license,
    start,
)

# Issue 25: what the proxy asks of the client per class (HD and UHD: hardware-backed only).
ROBUSTNESS = {
    "widevine": {"audio": "SW_SECURE_CRYPTO", "sd": "SW_SECURE_CRYPTO",
                 "hd": "HW_SECURE_CRYPTO", "uhd": "HW_SECURE_ALL"},
    "playready": {"audio": "SL2000", "sd": "SL2000", "hd": "SL3000", "uhd": "SL3000"},
    "fairplay": {"audio": "baseline", "sd": "baseline", "hd": "main", "uhd": "main"},
}  # fmt: skip
HDCP = {"audio": "none", "sd": "none", "hd": "HDCP_V1", "uhd": "HDCP_V2_2"}


@pytest.fixture
def upstream() -> Iterator[FakeLicenseUpstream]:
    with FakeLicenseUpstream(SECRET) as server:
        yield server


@pytest.fixture
def api(open_api: OpenApi, upstream: FakeLicenseUpstream) -> ApiHarness:
    return open_api(**upstream.settings())


@pytest.fixture(scope="module")
def uhd(tmp_path_factory: pytest.TempPathFactory) -> VideoRendition:
    """A 2560x1440 rendition, so a title has a UHD key beside the 360p and 720p ones."""
    path = tmp_path_factory.mktemp("proxy-uhd") / "v1440.mp4"
    subprocess.run(
        [get_settings().binary("ffmpeg"), "-hide_banner", "-loglevel", "error", "-y", "-f",
         "lavfi", "-i", f"testsrc2=size=2560x1440:rate=24:duration={SECONDS}", "-c:v",
         "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-b:v", "900k", *GOP,
         "-an", str(path)],
        check=True,
    )  # fmt: skip
    return VideoRendition(path, 2560, 1440, 900_000)


@pytest.mark.parametrize("drm", SYSTEMS)
def test_hd_and_uhd_keys_are_asked_for_hardware_drm(
    api: ApiHarness, upstream: FakeLicenseUpstream, uhd: VideoRendition, drm: str
) -> None:
    """Issue 25: the request names, per class, the least robust client the vendor may give
    the key to, in that system's terms: software for audio and SD, hardware for HD and UHD
    (the proxy asked Widevine for SW_SECURE_DECODE, which L3 meets, for HD)."""
    published = api.publish("proxy-classes", extra_videos=(uhd,))
    playback = start(api, "proxy-classes", drm, plan="premium")
    response = post_license(api, playback["licenses"][drm], drm, viewer=playback["headers"])
    assert response.status_code == 200, response.text
    [seen] = upstream.received
    assert seen.entitlement is not None, seen.rejection
    assert {k.track_class for k in seen.entitlement.keys} == {"audio", "sd", "hd", "uhd"}
    policy = seen.entitlement.claims["policy"]["track_classes"]
    assert {c: p["robustness"] for c, p in policy.items()} == ROBUSTNESS[drm]
    assert {c: p["hdcp"] for c, p in policy.items()} == HDCP
    for cls in ("hd", "uhd"):
        assert not policy[cls]["security_level"].startswith("SW_"), policy[cls]
    # The most robust client gets every key of the entitlement.
    assert response.content == fake_license(drm, challenge_for(drm), seen.entitlement.kids)
    assert published.kid("uhd") in seen.entitlement.kids


@pytest.mark.parametrize("drm", SYSTEMS)
def test_a_software_client_gets_sd_at_most(
    api: ApiHarness, upstream: FakeLicenseUpstream, drm: str
) -> None:
    """A software CDM (Widevine L3, PlayReady SL2000, FairPlay baseline) of a premium viewer:
    the vendor, held to the entitlement's robustness, licenses audio and SD only."""
    published = api.publish("proxy-software")
    upstream.client_robustness[drm] = SOFTWARE[drm]
    playback = start(api, "proxy-software", drm, plan="premium")
    response = post_license(api, playback["licenses"][drm], drm, viewer=playback["headers"])
    assert response.status_code == 200, response.text
    [seen] = upstream.received
    assert seen.entitlement is not None, seen.rejection
    assert published.kid("hd") in seen.entitlement.kids  # entitled, but not to this client
    software = {published.kid("audio"), published.kid("sd")}
    assert response.content == fake_license(drm, challenge_for(drm), software)


@pytest.mark.parametrize("drm", SYSTEMS)
def test_a_class_the_table_does_not_know_gets_the_strictest_demands(drm: str) -> None:
    assert class_policy("8K", drm) == {
        "hdcp": "HDCP_V2_2",
        "security_level": "HW_SECURE_ALL",
        "robustness": ROBUSTNESS[drm]["uhd"],
    }
