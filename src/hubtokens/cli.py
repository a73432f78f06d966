"""The ``hubtokens`` command: the Python library's tokens for the shell, curl and any program.

    curl -H "Authorization: Bearer $(hubtokens get fruit-api fruits:read)" \\
         "$FRUIT_API_URL/fruits/usual"
    hubtokens list                 # the APIs and scopes you may ask for, granted or not
    hubtokens inspect fruit-api    # a token's header and claims (never its signature)
    hubtokens forget               # the broker forgets this server's cached tokens
    hubtokens files                # the token files this server keeps fresh
    hubtokens login --issuer URL SCOPE...   # outside a hub (a laptop): log in to Keycloak
    hubtokens logout                        # ... and out again

Runs inside a notebook server started by JupyterHub (a terminal, a ``!`` line in a notebook,
a script), with the same client as ``hubtokens.get`` (``TokenClient``: the same retries while
the hub or Keycloak is down, the same errors); outside a hub, after ``hubtokens login``, with
the laptop's Keycloak login (``hubtokens.laptop``). Each run is a new process, so the command has no
cache of its own: the broker's cache answers a repeated ``get`` (1-2 ms).

Errors: one line on stderr, ``hubtokens: <code>: <what happened and what to do>``, and an exit
status per broker error code (``EXIT_STATUS``, documented in docs/tokens-everywhere.md).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

import click

from tokencontract.claims import unverified_claims, unverified_header

from . import files as token_files
from .client import TokenClient, client_here
from .errors import HubTokensError

#: The command's exit status for each error code (0: success; 2: a usage error, from click).
#: Scripts can tell "not allowed" (ask an admin) from "down" (try again later).
EXIT_STATUS: dict[str, int] = {
    "error": 1,  # any other failure of the broker
    "not_in_jupyterhub": 3,
    "login_required": 4,
    "forbidden": 5,
    "audience_not_allowed": 6,
    "scope_not_allowed": 7,
    "invalid_request": 8,
    "request_too_large": 9,
    "rate_limited": 10,
    "idp_unavailable": 11,
    "hub_unavailable": 12,
    "broker_unreachable": 13,
    "token_files": 14,  # ~/.config/hubtokens/files.toml is wrong
    "not_granted_to_job": 15,
    "grant_ended": 16,
}

#: Claims holding times (seconds since the epoch), shown with the local time as well.
TIME_CLAIMS = ("exp", "iat", "nbf", "auth_time")


def _client() -> TokenClient:
    return client_here()


def _hub_client() -> TokenClient:
    """The hub's API, for what only a hub has (job grants): inside a notebook server."""
    return TokenClient()


def _fail(error: HubTokensError) -> None:
    """One line on stderr, and the exit status of the error's code."""
    line = " ".join(str(error).split())  # one line, whatever the message holds
    click.echo(f"hubtokens: {error.code}: {line}", err=True)
    sys.exit(EXIT_STATUS.get(error.code, EXIT_STATUS["error"]))


class Command(click.Group):
    """Runs each subcommand with the library's errors turned into one line and an exit
    status, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HubTokensError as error:
            _fail(error)


@click.group(cls=Command, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Short-lived tokens for the APIs your notebook server may call, as the logged-in user.

    Inside a JupyterHub notebook server (a terminal, a notebook's ! line, a script). Each
    token is minted by the hub for one API (its AUDIENCE) and the SCOPEs you ask for, and
    lives a few minutes: ask again rather than keeping it.

    \b
    Examples:
      curl -H "Authorization: Bearer $(hubtokens get fruit-api fruits:read)" \\
           "$FRUIT_API_URL/fruits/usual"
      hubtokens list
      hubtokens inspect fruit-api fruits:read
    """


@main.command()
@click.argument("audience")
@click.argument("scope", nargs=-1)
def get(audience: str, scope: tuple[str, ...]) -> None:
    """Print a token for AUDIENCE with the SCOPEs given, and nothing else.

    Without SCOPE, the API's default scopes. Only the token goes to stdout, so that
    $(hubtokens get ...) is the token; errors go to stderr, with a non-zero exit status.
    """
    token = _client().get(audience, list(scope) or None)
    click.echo(token.value)


