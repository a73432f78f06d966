"""HTTP handlers the broker adds to JupyterHub: the token-exchange API and a Keycloak logout."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from jupyterhub import orm
from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.utils import compare_token, new_token
from oauthenticator.oauth2 import OAuthLogoutHandler
from sqlalchemy.exc import SQLAlchemyError
from tornado.web import stream_request_body

from hubbroker.backchannel import InvalidLogoutToken, names_user
from hubbroker.callers import ONLY_SERVERS_MINT, calling_server, check_peer
from hubbroker.errors import BrokerError
from hubbroker.service import TokenBroker, logged_out_state, realm_roles
from tokencontract.errors import echo

#: The JupyterHub custom scope a token needs to call the broker (granted to the server role).
TOKEN_EXCHANGE_SCOPE = "custom:token-exchange"  # noqa: S105 (a scope name)
REQUEST_FIELDS = {"audience", "scope"}
HUB_DATABASE_DOWN = (
    "the hub's database is not answering, so your JupyterHub token cannot be checked now; "
    "retry shortly (your session and server are unaffected)."
)


class BoundedBody:
    """A request body kept only up to ``limit`` bytes; past it, only its size is counted.

    ``limit`` 0 keeps everything. ``too_large`` tells whether more than ``limit`` arrived.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._chunks: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if not self.too_large:
            self._chunks.append(chunk)
        else:
            self._chunks.clear()

    @property
    def too_large(self) -> bool:
        return bool(self.limit) and self.size > self.limit

    @property
    def data(self) -> bytes:
        return b"".join(self._chunks)


def iso_time(epoch_seconds: float) -> str:
    """``2026-11-22T21:40:00Z``: how the broker states times."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="seconds")
    return moment.replace("+00:00", "Z")


def parse_request(raw: bytes) -> tuple[Any, Any]:
    """``(audience, scope)`` of a request body, or ``BrokerError`` invalid_request."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise BrokerError("invalid_request", "the request body is not valid JSON.") from None
    except RecursionError:  # e.g. "[" * 1000: json recurses per level; a 4 KiB body suffices
        raise BrokerError(
            "invalid_request",
            'the request body is nested too deeply: send a flat JSON object, {"audience": '
            '"fruit-api", "scope": "fruits:read"}.',
        ) from None
    if not isinstance(body, dict):
        raise BrokerError(
            "invalid_request",
            'send a JSON object: {"audience": "fruit-api", "scope": "fruits:read"}',
        )
    unknown = sorted(set(body) - REQUEST_FIELDS)
    if unknown:
        raise BrokerError(
            "invalid_request",
            f"unknown field(s) {echo(', '.join(unknown))}: only audience and scope are accepted.",
        )
    return body.get("audience"), body.get("scope")


