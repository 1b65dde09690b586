"""Signed media prefixes (nginx secure_link compatible) and playback tokens."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from reelflow.playback_api.auth.signing import (
    THUMBNAILS_HOLDER,
    MediaPathClaim,
    SigningConfigError,
    issue_playback_token,
    media_link_secret,
    sign_prefix,
    verify_media_path,
    verify_playback_token,
)
from reelflow.playback_api.http.problems import Problem

SECRET = media_link_secret(b"main-signing-secret-for-tests-000000")
S = "s" + "0123456789abcdef" * 2  # a session id, the holder of most links here
NOW = 1_800_000_000
EXP = NOW + 300


def slug_of(secret: str, path: str, now: float = NOW) -> str:
    with pytest.raises(Problem) as info:
        verify_media_path(secret, path, now)
    return info.value.slug


def test_prefix_shape_and_round_trip() -> None:
    prefix = sign_prefix(SECRET, "tt-001", "v3", EXP, holder=S)
    assert re.fullmatch(rf"/media/{EXP}/[A-Za-z0-9_-]{{22}}/{S}/tt-001/v3/", prefix)
    claim = verify_media_path(SECRET, prefix + "video/720/12.m4s", NOW)
    assert claim == MediaPathClaim(S, "tt-001", "v3", "video/720/12.m4s", EXP)


def test_signature_is_what_nginx_secure_link_md5_computes() -> None:
    prefix = sign_prefix(SECRET, "tt-001", "v3", EXP, holder=S)
    sig = prefix.split("/")[3]
    # secure_link_md5 "$media_exp/media$media_scope <secret>" from deploy/nginx.
    expected = hashlib.md5(f"{EXP}/media/{S}/tt-001/v3/ {SECRET}".encode()).digest()
    assert base64.urlsafe_b64encode(expected).rstrip(b"=").decode() == sig


def test_link_secret_is_derived_and_nginx_safe() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", SECRET)
    assert media_link_secret(b"other") != SECRET
    for bad in (
        "short",
        'has"quote-aaaaaaaaaaaa',
        "has$var-aaaaaaaaaaaaaa",
        "sp ace-aaaaaaaaaaaaa",
    ):
        with pytest.raises(SigningConfigError):
            sign_prefix(bad, "t", "v", EXP, holder=S)


@pytest.mark.parametrize("title", ["..", ".", "a/b", "", "x" * 200, "a b", "%2e%2e"])
def test_unsafe_ids_cannot_be_signed(title: str) -> None:
    with pytest.raises(SigningConfigError):
        sign_prefix(SECRET, title, "v1", EXP, holder=S)


def test_tampered_signature_expiry_title_and_version_are_forbidden() -> None:
    prefix = sign_prefix(SECRET, "tt-001", "v3", EXP, holder=S)
    _, _, exp, sig, holder, title, version, _ = prefix.split("/")
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    assert slug_of(SECRET, f"/media/{exp}/{flipped}/{holder}/{title}/{version}/a.m4s") == (
        "forbidden"
    )
    assert slug_of(SECRET, f"/media/{EXP + 3600}/{sig}/{holder}/{title}/{version}/a.m4s") == (
        "forbidden"
    )
    assert slug_of(SECRET, f"/media/{exp}/{sig}/{holder}/tt-002/{version}/a.m4s") == "forbidden"
    assert slug_of(SECRET, f"/media/{exp}/{sig}/{holder}/{title}/v4/a.m4s") == "forbidden"
    # Another session's id (or the thumbnails holder) in place of this one's: the holder is
    # signed, so a link of session A is no link of session B.
    other = "s" + "f" * 32
    assert slug_of(SECRET, f"/media/{exp}/{sig}/{other}/{title}/{version}/a.m4s") == "forbidden"
    assert slug_of(SECRET, prefix.replace(S, THUMBNAILS_HOLDER) + "thumbs/a.jpg") == "forbidden"
    # No holder at all (links before issue 25): malformed.
    assert slug_of(SECRET, f"/media/{exp}/{sig}/{title}/{version}/a.m4s") == "forbidden"
    other_secret = media_link_secret(b"another-secret")
    assert slug_of(other_secret, prefix + "a.m4s") == "forbidden"


def test_expired_link_is_410_only_when_the_signature_is_genuine() -> None:
    prefix = sign_prefix(SECRET, "tt-001", "v3", NOW - 1, holder=S)
    with pytest.raises(Problem) as info:
        verify_media_path(SECRET, prefix + "a.m4s", NOW)
    assert info.value.slug == "link_expired"
    assert info.value.status == 410
    # Exactly at exp the link still works (nginx: expired when exp < now).
    at_edge = sign_prefix(SECRET, "tt-001", "v3", NOW, holder=S)
    assert verify_media_path(SECRET, at_edge + "a.m4s", NOW).expires_at == NOW
    forged = prefix.replace("tt-001", "tt-002")
    assert slug_of(SECRET, forged + "a.m4s") == "forbidden"


@pytest.mark.parametrize(
    "subpath",
    [
        "../tt-002/v1/a.m4s",
        "video/../../tt-002/v1/a.m4s",
        "..",
        "./a.m4s",
        "%2e%2e/%2e%2e/tt-002/v1/a.m4s",
        "%2E%2E%2Fa.m4s",
        "video%2f..%2fa.m4s",
        "%252e%252e/a.m4s",
        "video\\..\\a.m4s",
        "a.m4s\x00.jpg",
        "/etc/passwd",
        "video//a.m4s",
        "",
        "video/",
        ".hidden",
        "a b.m4s",
        "a.m4s?x=1",
    ],
)
def test_traversal_and_odd_subpaths_are_forbidden(subpath: str) -> None:
    prefix = sign_prefix(SECRET, "tt-001", "v3", EXP, holder=S)
    assert slug_of(SECRET, prefix + subpath) == "forbidden"


@pytest.mark.parametrize(
    "path",
    [
        "/media/",
        "/other/1/2/3/4/5",
        f"/media/{EXP}/short/tt/v/a.m4s",
        f"/media/-1/{'A' * 22}/tt/v/a.m4s",
        f"/media/{EXP}/{'A' * 22}/tt/v",
        f"/media/{EXP}/{'A' * 22}/../v/a.m4s",
        "/media/" + "1" * 2000,
    ],
)
def test_malformed_media_paths_are_forbidden(path: str) -> None:
    assert slug_of(SECRET, path) == "forbidden"


def test_playback_token_round_trip_and_binding() -> None:
    token = issue_playback_token(b"s" * 32, "sess-1", "tt-001", "v3", EXP)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}", token)
    claim = verify_playback_token(
        b"s" * 32, token, NOW, session_id="sess-1", title_id="tt-001", version="v3"
    )
    assert (claim.session_id, claim.title_id, claim.version, claim.expires_at) == (
        "sess-1",
        "tt-001",
        "v3",
        EXP,
    )
    for binding in ({"title_id": "tt-002"}, {"version": "v4"}, {"session_id": "sess-2"}):
        with pytest.raises(Problem) as info:
            verify_playback_token(b"s" * 32, token, NOW, **binding)
        assert info.value.slug == "forbidden"


def test_playback_token_refusals() -> None:
    secret = b"s" * 32
    token = issue_playback_token(secret, "sess-1", "tt-001", "v3", EXP)
    body, mac = token.split(".")

    def slug(candidate: str, now: float = NOW, key: bytes = secret) -> str:
        with pytest.raises(Problem) as info:
            verify_playback_token(key, candidate, now)
        return info.value.slug

    assert slug(token, now=EXP + 1) == "token_expired"
    assert slug(token, key=b"t" * 32) == "invalid_token"
    other_body = issue_playback_token(secret, "sess-1", "tt-002", "v3", EXP).split(".")[0]
    assert slug(f"{other_body}.{mac}") == "invalid_token"
    assert slug(f"{body}.") == "invalid_token"
    assert slug(f"{body}.{mac}.x") == "invalid_token"
    assert slug("") == "invalid_token"
    assert slug("x" * 5000) == "invalid_token"
    assert slug(f"{body}.{mac[:-2]}!!") == "invalid_token"
    assert slug(f"{body}é.{mac}") == "invalid_token"  # non-ASCII is refused, not a crash


def test_playback_token_is_not_interchangeable_with_a_media_link() -> None:
    # Domain separation: the raw-secret HMAC of the body must not validate.
    import hmac as hmac_mod

    secret = b"s" * 32
    body = issue_playback_token(secret, "sess-1", "tt-001", "v3", EXP).split(".")[0]
    raw_mac = hmac_mod.new(secret, body.encode(), hashlib.sha256).digest()
    naive = f"{body}.{base64.urlsafe_b64encode(raw_mac).rstrip(b'=').decode()}"
    with pytest.raises(Problem):
        verify_playback_token(secret, naive, NOW)


def test_a_thumbnails_link_opens_thumbs_only() -> None:
    prefix = sign_prefix(SECRET, "tt-001", "v3", EXP, holder=THUMBNAILS_HOLDER)
    claim = verify_media_path(SECRET, prefix + "thumbs/sprite_0.jpg", NOW)
    assert claim.holder == THUMBNAILS_HOLDER and claim.object_subpath == "thumbs/sprite_0.jpg"
    for rest in ("video_360p_300k/1.m4s", "video_360p_300k.m3u8", "thumbsx/a.jpg", "a.vtt"):
        assert slug_of(SECRET, prefix + rest) == "forbidden", rest


@pytest.mark.parametrize("holder", ["", "s123", "S" + "0" * 32, "thumbs2", "..", "x/y"])
def test_only_session_ids_and_thumbs_can_hold_a_link(holder: str) -> None:
    with pytest.raises(SigningConfigError):
        sign_prefix(SECRET, "tt-001", "v3", EXP, holder=holder)