@main.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="The broker's answer as JSON.")
def list_(as_json: bool) -> None:
    """The APIs and scopes you may ask for, whether you hold each scope's role now, and for
    how many days at most a job grant may hold it (JOBS; - : never)."""
    listing = _client().available()
    if as_json:
        click.echo(json.dumps(listing, indent=2))
        return
    rows = [("AUDIENCE", "SCOPE", "GRANTED", "ROLE", "GROUPS", "JOBS", "DESCRIPTION")]
    for audience, api in sorted(listing.get("audiences", {}).items()):
        for name, scope in sorted(api.get("scopes", {}).items()):
            granted = {True: "yes", False: "no", None: "-"}.get(scope.get("granted"), "?")
            groups = ",".join(scope.get("groups") or []) or "-"
            role, description = scope.get("role") or "-", scope.get("description", "")
            jobs = scope.get("jobs") or {}
            days = f"{jobs['max_days']}d" if jobs.get("allowed") else "-"
            rows.append((audience, name, granted, role, groups, days, description))
    click.echo(_table(rows))
    if any(row[2] == "no" for row in rows[1:]):
        click.echo(
            "\nA scope you are not granted needs its role: ask an admin to add you to one of "
            "its GROUPS.",
            err=True,
        )


@main.command()
@click.argument("audience")
@click.argument("scope", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Header and claims as JSON.")
def inspect(audience: str, scope: tuple[str, ...], as_json: bool) -> None:
    """Show the header and claims of a token for AUDIENCE (never its signature).

    Decoded here, without verifying it: for reading (who, which audience, which scopes,
    until when), not for deciding anything; the API verifies the token.
    """
    token = _client().get(audience, list(scope) or None)
    header = unverified_header(token.value)
    if as_json:
        click.echo(json.dumps({"header": header, "claims": token.claims}, indent=2))
        return
    rows = [("", "NAME", "VALUE")]
    rows += [("header", k, _shown(k, v)) for k, v in header.items()]
    rows += [("claim", k, _shown(k, v)) for k, v in token.claims.items()]
    click.echo(_table(rows))


@main.command()
def forget() -> None:
    """Make the hub forget the tokens it cached for this server: the next get mints anew
    (after your groups changed, say)."""
    forgotten = _client().forget()
    click.echo(f"The hub forgot {forgotten} cached token{'s' if forgotten != 1 else ''}.")


@main.command(name="files")
def files_() -> None:
    """The token files this server keeps fresh, for programs that read a token from a file.

    Each is rewritten before its token expires, in $XDG_RUNTIME_DIR/hubtokens/ (in memory,
    mode 0600). Your hub admin names some (idp/apis.yml); add your own in
    ~/.config/hubtokens/files.toml, one table per file, e.g.

    \b
      [fruit-writer]
      audience = "fruit-api"
      scopes = ["fruits:read", "fruits:write"]

    The server reads that file again within 10 s of a change.
    """
    admin = token_files.admin_files(_client().available())
    config = token_files.user_config_path()
    problem = None
    try:
        user = token_files.user_files(config)
    except token_files.TokenFilesError as e:
        problem, user = e, []
    try:
        directory = str(token_files.files_dir())
    except token_files.TokenFilesError:
        directory = ""
    rows = [("FILE", "AUDIENCE", "SCOPES", "FROM", "NOW")]
    for wanted in token_files.merged(admin, user):
        path = f"{directory}/{wanted.name}" if directory else wanted.name
        rows.append((path, wanted.audience, wanted.scope or "-", wanted.source, _state(path)))
    click.echo(_table(rows) if len(rows) > 1 else "No token files.")
    if not directory:
        click.echo("\nXDG_RUNTIME_DIR is not set: this server writes no token files.", err=True)
    if problem is not None:
        click.echo(f"hubtokens: token_files: {problem}", err=True)
        sys.exit(EXIT_STATUS["token_files"])


@main.command()
@click.option(
    "--issuer",
    envvar="HUBTOKENS_ISSUER",
    help="Keycloak's realm URL, e.g. https://auth.example.org/auth/realms/demo (your hub "
    "admin knows it). Default: $HUBTOKENS_ISSUER, else your last login's.",
)
@click.option(
    "--client-id",
    envvar="HUBTOKENS_CLIENT_ID",
    help="Keycloak's client for this command (default: hubtokens-laptop, from idp/).",
)
@click.argument("scope", nargs=-1)
def login(issuer: str | None, client_id: str | None, scope: tuple[str, ...]) -> None:
    """Outside a hub (a laptop): log in to Keycloak, then get tokens as in a hub.

    Name every SCOPE you will ask tokens for (each token is narrowed to the scopes it asks
    for); without any, those of your last login. You confirm the login in a browser, on any
    device: the command prints the address and a code. Your login is kept in the OS keyring
    (else in a file of mode 0600, with a warning) until hubtokens logout.

    \b
    Example:
      hubtokens login --issuer https://auth.example.org/auth/realms/demo fruits:read
      curl -H "Authorization: Bearer $(hubtokens get fruit-api fruits:read)" ...
    """
    laptop = _laptop()
    store = laptop.LoginStore()
    last = store.login()
    issuer = issuer or (last.issuer if last else None)
    if not issuer:
        raise click.UsageError("Give --issuer: Keycloak's realm URL (ask your hub admin).")
    scopes = scope or (last.scopes if last else ())
    if not scopes:
        raise click.UsageError("Name the scopes you will ask tokens for, e.g. fruits:read.")

    def show(device: dict[str, Any]) -> None:
        where = device.get("verification_uri_complete") or device.get("verification_uri")
        click.echo(
            f"To log in, open {where} in a browser and confirm the code "
            f"{device.get('user_code')} (it expires in {device.get('expires_in', '?')} s).",
            err=True,
        )

    done = laptop.log_in(issuer, scopes, show, client_id=client_id or laptop.CLIENT_ID, store=store)
    click.echo(f"Logged in to {done.issuer} for {' '.join(done.scopes)}.", err=True)


@main.command()
def logout() -> None:
    """Outside a hub: end this machine's Keycloak login (revoked at Keycloak) and forget it."""
    laptop = _laptop()
    if laptop.log_out():
        click.echo("Logged out: the login is revoked at Keycloak and forgotten here.", err=True)
    else:
        click.echo("Not logged in on this machine.", err=True)


def _laptop() -> Any:
    """hubtokens.laptop, or a clear error where its libraries are not installed."""
    try:
        from . import laptop
    except ImportError as e:
        raise click.ClickException(
            f"Laptop mode needs {e.name}: pip install 'jupyterhub-keycloak-tokens[laptop]'."
        ) from None
    return laptop


def _state(path: str) -> str:
    """What the file holds now: "expires in 3m 12s", "missing", "expired"."""
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            claims = unverified_claims(file.read().strip())
    except OSError:
        return "missing"
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        return "not a token"
    left = int(expires - datetime.now().timestamp())
    return f"expires in {left // 60}m {left % 60:02d}s" if left > 0 else "expired"


@main.group(cls=Command)
def grants() -> None:
    """Your job grants: what work that runs without you (after you log out) may mint, and
    until when (the hub's Job grants page shows the same; docs/jobs.md)."""


@grants.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="The hub's answer as JSON.")
def grants_list(as_json: bool) -> None:
    """Your grants, newest first; those Keycloak no longer holds are listed ended."""
    found = _hub_client().grants()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    rows = [("NAME", "SCOPES", "UNTIL", "STATE", "WHY")]
    for grant in found:
        until = datetime.fromtimestamp(float(grant.get("deadline", 0))).astimezone()
        rows.append(
            (
                str(grant.get("name", "")),
                " ".join(grant.get("scopes") or []),
                f"{until:%Y-%m-%d %H:%M %Z}",
                str(grant.get("state", "")),
                str(grant.get("reason") or "-"),
            )
        )
    click.echo(_table(rows) if found else "No job grants: make one with `hubtokens grants create`.")


