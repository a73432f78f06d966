"""The ``hubtokens`` command: the Python library's tokens for the shell, curl and any program.

    curl -H "Authorization: Bearer $(hubtokens get fruit-api fruits:read)" \\
         "$FRUIT_API_URL/fruits/usual"
    hubtokens list                 # the APIs and scopes you may ask for, granted or not
    hubtokens inspect fruit-api    # a token's header and claims (never its signature)
    hubtokens forget               # the broker forgets this server's cached tokens

Runs inside a notebook server started by JupyterHub (a terminal, a ``!`` line in a notebook,
a script), with the same client as ``hubtokens.get`` (``TokenClient``: the same retries while
the hub or Keycloak is down, the same errors). Each run is a new process, so the command has no
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
import jwt

from .client import TokenClient
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
}

#: Claims holding times (seconds since the epoch), shown with the local time as well.
TIME_CLAIMS = ("exp", "iat", "nbf", "auth_time")


def _client() -> TokenClient:
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
    """The APIs and scopes you may ask for, and whether you hold each scope's role now."""
    listing = _client().available()
    if as_json:
        click.echo(json.dumps(listing, indent=2))
        return
    rows = [("AUDIENCE", "SCOPE", "GRANTED", "ROLE", "DESCRIPTION")]
    for audience, api in sorted(listing.get("audiences", {}).items()):
        for name, scope in sorted(api.get("scopes", {}).items()):
            granted = {True: "yes", False: "no", None: "-"}.get(scope.get("granted"), "?")
            rows.append(
                (audience, name, granted, scope.get("role") or "-", scope.get("description", ""))
            )
    click.echo(_table(rows))
    if any(row[2] == "no" for row in rows[1:]):
        click.echo(
            "\nA scope you are not granted needs its role: ask an admin to add you to a group "
            "that has it.",
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
    try:
        header = jwt.get_unverified_header(token.value)
    except jwt.PyJWTError:
        header = {}
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
