"""`reelflow dev ...`: embedded-mode helpers (viewer tokens for curl and the web player)."""

from __future__ import annotations

import re
from typing import Annotated, cast

import typer
from rich.console import Console

from reelflow.config import ConfigError, get_settings

dev_app = typer.Typer(no_args_is_help=True, help="embedded/dev mode helpers")
err = Console(stderr=True)

# Same account-id shape as POST /v1/dev/token, so a CLI token names an account the web
# player can also pick.
_SUB_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")
# Dev tokens cannot be revoked (only the signing secret can be rotated), so keep them short.
MIN_TTL_S = 60
MAX_TTL_S = 7 * 24 * 3600


@dev_app.callback()
def dev() -> None:
    """Embedded/dev mode helpers; refused when REELFLOW_ENV=production."""
    # A callback keeps `token` a named subcommand (`reelflow dev token`) even while it is
    # the only one: Typer otherwise runs a lone command as the group itself.


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{message}[/]")
    return typer.Exit(2)


@dev_app.command("token")
def token_cmd(
    plan: Annotated[str, typer.Option(help="basic, standard or premium")] = "premium",
    country: Annotated[str, typer.Option(help="ISO 3166 alpha-2 country, e.g. US")] = "US",
    sub: Annotated[str, typer.Option(help="account id (the token's sub claim)")] = "dev-viewer",
    admin: Annotated[bool, typer.Option("--admin", help="grant admin endpoints")] = False,
    ttl: Annotated[int, typer.Option(help="lifetime in seconds")] = 3600,
    console_url: Annotated[
        bool,
        typer.Option("--console-url", help="print the admin console's sign-in link (--admin)"),
    ] = False,
) -> None:
    """Print an HS256 viewer token for the embedded stack (use as `Authorization: Bearer ...`).

    Admin tokens come only from here (the API's dev-token endpoint refuses them): whoever can
    run this can read the dev secret anyway."""
    from reelflow.playback_api.auth.auth import Plan, mint_dev_token
    from reelflow.playback_api.auth.auth_config import dev_token_secret, verifier_config

    settings = get_settings()
    if settings.env != "embedded":
        # Production verifies identity-provider tokens only (RS256/ES256); an HS256 token
        # minted here would be refused, and minting one must not even be possible there.
        raise _fail(
            f"dev tokens exist only in embedded mode (REELFLOW_ENV is {settings.env!r}); "
            "get a token from your identity provider"
        )
    _check_token_options(plan, country, sub, ttl, admin=admin, console_url=console_url)
    try:
        signing_secret = settings.secrets().signing_secret
        algorithms = verifier_config(settings, signing_secret).algorithms
    except ConfigError as exc:
        raise _fail(str(exc))
    if "HS256" not in algorithms:
        raise _fail(
            "REELFLOW_AUTH_ALGORITHMS does not include HS256, so the API would refuse a dev "
            "token; add HS256 or unset it"
        )
    token = mint_dev_token(
        dev_token_secret(signing_secret),
        sub=sub,
        plan=cast(Plan, plan),  # checked against PLANS above
        country=country,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        admin=admin,
        ttl_s=ttl,
        admin_audience=settings.auth_admin_audience,
    )
    # typer.echo, not rich: rich wraps long lines at the terminal width, breaking the token.
    typer.echo(
        admin_console_url(settings.resolved_public_base_url, token) if console_url else token
    )


def _check_token_options(
    plan: str, country: str, sub: str, ttl: int, *, admin: bool, console_url: bool
) -> None:
    from reelflow.playback_api.auth.auth import ADMIN_MAX_LIFETIME_S, PLANS

    if plan not in PLANS:
        raise _fail(f"--plan must be one of {', '.join(PLANS)}, not {plan!r}")
    if not _COUNTRY_RE.match(country):
        raise _fail(f"--country must be an ISO 3166 alpha-2 code such as US, not {country!r}")
    if not _SUB_RE.match(sub):
        raise _fail(f"--sub must be 1-64 characters of letters, digits and ._@-, not {sub!r}")
    if not MIN_TTL_S <= ttl <= MAX_TTL_S:
        raise _fail(f"--ttl must be between {MIN_TTL_S} and {MAX_TTL_S} seconds, not {ttl}")
    if console_url and not admin:
        raise _fail("--console-url signs in the admin console: add --admin")
    if admin and ttl > ADMIN_MAX_LIFETIME_S:
        raise _fail(f"an admin token may live at most {ADMIN_MAX_LIFETIME_S} s, not {ttl}")


def admin_console_url(base_url: str, token: str) -> str:
    """The console's sign-in link: the token rides in the fragment, which the browser never
    sends (so no access log or proxy sees it); the page keeps it and drops it from the URL."""
    return f"{base_url.rstrip('/')}/admin#token={token}"
