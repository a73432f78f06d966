"""What a failed refresh of a user's Keycloak token means for the broker's caller.

OAuthenticator refreshes through tornado; its failures come as tornado's ``HTTPClientError``
(an HTTP answer, or code 599 for none), tornado's ``HTTPError`` (OAuthenticator's own
refusals), socket errors, or an answer that is not JSON. Each maps to one of the broker's
error codes, never to an exception of another type: ``idp_unavailable`` when Keycloak is not
answering, failing, or refusing the hub's own client (a hub admin must act);
``login_required`` for any other refusal (the refresh token expired or was revoked).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from tornado.httpclient import HTTPClientError
from tornado.web import HTTPError

from hubbroker.errors import BrokerError
from hubbroker.exchange import keycloak_failed, keycloak_unreachable

#: Keycloak's OAuth error codes that mean the hub's own client was refused (its id, secret or
#: settings), not the user's session: a hub admin must act, logging in again would not help.
CLIENT_REFUSED = ("invalid_client", "unauthorized_client")


def keycloak_down(error: BaseException) -> bool:
    """Whether an error of a call to Keycloak through tornado (OAuthenticator's ``httpfetch``)
    means Keycloak is unavailable: no answer (tornado's code 599: refused, reset, timed out;
    or a socket error), or a 5xx answer (Keycloak, or a proxy in front of it, failing)."""
    if isinstance(error, HTTPClientError):
        return error.code == 599 or error.code >= 500
    return isinstance(error, OSError)  # also TimeoutError, ssl and DNS errors


def oauth_error(error: HTTPClientError) -> str:
    """The ``error`` code of Keycloak's JSON error answer ("" when there is none)."""
    body = getattr(error.response, "body", None) or b""
    try:
        parsed = json.loads(body)
    except ValueError:
        return ""
    return str(parsed.get("error") or "") if isinstance(parsed, dict) else ""


def not_a_token(token_url: str, log: logging.Logger | Any) -> BrokerError:
    """Keycloak answered the refresh, but not with a token."""
    log.warning("token-exchange: Keycloak at %s answered a refresh without a token", token_url)
    return BrokerError(
        "idp_unavailable",
        "Keycloak answered the refresh of your login without a token; try again in a "
        "minute, and tell a hub admin if it persists.",
    )


def _answered(error: HTTPClientError, token_url: str, client_id: str, log: Any) -> BrokerError:
    if keycloak_down(error) or error.code in (408, 429):
        log.warning(
            "token-exchange: Keycloak refresh at %s failed: %s %s",
            token_url,
            error.code,
            error.message,
        )
        if error.code == 599:  # no answer: refused, reset, or timed out
            return keycloak_unreachable("no answer to a refresh")
        return keycloak_failed("the refresh of your login", error.code)
    if oauth_error(error) in CLIENT_REFUSED:
        log.warning(
            "token-exchange: Keycloak refused the hub's client %s for a refresh (%s)",
            client_id,
            oauth_error(error),
        )
        return BrokerError(
            "idp_unavailable",
            f"Keycloak refused the hub as a client ({oauth_error(error)}) when refreshing "
            "your login: a hub admin must check the hub's client id and secret.",
        )
    return BrokerError(
        "login_required",
        "your Keycloak session has ended (the refresh was refused): log in to the hub again.",
    )


def refresh_failure(
    error: BaseException, token_url: str, client_id: str, log: logging.Logger | Any
) -> BrokerError:
    """The broker's error for ``error``, raised by OAuthenticator's refresh at ``token_url``
    of the hub's client ``client_id``."""
    if isinstance(error, HTTPClientError):
        return _answered(error, token_url, client_id, log)
    if isinstance(error, HTTPError):
        if error.status_code == 403:  # OAuthenticator: Keycloak sent an error_description
            return BrokerError(
                "login_required", "your Keycloak session has ended: log in to the hub again."
            )
        return not_a_token(token_url, log)  # e.g. 500 "Bad response": no access_token
    if isinstance(error, OSError):
        log.warning("token-exchange: Keycloak refresh at %s failed: %s", token_url, error)
        return keycloak_unreachable(type(error).__name__)
    return not_a_token(token_url, log)  # not JSON, or JSON that is not an object
