"""The RFC 8693 token exchange request to Keycloak, and what its errors mean for the user."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx

from hubbroker.errors import BrokerError
from tokencontract.errors import echo

log = logging.getLogger("hubbroker")

#: A URL in text Keycloak sends back (e.g. "Invalid token issuer. Expected 'http://keycloak:
#: 8080/realms/demo'"): the back-channel address must not reach notebook users.
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]*", re.IGNORECASE)

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 (a URN)
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 (a URN)
#: Answers that say "not now" rather than "no": Keycloak (or a proxy in front of it)
#: overloaded or timing out. With every 5xx they mean ``idp_unavailable``.
BUSY_STATUSES = (408, 429)
TRY_AGAIN = "try again in a minute, and tell a hub admin if it persists."


def keycloak_unreachable(reason: str) -> BrokerError:
    """``idp_unavailable`` for a call to Keycloak that got no answer (``reason``: the kind of
    error, never its text, which may hold the back-channel URL)."""
    return BrokerError("idp_unavailable", f"Keycloak could not be reached ({reason}); {TRY_AGAIN}")


def keycloak_failed(what: str, status: int) -> BrokerError:
    """``idp_unavailable`` for Keycloak answering ``what`` with a failure status."""
    return BrokerError("idp_unavailable", f"Keycloak failed {what} (HTTP {status}); {TRY_AGAIN}")


async def exchange_token(
    http: httpx.AsyncClient,
    token_url: str,
    client_id: str,
    client_secret: str,
    subject_token: str,
    audience: str,
    scopes: tuple[str, ...],
) -> dict[str, Any]:
    """Exchange the user's access token for one limited to ``audience`` and ``scopes``.

    Returns Keycloak's token response (``access_token``, ``expires_in``, ``scope``, ...).
    Raises ``BrokerError``: ``login_required`` when Keycloak no longer accepts the user's
    token (session ended), ``scope_not_allowed`` when the user's roles produce no token for
    that audience, ``idp_unavailable`` when Keycloak cannot be reached (within ``http``'s
    timeout), fails (5xx, 408, 429, an answer that is not JSON or not a token) or refuses the
    hub's client; ``invalid_request`` for another refusal.

    Messages go to notebook users: they say "Keycloak", never ``token_url`` (often an internal
    back-channel address such as http://keycloak:8080/...); the hub's log has the URL.
    """
    data = {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "requested_token_type": ACCESS_TOKEN_TYPE,
        "audience": audience,
        "scope": " ".join(scopes),
    }
    try:
        response = await http.post(token_url, data=data, auth=(client_id, client_secret))
    except httpx.HTTPError as e:  # no answer within the client's timeout, refused, reset...
        log.warning("token-exchange: Keycloak unreachable at %s (%s)", token_url, type(e).__name__)
        raise keycloak_unreachable(type(e).__name__) from None
    if response.status_code == 200:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not is_token(body):
            log.warning("token-exchange: Keycloak at %s answered 200 without a token", token_url)
            raise BrokerError(
                "idp_unavailable", f"Keycloak answered without an access token; {TRY_AGAIN}"
            )
        return body
    return _raise_for_error(response, audience, scopes)


def is_token(body: Any) -> bool:
    """A token response the broker can use: a non-empty ``access_token`` string and, when
    present, a numeric ``expires_in``."""
    if not isinstance(body, dict):
        return False
    token, expires_in = body.get("access_token"), body.get("expires_in", 0)
    number = isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
    return isinstance(token, str) and bool(token) and number


def without_urls(text: str) -> str:
    """Keycloak's own words with every URL replaced by ``<Keycloak URL>``."""
    return _URL.sub("<Keycloak URL>", text)


def _raise_for_error(response: httpx.Response, audience: str, scopes: tuple[str, ...]) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    error = without_urls(str(body.get("error") or ""))
    description = without_urls(str(body.get("error_description") or ""))
    if response.status_code >= 500 or response.status_code in BUSY_STATUSES or not error:
        log.warning(
            "token-exchange: Keycloak at %s answered HTTP %s", response.url, response.status_code
        )
        raise keycloak_failed("the token exchange", response.status_code)
    if "audience not available" in description.lower():
        raise BrokerError(
            "scope_not_allowed",
            f"Keycloak grants none of {echo(' '.join(scopes))} for {audience} to this user.",
        )
    if error in ("unauthorized_client", "invalid_client"):
        raise BrokerError(
            "idp_unavailable",
            f"Keycloak refused the hub as a client ({echo(error)}): a hub admin must check "
            "the hub's client id and secret and that token exchange is enabled for it.",
        )
    if error in ("invalid_token", "invalid_grant") or response.status_code == 401:
        raise BrokerError(
            "login_required",
            "Your Keycloak session has ended or your login is no longer valid "
            f"({echo(description or error)}): log in to the hub again.",
        )
    raise BrokerError(
        "invalid_request",
        f"Keycloak refused the token exchange: {echo(error)}: {echo(description)}",
    )
