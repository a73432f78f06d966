"""The hub's Job grants page (``/hub/grants``) and Keycloak's way back to it
(``/hub/grants/callback``): docs/jobs.md.

Creating a grant is a form post (with the hub's XSRF token) that sends the browser to
Keycloak with ``prompt=login consent``: the user signs in again and reads the consent screen,
so script in a notebook cannot make a grant. On the way back the hub trades the code for the
offline token, checks that the account that signed in is this hub user's and that the grant
holds every scope asked for (else revokes it at once and says why), and keeps the token
encrypted (``GrantStore``). Messages come from fixed texts chosen by code, never from the URL.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from jupyterhub.apihandlers import APIHandler
from jupyterhub.crypto import encrypt
from jupyterhub.handlers import BaseHandler
from tornado import web

from apiregistry import JOBS_CLIENT
from hubbroker.errors import BrokerError
from hubbroker.exchange import is_token, keycloak_failed, keycloak_unreachable
from hubbroker.grant_tokens import REVOKED_BY_OWNER, GrantGone
from hubbroker.grants import (
    ACTIVE,
    Grant,
    GrantRequest,
    GrantStore,
    job_scopes,
    missing_scopes,
    plan_grant,
)
from hubbroker.handlers import TOKEN_EXCHANGE_SCOPE, JSONAnswers
from hubbroker.service import SUB_KEY
from tokencontract.claims import unverified_claims
from tokencontract.errors import echo

#: How long a started grant waits for the user's return from Keycloak.
PENDING_SECONDS = 600
#: The page's messages, by the code in its URL (``done=`` or ``error=``).
DONE = {
    "created": "Grant {name} is active until {deadline}.",
    "revoked": "Grant {name} is revoked.",
}
ERRORS = {
    "declined": "You did not confirm the grant at Keycloak: nothing was created.",
    "expired": "That confirmation is not one this hub is waiting for (it expired, or it is "
    "another user's): start again below.",
    "other_account": "You signed in at Keycloak as another account than this hub user's: "
    "nothing was granted (the grant Keycloak made was revoked at once).",
    "not_held": "Keycloak left a scope you asked for out of the grant (you do not hold its "
    "role): nothing was granted. Ask an admin for its group, or grant fewer scopes.",
    "failed": "Keycloak could not make the grant now: try again in a minute (the hub's log "
    "says why).",
}


class Declined(Exception):
    """The grant Keycloak made is not kept (``code``: a key of ERRORS); it was revoked."""

    def __init__(self, code: str) -> None:
        super().__init__(ERRORS[code])
        self.code = code


def until(epoch_seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch_seconds))


@dataclass
class Pending:
    """A grant on its way through Keycloak's sign-in and consent screens."""

    user: str
    request: GrantRequest
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    started: float = field(default_factory=time.monotonic)


