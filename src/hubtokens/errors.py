"""The notebook client's exceptions: one class per error code of the broker's contract.

The codes and their HTTP statuses are ``tokencontract.errors.ERROR_STATUS`` (re-exported here
and as ``hubtokens.ERROR_STATUS``); the client turns an error response back into the matching
exception with :func:`error_from_response`.
"""

from __future__ import annotations

import json
from typing import Any

from tokencontract.errors import ERROR_STATUS

#: Where a user finds what they may ask for, in Python and in a terminal.
LISTING = "hubtokens.available() (in a terminal: hubtokens list)"

NOT_IN_JUPYTERHUB_MESSAGE = (
    "JUPYTERHUB_API_URL/JUPYTERHUB_API_TOKEN are not set: "
    "run this inside a notebook server started by JupyterHub, "
    "or log in from this machine first: hubtokens login --issuer <Keycloak realm URL> SCOPE..."
)


class HubTokensError(Exception):
    """Base class: a token could not be obtained.

    ``code`` is the broker's error code, ``status`` the HTTP status (``None`` when no
    response arrived), ``message`` what happened, ``hint`` what to do about it, ``attempts``
    how many times the client asked before raising it (more than 1 after retries).
    """

    code: str = "error"
    status: int | None = None
    attempts: int = 1
    default_message: str = "The hub's token broker returned an error."
    hint: str = ""

    def __init__(
        self, message: str | None = None, *, status: int | None = None, code: str | None = None
    ) -> None:
        self.message = message or self.default_message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        super().__init__(self.message)

    def __str__(self) -> str:
        if self.hint and self.hint not in self.message:
            return f"{self.message} {self.hint}"
        return self.message

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: a clear message for notebook users.
        return [f"{type(self).__name__}: {self}"]


class InvalidRequest(HubTokensError):
    code = "invalid_request"
    status = 400
    default_message = "The token request was not valid."
    hint = f"Check the audience and scope you asked for: {LISTING} lists them."


class LoginRequired(HubTokensError):
    code = "login_required"
    status = 401
    default_message = "Your hub session has ended."
    hint = "Log in again at the hub (File > Log Out, then log in), then re-run this cell."


class Forbidden(HubTokensError):
    code = "forbidden"
    status = 403
    default_message = "This notebook server is not allowed to request tokens from the hub."
    hint = "Ask your hub admin to allow your server to use the token broker."


class AudienceNotAllowed(HubTokensError):
    code = "audience_not_allowed"
    status = 403
    default_message = "You may not request tokens for this API."
    hint = f"{LISTING} lists the APIs you may use; ask an admin for access."


class ScopeNotAllowed(HubTokensError):
    code = "scope_not_allowed"
    status = 403
    default_message = "You may not request this scope."
    hint = f"{LISTING} lists the scopes you may request."


class NotGrantedToJob(HubTokensError):
    code = "not_granted_to_job"
    status = 403
    default_message = "This job's grant does not hold that audience or scope."
    hint = "Ask only for what the job's grant holds, or make a grant that holds it (/hub/grants)."


class GrantEnded(HubTokensError):
    code = "grant_ended"
    status = 401
    default_message = "This job's grant has ended (revoked, or its deadline passed)."
    hint = "Make a new grant on the hub's Job grants page (/hub/grants) and run the job again."


class RequestTooLarge(HubTokensError):
    code = "request_too_large"
    status = 413
    default_message = "The token request was too large."
    hint = f"Send only an audience and a few scopes: {LISTING} lists them."


class RetryAfterError(HubTokensError):
    """An error the hub answered with a ``Retry-After`` header. ``retry_after``: the seconds
    the hub asked to wait, ``None`` when it sent none (or not a number of seconds)."""

    retry_after: int | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        if retry_after is not None and message is None:
            message = f"{self.default_message} Retry in {retry_after} s."
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class RateLimited(RetryAfterError):
    """Too many tokens minted for this user in a short time (``retry_after``: when to retry).
    The client never retries it by itself."""

    code = "rate_limited"
    status = 429
    default_message = "The hub minted too many tokens for you in a short time."
    hint = (
        "Reuse tokens instead of asking in a loop (hubtokens.get and HubTokenAuth cache them "
        "until shortly before they expire)."
    )


class IdpUnavailable(RetryAfterError):
    """Keycloak (the identity provider) could not mint: unreachable, failing, or refusing the
    hub's client. The hub says when to retry (``retry_after``); the client retries by itself
    within its budget (``TokenClient(retry_seconds=...)``) before raising this."""

    code = "idp_unavailable"
    status = 503
    default_message = "The identity provider is not answering."
    hint = "Wait a minute and re-run this cell; if it persists, tell your hub admin."


class HubUnavailable(RetryAfterError):
    """The hub answered but could not check the caller's token: its own database is not
    answering (restarting, failing over). The hub says when to retry (``retry_after``); the
    client retries by itself within its budget before raising this."""

    code = "hub_unavailable"
    status = 503
    default_message = "The hub cannot check your token right now: its database is not answering."
    hint = "Wait a minute and re-run this cell; if it persists, tell your hub admin."


class BrokerUnreachable(HubTokensError):
    """The hub could not be reached at all (no HTTP response)."""

    code = "broker_unreachable"
    default_message = "The hub's token broker could not be reached."
    hint = "Check that the hub is running; if it was restarted, restart your server from the hub."


class NotInJupyterHub(HubTokensError):
    """The JupyterHub environment variables are missing."""

    code = "not_in_jupyterhub"
    default_message = NOT_IN_JUPYTERHUB_MESSAGE


ERROR_CLASSES: dict[str, type[HubTokensError]] = {
    cls.code: cls
    for cls in (
        InvalidRequest,
        LoginRequired,
        Forbidden,
        AudienceNotAllowed,
        ScopeNotAllowed,
        NotGrantedToJob,
        GrantEnded,
        RequestTooLarge,
        RateLimited,
        IdpUnavailable,
        HubUnavailable,
    )
}
assert set(ERROR_CLASSES) == set(ERROR_STATUS)  # one list of codes


def retry_after_seconds(value: str | None) -> int | None:
    """A ``Retry-After`` header in seconds (``None`` when absent or not a number of seconds)."""
    try:
        return max(0, int(str(value).strip()))
    except ValueError:
        return None


def error_from_response(status: int, body: Any, retry_after: str | None = None) -> HubTokensError:
    """Build the exception for a broker error response.

    ``body`` is the parsed JSON (a dict) or the raw body (``str``/``bytes``). A known
    ``error`` code gives its class; an unknown code or a body that is not a JSON error
    object gives a plain :class:`HubTokensError` carrying the status. ``retry_after`` is the
    response's ``Retry-After`` header: a :class:`RateLimited` or :class:`IdpUnavailable`
    carries it in seconds.
    """
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            snippet = " ".join(text.split())[:200]
            return HubTokensError(
                f"The hub answered HTTP {status} with a body that is not JSON: {snippet!r}. "
                "Check that JUPYTERHUB_API_URL points at the hub's API.",
                status=status,
            )
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return HubTokensError(
            f"The hub answered HTTP {status} without an error code.", status=status
        )
    code = body["error"]
    message = body.get("message") if isinstance(body.get("message"), str) else None
    cls = ERROR_CLASSES.get(code)
    if cls is None:
        return HubTokensError(
            message or f"The hub answered HTTP {status} with error {code!r}.",
            status=status,
            code=code,
        )
    if issubclass(cls, RetryAfterError):
        return cls(message, status=status, retry_after=retry_after_seconds(retry_after))
    return cls(message, status=status)
