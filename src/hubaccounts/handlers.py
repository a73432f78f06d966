"""The hub's Access requests page: hub admins approve, reject, block and unblock accounts.

``GET /hub/access-requests`` lists the accounts that wait for approval (members of
``HUB_PENDING_GROUP``) and the hub's users (members of the first of ``HUB_ALLOWED_GROUPS``);
``POST`` carries out one decision (XSRF-checked, as every form of the hub), logs it with the
admin's name and shows the page again with what was done. It needs the hub scope
``custom:access-requests`` (the hub-admin role has it).

- approve: the account joins the allowed group and leaves the pending one, and is enabled
  (it may have been rejected): it takes effect at the user's next login.
- reject: the account is disabled in Keycloak and its sessions ended; it stays listed, and
  may still be approved.
- block: the account is disabled and its Keycloak sessions ended; in the hub at once its
  servers are stopped, the broker stops minting for it and its hub API tokens are revoked
  (as at a logout).
- unblock: the account is enabled again; the user logs in anew.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from jupyterhub.handlers import BaseHandler
from tornado import web

from hubaccounts.keycloak import Account, AccountsClient, AccountsError

#: The hub scope that opens the page (granted to the hub-admin role in jupyterhub_config.py).
SCOPE = "custom:access-requests"
#: Each decision (the form's ``action``, a method ``_<action>``) and how the page reports it.
DONE = {
    "approve": "approved",
    "reject": "rejected",
    "block": "blocked",
    "unblock": "unblocked",
}
#: The errors a decision redirects with, by code: the page shows only these texts, never one
#: from the URL (a link could otherwise put any words in an admin's page). "failed" names the
#: action and the account, so it is shown only for an action and account the page knows.
ERRORS = {
    "self": "You cannot block or reject yourself.",
    "failed": "{action} {username} failed: Keycloak refused or did not answer (see the hub's log).",
}
NEEDS_ACCOUNT = {"failed"}


def page_messages(arguments: dict[str, str], accounts: list[Account]) -> tuple[str, str]:
    """The page's (done, error) texts for the query a decision redirected with: a known code,
    an action and an account id among those listed (its name from Keycloak), else nothing."""
    names = {account.id: account.username for account in accounts}
    action = arguments.get("action", "")
    username = names.get(arguments.get("account", ""), "")
    known = action in DONE and username != ""
    code = arguments.get("error", "")
    done = f"{username} {DONE[action]}" if known and arguments.get("done") == "1" else ""
    if code not in ERRORS or (code in NEEDS_ACCOUNT and not known):
        return done, ""
    return done, ERRORS[code].format(action=action, username=username)


class AccessRequestsHandler(BaseHandler):
    """``/hub/access-requests``; settings: ``accounts_client`` (an ``AccountsClient``),
    ``pending_group``, ``allowed_group``, and ``end_in_hub(user, db)``, which revokes a hub
    user's login at once (the authenticator's)."""

    def initialize(
        self,
        accounts_client: AccountsClient,
        pending_group: str,
        allowed_group: str,
        end_in_hub: Callable[[Any, Any], Awaitable[None]],
    ) -> None:
        self.accounts = accounts_client
        self.pending_group = pending_group
        self.allowed_group = allowed_group
        self.revoke_in_hub = end_in_hub

    def _require_scope(self) -> None:
        if SCOPE not in self.parsed_scopes:
            raise web.HTTPError(403, "Access requests are for hub admins")

    @web.authenticated
    async def get(self) -> None:
        self._require_scope()
        error = ""
        pending: list[Any] = []
        users: list[Any] = []
        try:
            users = await self.accounts.members(self.allowed_group)
            # An account already admitted (e.g. made by a Keycloak admin, who put it in both
            # groups: every new account joins the pending one) does not wait.
            admitted = {account.id for account in users}
            pending = [
                account
                for account in await self.accounts.members(self.pending_group)
                if account.id not in admitted
            ]
        except AccountsError as e:
            self.log.warning("access requests: %s", e)
            error = str(e)
        arguments = {
            key: self.get_argument(key, "") for key in ("done", "error", "action", "account")
        }
        done, said = page_messages(arguments, pending + users)
        html = await self.render_template(
            "access-requests.html",
            pending=pending,
            users=users,
            pending_group=self.pending_group,
            allowed_group=self.allowed_group,
            done=done,
            error=said or error,
        )
        self.finish(html)

    @web.authenticated
    async def post(self) -> None:
        self._require_scope()
        action = self.get_body_argument("action", "")
        user_id = self.get_body_argument("user", "")
        admin = self.current_user.name
        if action not in DONE or not user_id:
            raise web.HTTPError(400, f"action must be one of {', '.join(DONE)}, with a user")
        username = user_id
        try:
            # The name from Keycloak, not from the form: it decides whose servers stop.
            username = (await self.accounts.account(user_id))["username"]
            if action in ("block", "reject") and username == admin:
                self._back(error="self")
                return
            await getattr(self, f"_{action}")(user_id, username)
        except AccountsError as e:
            self.log.warning(
                "access requests: %s by %s of %s failed: %s", action, admin, username, e
            )
            self._back(error="failed", action=action, account=user_id)
            return
        self.log.info("access requests: %s %s %s", admin, DONE[action], username)
        self._back(done="1", action=action, account=user_id)

    def _back(self, **codes: str) -> None:
        """Back to the page, with what happened as codes (``page_messages`` says them)."""
        self.redirect(f"{self.hub.base_url}access-requests?{urlencode(codes)}", status=303)

    async def _approve(self, user_id: str, username: str) -> None:
        await self.accounts.move(user_id, self.pending_group, self.allowed_group)
        await self.accounts.set_enabled(user_id, True)

    async def _reject(self, user_id: str, username: str) -> None:
        await self.accounts.set_enabled(user_id, False)
        await self.accounts.end_sessions(user_id)

    async def _block(self, user_id: str, username: str) -> None:
        # Disabled first (no new login), then revoked in the hub (the broker refuses from
        # now on) and the servers stopped, then the Keycloak sessions ended (Keycloak's
        # back-channel logout then finds the hub already done).
        await self.accounts.set_enabled(user_id, False)
        await self._end_in_hub(username)
        await self.accounts.end_sessions(user_id)

    async def _unblock(self, user_id: str, username: str) -> None:
        await self.accounts.set_enabled(user_id, True)

    async def _end_in_hub(self, username: str) -> None:
        """Stop the user's servers and revoke their hub login at once (not only when
        Keycloak's back-channel logout arrives)."""
        user = self.find_user(username)
        if user is None:
            return
        await self.revoke_in_hub(user, self.db)
        for name, spawner in list(user.spawners.items()):
            if spawner.active and not spawner.pending:
                await self.stop_single_user(user, name)
