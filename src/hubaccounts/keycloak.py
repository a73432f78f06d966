"""Keycloak's admin API as the hub's accounts client (a service account of least rights).

The client (``ACCOUNTS_CLIENT_ID``, defined in idp/) holds Keycloak admin permissions on two
groups only: the group new accounts wait in (``HUB_PENDING_GROUP``) and the group that admits
to the hub (the first of ``HUB_ALLOWED_GROUPS``). It may list their members, move a member
from the first to the second, enable or disable a member and end a member's sessions; it
cannot see other users or groups, and cannot touch clients, roles or any other group's
membership (idp/realms/demo/admin-permissions.yml; tests/integration/test_accounts_client.py).

Its token comes from Keycloak's client-credentials grant through Authlib, which fetches a new
one when the last expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client


class AccountsError(Exception):
    """Keycloak refused or failed an accounts call; the message names the call and the fix."""


@dataclass(frozen=True)
class Account:
    """A Keycloak account as the Access requests page shows it."""

    id: str
    username: str
    email: str
    name: str
    enabled: bool

    @classmethod
    def from_keycloak(cls, user: dict[str, Any]) -> Account:
        name = " ".join(p for p in (user.get("firstName"), user.get("lastName")) if p)
        return cls(
            id=user["id"],
            username=user.get("username", ""),
            email=user.get("email") or "",
            name=name,
            enabled=bool(user.get("enabled")),
        )


def _segment(value: str) -> str:
    return quote(value, safe="")


class AccountsClient:
    """The admin calls of the Access requests page, in realm ``realm``."""

    def __init__(
        self,
        keycloak_url: str,
        realm: str,
        client_id: str,
        client_secret: str,
        timeout: float = 10.0,
    ) -> None:
        base = keycloak_url.rstrip("/")
        self.realm = realm
        self.client_id = client_id
        self.http = AsyncOAuth2Client(
            client_id=client_id,
            client_secret=client_secret,
            token_endpoint=f"{base}/realms/{_segment(realm)}/protocol/openid-connect/token",
            grant_type="client_credentials",
            base_url=f"{base}/admin/realms/{_segment(realm)}",
            timeout=timeout,
        )
        self._group_ids: dict[str, str] = {}

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            if not self.http.token:
                await self.http.fetch_token()
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise AccountsError(
                f"Keycloak is down or not answering ({type(e).__name__}): try again shortly"
            ) from None
        except AuthlibBaseError as e:  # Keycloak refused the client itself (its token)
            raise AccountsError(
                f"Keycloak refused the hub's accounts client {self.client_id!r} ({e}): check "
                "ACCOUNTS_CLIENT_SECRET and the client in idp/ (`make idp-apply`)"
            ) from None
        if response.status_code == 403:
            raise AccountsError(
                f"Keycloak refused {method} {path} to the accounts client {self.client_id!r} "
                "(HTTP 403): it may act on the hub's pending and allowed groups only "
                "(idp/realms/<realm>/admin-permissions.yml)"
            )
        if response.status_code >= 400:
            raise AccountsError(
                f"Keycloak answered {method} {path} with HTTP {response.status_code}: "
                f"{response.text[:200]}"
            )
        return response

    async def group_id(self, name: str) -> str:
        """The id of the top-level group ``name`` (kept: a group's id never changes)."""
        if name not in self._group_ids:
            response = await self._call("GET", f"/group-by-path/{_segment(name)}")
            self._group_ids[name] = response.json()["id"]
        return self._group_ids[name]

    async def members(self, group: str) -> list[Account]:
        gid = await self.group_id(group)
        response = await self._call(
            "GET", f"/groups/{_segment(gid)}/members", params={"max": "1000"}
        )
        return sorted((Account.from_keycloak(u) for u in response.json()), key=lambda a: a.username)

    async def account(self, user_id: str) -> dict[str, Any]:
        return (await self._call("GET", f"/users/{_segment(user_id)}")).json()

    async def set_enabled(self, user_id: str, enabled: bool) -> None:
        """Enable or disable an account (sent whole: a partial one may drop attributes)."""
        user = await self.account(user_id)
        if user.get("enabled") != enabled:
            await self._call(
                "PUT", f"/users/{_segment(user_id)}", json={**user, "enabled": enabled}
            )

    async def end_sessions(self, user_id: str) -> None:
        """End the account's Keycloak sessions (Keycloak then tells the hub: back-channel)."""
        await self._call("POST", f"/users/{_segment(user_id)}/logout")

    async def move(self, user_id: str, from_group: str, to_group: str) -> None:
        """Add the account to ``to_group``, then take it out of ``from_group``."""
        user = _segment(user_id)
        await self._call("PUT", f"/users/{user}/groups/{_segment(await self.group_id(to_group))}")
        await self._call(
            "DELETE", f"/users/{user}/groups/{_segment(await self.group_id(from_group))}"
        )