@dataclass
class GrantFlow:
    """What the two handlers share: the job-grants client, Keycloak's endpoints, and the
    grants started but not yet back from Keycloak (by ``state``; lost if the hub restarts:
    the user starts again)."""

    client_secret: str
    authorize_url: str
    token_url: str
    revoke_url: str
    redirect_uri: str
    http: httpx.AsyncClient
    pending: dict[str, Pending] = field(default_factory=dict)

    def start(self, user: str, request: GrantRequest) -> str:
        """Keycloak's URL for the user's browser."""
        now = time.monotonic()
        for state in [s for s, p in self.pending.items() if now - p.started > PENDING_SECONDS]:
            del self.pending[state]
        state = secrets.token_urlsafe(24)
        pending = self.pending[state] = Pending(user, request)
        query = {
            "client_id": JOBS_CLIENT,
            "response_type": "code",
            "scope": request.keycloak_scope,
            "redirect_uri": self.redirect_uri,
            "state": state,
            "prompt": "login consent",  # a fresh sign-in and the consent screen, every time
            "code_challenge": create_s256_code_challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
        return f"{self.authorize_url}?{urlencode(query)}"

    def back(self, state: str, user: str) -> Pending | None:
        """The user's pending grant for ``state`` (used once), None if there is none."""
        pending = self.pending.get(state)
        if pending is None or pending.user != user:
            return None  # another user's state stays theirs
        del self.pending[state]
        if time.monotonic() - pending.started > PENDING_SECONDS:
            return None
        return pending

    async def _post(self, url: str, data: dict[str, str], what: str) -> httpx.Response:
        try:
            response = await self.http.post(url, data=data, auth=(JOBS_CLIENT, self.client_secret))
        except httpx.HTTPError as e:
            raise keycloak_unreachable(type(e).__name__) from None
        if response.status_code >= 500:
            raise keycloak_failed(what, response.status_code)
        return response

    async def trade(self, code: str, pending: Pending) -> dict[str, Any]:
        response = await self._post(
            self.token_url,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": pending.verifier,
            },
            "the grant's code",
        )
        body = response.json() if response.content else {}
        if response.status_code != 200 or "refresh_token" not in body:
            raise BrokerError("invalid_request", "Keycloak did not make the grant; start again.")
        return body

    async def refresh(self, offline_token: str, scopes: tuple[str, ...]) -> dict[str, Any]:
        """A refresh of the grant's offline token narrowed to ``scopes`` (grant_tokens):
        Keycloak's token response, with the rotated offline token. ``GrantGone`` when Keycloak
        ended the grant; ``not_granted_to_job`` when a scope is no longer one jobs may hold."""
        response = await self._post(
            self.token_url,
            {
                "grant_type": "refresh_token",
                "refresh_token": offline_token,
                "scope": " ".join(scopes),
            },
            "the job's token",
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        if response.status_code == 200 and is_token(body) and body.get("refresh_token"):
            return body
        error = body.get("error")
        if error == "invalid_grant":
            raise GrantGone()
        if error == "invalid_scope":
            raise BrokerError(
                "not_granted_to_job",
                f"jobs may no longer hold {' '.join(scopes)} (idp/apis.yml changed since the "
                "grant was made): make a new grant on the hub's Job grants page (/hub/grants)",
            )
        raise keycloak_failed("the job's token", response.status_code)

    async def alive(self, offline_token: str) -> bool | None:
        """Whether Keycloak still holds the grant (RFC 7662 introspection, which rotates
        nothing); None when Keycloak did not say."""
        try:
            response = await self._post(
                f"{self.token_url}/introspect",
                {"token": offline_token, "token_type_hint": "refresh_token"},
                "the grant's check",
            )
            active = response.json().get("active") if response.status_code == 200 else None
        except (BrokerError, ValueError, AttributeError):
            return None
        return active if isinstance(active, bool) else None

    async def revoke(self, offline_token: str) -> None:
        """RFC 7009: ends the grant's offline session at Keycloak (that grant only)."""
        response = await self._post(
            self.revoke_url,
            {"token": offline_token, "token_type_hint": "refresh_token"},
            "the revocation",
        )
        # 400: Keycloak no longer knows the token (the grant ended there already); 401 or
        # another answer: the hub's client was refused, the grant may still be alive.
        if response.status_code not in (200, 400):
            raise keycloak_failed("the revocation", response.status_code)


class GrantActions:
    """Start and revoke grants: what the Job grants page and the grants API both do."""

    @property
    def store(self) -> GrantStore:
        return GrantStore(self.db)

    def _start(self, user: str, name: Any, scopes: list[str], days: Any) -> str:
        """Keycloak's URL for the user's browser: a new grant, once they confirm there."""
        request = plan_grant(self.authenticator.current_broker().policy.apis, name, scopes, days)
        if self.store.active_named(user, request.name):
            raise BrokerError(
                "invalid_request", f"you already have an active grant named {request.name}: "
                "revoke it first, or choose another name",
            )  # fmt: skip
        self.log.info("job grant %s of %s: to Keycloak for %s", request.name, user, request.scopes)
        return self.authenticator.grant_flow.start(user, request)

    async def _revoke(self, user: str, which: str) -> Grant:
        """Revoke the user's grant named or numbered ``which`` (its active one first); one
        that has ended already is answered as it is."""
        store = self.store
        matches = [g for g in store.list(user) if which in (g.id, g.name)]
        grant = next((g for g in matches if g.state == ACTIVE), matches[0] if matches else None)
        if grant is None:
            raise BrokerError("invalid_request", f"you have no job grant {echo(which)!r}")
        if store.token(user, grant.id) is not None:
            await self.authenticator.grant_tokens.revoke_grant(store, grant, REVOKED_BY_OWNER)
            self.log.info(
                "job grant %s (%s) of %s revoked by its owner", grant.name, grant.id, user
            )
        return store.get(user, grant.id) or grant


class GrantsHandler(GrantActions, BaseHandler):
    """``GET /hub/grants``: the user's grants and a form for a new one; ``POST``: create
    (to Keycloak and back) or revoke."""

    async def _page(
        self, grants: list[Grant] | None = None, error: str = "", done: str = "", status: int = 200
    ) -> None:
        user = self.current_user
        apis = self.authenticator.current_broker().policy.apis
        offered = [
            {"scope": name, "api": api.name, "description": scope.description,
             "max_days": scope.jobs.max_days}
            for name, (api, scope) in job_scopes(apis).items()
        ]  # fmt: skip
        if grants is None:
            grants = self.store.list(user.name)
        html = await self.render_template(
            "job-grants.html",
            grants=[g.to_json() | {"until": until(g.deadline)} for g in grants],
            offered=offered,
            done=done,
            error=error,
        )
        self.set_status(status)
        self.finish(html)

    def _message(self, grants: list[Grant]) -> tuple[str, str]:
        """The page's message for the codes in its URL: fixed texts, a grant named by id."""
        by_id = {g.id: g for g in grants}
        done, error = self.get_argument("done", ""), self.get_argument("error", "")
        grant = by_id.get(self.get_argument("grant", ""))
        said = ""
        if done in DONE and grant is not None:
            said = DONE[done].format(name=grant.name, deadline=until(grant.deadline))
        return said, ERRORS.get(error, "")

    @web.authenticated
    async def get(self) -> None:
        grants = await self.authenticator.grant_tokens.check(self.store, self.current_user.name)
        done, error = self._message(grants)
        await self._page(grants, error=error, done=done)

    @web.authenticated
    async def post(self) -> None:
        action = self.get_body_argument("action", "")
        try:
            if action == "create":
                await self._create()
            elif action == "revoke":
                await self._revoke_from_page(self.get_body_argument("grant", ""))
            else:
                raise BrokerError("invalid_request", "action must be create or revoke")
        except BrokerError as error:
            await self._page(error=error.message, status=error.status)

    async def _create(self) -> None:
        url = self._start(
            self.current_user.name,
            self.get_body_argument("name", "").strip(),
            self.get_body_arguments("scope"),
            self.get_body_argument("days", ""),
        )
        self.redirect(url, status=303)

    async def _revoke_from_page(self, grant_id: str) -> None:
        grant = await self._revoke(self.current_user.name, grant_id)
        self.redirect(f"{self.hub.base_url}grants?done=revoked&grant={grant.id}", status=303)


class GrantCallbackHandler(BaseHandler):
    """``GET /hub/grants/callback``: Keycloak sends the browser back here."""

    @web.authenticated
    async def get(self) -> None:
        flow: GrantFlow = self.authenticator.grant_flow
        user = self.current_user
        page = f"{self.hub.base_url}grants"
        pending = flow.back(self.get_argument("state", ""), user.name)
        if pending is None:
            self.redirect(f"{page}?error=expired")
            return
        if self.get_argument("error", "") or not self.get_argument("code", ""):
            self.redirect(f"{page}?error=declined")
            return
        try:
            grant = await self._keep(flow, user, pending)
        except Declined as declined:
            self.redirect(f"{page}?error={declined.code}")
            return
        except BrokerError as error:
            self.log.warning("job grant %s of %s: %s", pending.request.name, user.name, error)
            self.redirect(f"{page}?error=failed")
            return
        self.redirect(f"{page}?done=created&grant={grant.id}")

    async def _keep(self, flow: GrantFlow, user: Any, pending: Pending) -> Grant:
        tokens = await flow.trade(self.get_argument("code"), pending)
        # Straight from Keycloak's token endpoint (OIDC Core 3.1.3.7: no signature to check):
        # the ID token names the account that signed in, the offline token the grant's scopes.
        offline = tokens["refresh_token"]
        claims = unverified_claims(offline)
        signed_in = unverified_claims(tokens.get("id_token") or "").get("sub")
        state = await user.get_auth_state() or {}
        if not signed_in or signed_in != state.get(SUB_KEY):
            await flow.revoke(offline)
            self.log.warning("job grant of %s: signed in at Keycloak as another account", user.name)
            raise Declined("other_account")
        missing = missing_scopes(str(claims.get("scope") or ""), pending.request)
        if missing:
            await flow.revoke(offline)
            self.log.info("job grant of %s: Keycloak left out %s", user.name, " ".join(missing))
            raise Declined("not_held")
        grant = GrantStore(self.db).add(user.name, pending.request, await encrypt(offline))
        self.log.info(
            "job grant %s (%s) of %s created: %s until %s",
            grant.name, grant.id, user.name, " ".join(grant.scopes), int(grant.deadline),
        )  # fmt: skip
        return grant


class GrantsAPIHandler(GrantActions, JSONAnswers, APIHandler):
    """The caller's job grants, for ``hubtokens grants`` (docs/jobs.md):

    - ``GET /hub/api/grants``: ``{"grants": [...]}`` (never a token);
    - ``POST /hub/api/grants`` ``{"name", "scopes", "days"}``: starts one, checked against the
      policy; ``confirm_url`` is Keycloak's fresh sign-in and consent, for the user's browser
      (the grant exists only once they confirmed there, as from the Job grants page);
    - ``DELETE /hub/api/grants/<name or id>``: revokes one (again: the same answer).

    From a browser session, or a server's own token (``custom:token-exchange``).
    """

    def _user(self) -> str:
        user = self.current_user
        if user is None or getattr(user, "kind", "user") != "user":
            raise BrokerError("login_required", "log in to the hub, or call from your server.")
        if self.get_token() is not None and TOKEN_EXCHANGE_SCOPE not in self.parsed_scopes:
            raise BrokerError("forbidden", f"this JupyterHub token lacks {TOKEN_EXCHANGE_SCOPE}.")
        return user.name

    async def get(self) -> None:
        try:
            user = self._user()
        except BrokerError as error:
            self._send_error(error)
            return
        grants = await self.authenticator.grant_tokens.check(self.store, user)
        self._send_json({"grants": [g.to_json() for g in grants]})

    async def post(self) -> None:
        try:
            user = self._user()
            body = self.get_json_body()
            if not isinstance(body, dict) or not isinstance(body.get("scopes"), list):
                raise BrokerError(
                    "invalid_request", 'send {"name": "nightly", "scopes": ["..."], "days": 1}'
                )
            url = self._start(
                user, body.get("name"), [str(x) for x in body["scopes"]], body.get("days")
            )
        except BrokerError as error:
            self._send_error(error)
            return
        self._send_json({"confirm_url": url, "expires_in": PENDING_SECONDS})

    async def delete(self, which: str) -> None:
        try:
            grant = await self._revoke(self._user(), which)
        except BrokerError as error:
            self._send_error(error)
            return
        self._send_json(grant.to_json())
