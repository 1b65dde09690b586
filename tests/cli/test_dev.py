"""`reelflow dev token`: the printed token verifies as the API would verify it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner, Result

from reelflow.cli.dev import dev_app
from reelflow.config import Settings, get_settings
from reelflow.playback_api.auth.auth_config import verifier_from_settings
from reelflow.playback_api.http.problems import Problem


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """Embedded settings in a private home; tests may set more REELFLOW_* before invoking."""
    monkeypatch.setenv("REELFLOW_HOME", str(tmp_path / "state"))
    for name in ("REELFLOW_ENV", "REELFLOW_AUTH_ALGORITHMS", "REELFLOW_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def invoke(*args: str) -> Result:
    get_settings.cache_clear()  # pick up env set by the test
    return CliRunner().invoke(dev_app, list(args))


def _settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


def test_token_verifies_and_carries_the_claims(env: pytest.MonkeyPatch) -> None:
    r = invoke(
        "token", "--plan", "standard", "--country", "gb", "--sub", "acct-42", "--admin",
        "--ttl", "600",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    token = r.stdout.strip()
    assert r.stdout == token + "\n"  # one line, nothing else: usable in $(...)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"

    settings = _settings()
    viewer = verifier_from_settings(settings, settings.secrets().signing_secret).verify(token)
    assert (viewer.sub, viewer.plan, viewer.country, viewer.admin) == (
        "acct-42",
        "standard",
        "GB",
        True,
    )
    assert 590 <= viewer.exp - time.time() <= 601


def test_defaults_are_a_premium_us_viewer_for_an_hour(env: pytest.MonkeyPatch) -> None:
    r = invoke("token")
    assert r.exit_code == 0, r.output
    settings = _settings()
    viewer = verifier_from_settings(settings, settings.secrets().signing_secret).verify(
        r.stdout.strip()
    )
    assert (viewer.sub, viewer.plan, viewer.country, viewer.admin) == (
        "dev-viewer",
        "premium",
        "US",
        False,
    )
    assert 3590 <= viewer.exp - time.time() <= 3601


def test_token_does_not_verify_under_another_home(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    r = invoke("token")
    assert r.exit_code == 0, r.output
    # Another installation generates another signing secret: the token is bound to this one.
    other = Settings(home=tmp_path / "other")
    verifier = verifier_from_settings(other, other.secrets().signing_secret)
    with pytest.raises(Problem) as caught:
        verifier.verify(r.stdout.strip())
    assert caught.value.slug == "invalid_token"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--plan", "gold"), "basic, standard, premium"),
        (("--country", "USA"), "alpha-2"),
        (("--country", "1A"), "alpha-2"),
        (("--sub", "has space"), "--sub"),
        (("--sub", "x" * 65), "--sub"),
        (("--ttl", "10"), "--ttl"),
        (("--ttl", str(8 * 24 * 3600)), "--ttl"),
        (("--console-url",), "--admin"),  # the link signs in the admin console only
    ],
)
def test_bad_options_fail_with_a_clear_message(
    env: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    r = invoke("token", *args)
    assert r.exit_code == 2
    assert message in r.stderr
    assert r.stdout == ""  # no token printed


def test_refused_outside_embedded_mode(env: pytest.MonkeyPatch) -> None:
    env.setenv("REELFLOW_ENV", "production")
    r = invoke("token")
    assert r.exit_code == 2
    assert "embedded mode" in r.stderr and "production" in r.stderr
    assert r.stdout == ""


def test_refused_when_hs256_is_not_accepted(env: pytest.MonkeyPatch) -> None:
    env.setenv("REELFLOW_AUTH_ALGORITHMS", "RS256")
    r = invoke("token")
    assert r.exit_code == 2
    assert "HS256" in r.stderr and r.stdout == ""


def test_console_url_carries_an_admin_token_in_the_fragment(env: pytest.MonkeyPatch) -> None:
    # The one way to an admin dev token (POST /v1/dev/token refuses "admin": true).
    env.setenv("REELFLOW_API_PORT", "8123")
    r = invoke("token", "--admin", "--console-url", "--sub", "ops-1")
    assert r.exit_code == 0, r.output
    url = r.stdout.strip()
    assert r.stdout == url + "\n"
    base, _, token = url.partition("/admin#token=")
    assert base == "http://127.0.0.1:8123"  # the embedded API's own loopback address
    settings = _settings()
    viewer = verifier_from_settings(settings, settings.secrets().signing_secret).verify(token)
    assert (viewer.sub, viewer.admin) == ("ops-1", True)