class JSONAnswers:
    """Answers of the broker's API handlers: JSON that no cache keeps (tokens, errors,
    listings), errors with the contract's code and status."""

    def _send_json(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    def _send_error(self, error: BrokerError) -> None:
        if error.retry_after is not None:
            self.set_header("Retry-After", str(error.retry_after))
        self._send_json(error.to_json(), error.status)


@stream_request_body
class TokenExchangeHandler(JSONAnswers, APIHandler):
    """``POST /hub/api/token-exchange`` mints; ``GET`` lists what the caller may request;
    ``DELETE`` forgets the tokens cached for the calling server.

    The body is streamed: at most the broker's ``max_body`` bytes are kept (a larger body is
    read to its end, counted and dropped, then answered 413), whatever its framing.
    """

    _body: BoundedBody | None = None
    #: JupyterHub's database failed while it looked the caller's token up (``prepare`` then
    #: treats the caller as anonymous: that must not read as "log in again").
    _hub_database_failed = False

    async def get_current_user(self) -> Any:
        try:
            return await super().get_current_user()
        except SQLAlchemyError:
            self._hub_database_failed = True
            raise

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A database failure anywhere in the handler is ``hub_unavailable`` (503 with
        Retry-After: the caller retries), not JupyterHub's 500."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, SQLAlchemyError):
            self.log.error("token-exchange: the hub's database failed: %s", type(error).__name__)
            self.db.rollback()
            self.clear()
            self._send_error(BrokerError("hub_unavailable", HUB_DATABASE_DOWN))
            return
        super().write_error(status_code, **kwargs)

    def data_received(self, chunk: bytes) -> None:
        if self._body is None:  # the limits never change with the registry: no reload check
            self._body = BoundedBody(self.authenticator.broker.limits.max_body)
        self._body.feed(chunk)

    def _caller_or_refusal(self) -> tuple[Any, str] | None:
        """``_caller()``, or None once its refusal was sent (for calls with no body to read)."""
        try:
            return self._caller()
        except BrokerError as error:
            self._send_error(error)
            return None

    def _caller(self) -> tuple[Any, str]:
        """``(user, server name)``: the owner of the calling token, whose token is minted, and
        which of their running servers the token belongs to (cache and audit key). Only a
        server's own token, from that server's address, is answered (``callers``)."""
        user = self.current_user
        if user is None and self._hub_database_failed:
            raise BrokerError("hub_unavailable", HUB_DATABASE_DOWN)
        if user is None:
            raise BrokerError(
                "login_required",
                "no valid JupyterHub token: send 'Authorization: token $JUPYTERHUB_API_TOKEN'.",
            )
        if getattr(user, "kind", "user") != "user":
            raise BrokerError("forbidden", "services cannot mint user tokens.")
        if TOKEN_EXCHANGE_SCOPE not in self.parsed_scopes:
            raise BrokerError(
                "forbidden",
                f"this JupyterHub token lacks the {TOKEN_EXCHANGE_SCOPE} scope: call from a "
                "notebook server started by the hub (its $JUPYTERHUB_API_TOKEN has it).",
            )
        orm_token = self.get_token()
        if orm_token is None:  # a browser session (cookie), not a token
            raise BrokerError("forbidden", ONLY_SERVERS_MINT)
        name, spawner = calling_server(
            orm_token.match, user.spawners, self.get_auth_token(), compare_token
        )
        if self.authenticator.check_caller_address:
            server = spawner.server
            # The connection's own peer: request.remote_ip follows X-Forwarded-For (the hub
            # trusts proxy headers), which a caller on the users network could forge.
            peer = self.request.connection.context.address[0]
            check_peer(peer, name, server.ip if server is not None else None)
        return user, name

    def _parse_body(self, broker: Any) -> tuple[Any, Any]:
        body = self._body or BoundedBody(0)
        too_large = broker.limits.body_too_large(body.size)
        if too_large is not None:
            raise too_large
        return parse_request(body.data)

    async def post(self) -> None:
        broker = self.authenticator.current_broker()
        try:
            user, server = self._caller()
            audience, scope = self._parse_body(broker)
            minted, _cached = await broker.mint(user, server, audience, scope)
        except BrokerError as error:
            self._send_error(error)
            return
        expires_in = max(0, int(minted.expires_at - broker.clock()))
        self._send_json(
            {
                "access_token": minted.access_token,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "expires_at": iso_time(minted.expires_at),
                "audience": minted.audience,
                "scope": minted.scope,
            }
        )

    async def delete(self) -> None:
        """Forget the tokens cached for the calling server: its next mints reach Keycloak."""
        broker = self.authenticator.current_broker()
        if (caller := self._caller_or_refusal()) is None:
            return
        user, server = caller
        self._send_json({"forgotten": broker.forget(user.name, server)})

    async def get(self) -> None:
        broker = self.authenticator.current_broker()
        if (caller := self._caller_or_refusal()) is None:
            return
        user, server = caller
        state = await user.get_auth_state() or {}
        roles = realm_roles(state.get("access_token"))
        listing = broker.policy.listing(roles)
        # What this server holds now (the broker's cache; never the tokens themselves).
        listing["held"] = [
            {
                "audience": minted.audience,
                "scope": minted.scope,
                "minted_at": iso_time(minted.minted_at),
                "expires_at": iso_time(minted.expires_at),
            }
            for minted in broker.held(user.name, server)
        ]
        self._send_json(listing)

    def compute_etag(self) -> None:
        """No ETag: every answer is per caller and not to be cached (``no-store``), so a GET with
        ``If-None-Match`` gets the listing, never tornado's bodyless 304."""
        return None


def revoke_api_tokens(db: Any, user: Any, log: Any) -> None:
    """Delete every JupyterHub API token of the user but those of servers still running
    (HUB_STOP_SERVERS_ON_LOGOUT=false keeps servers, and a server's token ends with it)."""
    running = [s.api_token for s in user.spawners.values() if s.active and s.api_token]
    revoked = 0
    for token in list(user.orm_user.api_tokens):
        if not any(token.match(secret) for secret in running):
            db.delete(token)
            revoked += 1
    db.commit()
    log.info("logout: revoked %d API token(s) of %s", revoked, user.name)


async def log_out(
    broker: TokenBroker, user: Any, revoke_api_tokens: Callable[[Any], None]
) -> dict[str, Any]:
    """Revoke what the hub holds for ``user``; returns the auth_state the user held (its
    refresh and id tokens end the Keycloak session afterwards, outside the lock).

    The broker revokes at once (epoch bump and cache drop: a mint in flight neither caches
    nor returns its token), then, under the broker's per-user lock (so that no refresh of the
    user's Keycloak token is halfway: one that started before has saved, one queued after
    finds no session), revokes again, clears auth_state to ``logged_out_state`` (only the
    Keycloak ``sub`` the hub user is bound to stays) and revokes the user's API tokens.
    """
    broker.revoke(user.name)
    async with broker.locks.hold(user.name):
        state = await user.get_auth_state() or {}
        broker.revoke(user.name)  # what started while the lock was awaited
        await user.save_auth_state(logged_out_state(state))
        revoke_api_tokens(user)
    return state


class KeycloakLogoutHandler(OAuthLogoutHandler):
    """Logging out of the hub also ends the Keycloak session. ``GET /hub/logout`` asks (a page
    with a button); the button's ``POST`` logs out.

    The broker revokes the user and, under its per-user lock, auth_state is cleared (but for
    the Keycloak ``sub``) and the user's JupyterHub API tokens are revoked (servers that keep
    running keep theirs): see ``log_out``. Then the refresh token is revoked at Keycloak from
    the hub (so no later mint can succeed even if the browser never follows the redirect),
    and the browser goes to Keycloak's end-session endpoint with ``id_token_hint`` (no
    confirmation page) and comes back to the hub.
    """

    _id_token: str | None = None

    async def get(self) -> None:
        """A page that asks; the logout itself is a POST (XSRF-checked), so that another site
        cannot log a user out by sending the browser here. Without a login, nothing to end:
        JupyterHub's own behaviour (the login page)."""
        if self.current_user is None:
            await super().get()
            return
        self.finish(await self.render_template("logout.html"))

    async def post(self) -> None:
        """Log out: JupyterHub's sequence (stop servers, clear cookies), then ``handle_logout``
        and ``render_logout_page`` below."""
        await super().get()

    async def handle_logout(self) -> None:
        await super().handle_logout()
        user = self.current_user
        if user is None:
            return
        authenticator = self.authenticator
        state = await log_out(authenticator.broker, user, self.revoke_api_tokens)
        self._id_token = state.get("id_token")
        if state.get("refresh_token"):
            await authenticator.end_keycloak_session(state["refresh_token"])

    def revoke_api_tokens(self, user: Any) -> None:
        revoke_api_tokens(self.db, user, self.log)

    async def render_logout_page(self) -> None:
        params = {"client_id": self.authenticator.client_id}
        params["post_logout_redirect_uri"] = self.authenticator.post_logout_redirect_uri
        if self._id_token:
            params["id_token_hint"] = self._id_token
        self.redirect(f"{self.authenticator.end_session_url}?{urlencode(params)}")


class BackchannelLogoutHandler(BaseHandler):
    """``POST /hub/backchannel-logout``: Keycloak says a user's session ended (OIDC
    Back-Channel Logout, ``hubbroker.backchannel``). Every hub user bound to that
    Keycloak account is revoked as at a logout in the hub (``log_out``), their hub login
    cookies stop working (a new ``cookie_id``) and, with ``shutdown_on_logout``, their servers
    are stopped. 200 when done, 400 for a token that is
    not a valid logout token of this hub's client (nothing revoked)."""

    def check_xsrf_cookie(self) -> None:
        """A server-to-server call, authenticated by its signed logout token: no cookie."""

    async def post(self) -> None:
        authenticator = self.authenticator
        self.set_header("Cache-Control", "no-store")
        try:
            claims = await authenticator.verify_logout_token(
                self.get_body_argument("logout_token", "")
            )
        except InvalidLogoutToken as e:
            self.log.warning("back-channel logout refused: %s", e)
            self.set_status(400)
            self.finish({"error": "invalid_request", "error_description": str(e)})
            return
        users = []
        for orm_user in self.db.query(orm.User).all():
            user = self.find_user(orm_user.name)
            if user is not None and names_user(await user.get_auth_state(), claims):
                users.append(user)
        for user in users:
            await log_out(
                authenticator.broker, user, lambda u: revoke_api_tokens(self.db, u, self.log)
            )
            # Every hub login cookie of the user names this id: a new one ends them all.
            user.orm_user.cookie_id = new_token()
            self.db.commit()
            if self.settings.get("shutdown_on_logout", False):  # as JupyterHub's logout
                names = [n for n, s in user.spawners.items() if s.active and not s.pending]
                await asyncio.gather(*(self.stop_single_user(user, name) for name in names))
        self.log.info(
            "back-channel logout from Keycloak: revoked %s",
            ", ".join(u.name for u in users) or "no hub user (none bound to that account)",
        )
        self.finish({"revoked": [u.name for u in users]})