@grants.command(name="create")
@click.argument("name")
@click.argument("scope", nargs=-1, required=True)
@click.option("--days", type=int, required=True, help="How long it lasts (at most the "
              "shortest JOBS of its scopes in `hubtokens list`).")  # fmt: skip
def grants_create(name: str, scope: tuple[str, ...], days: int) -> None:
    """Start grant NAME for SCOPEs; it exists once you confirm it at Keycloak, in your browser
    (a fresh sign-in and a consent screen, which no script can give for you)."""
    started = _hub_client().start_grant(name, list(scope), days)
    click.echo(
        f"Open this address in your browser within {started['expires_in'] // 60} minutes, "
        "sign in and confirm; then `hubtokens grants list` shows the grant:\n"
        f"{started['confirm_url']}"
    )


@grants.command(name="revoke")
@click.argument("grant")
def grants_revoke(grant: str) -> None:
    """Revoke GRANT (its name or id) at Keycloak and on the hub: work using it mints no more."""
    ended = _hub_client().revoke_grant(grant)
    click.echo(f"{ended.get('name')}: {ended.get('state')} ({ended.get('reason') or '-'})")


def _shown(name: str, value: Any) -> str:
    if name in TIME_CLAIMS and isinstance(value, int | float) and not isinstance(value, bool):
        local = datetime.fromtimestamp(value).astimezone()
        return f"{value:.0f} ({local:%Y-%m-%d %H:%M:%S %Z})"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
