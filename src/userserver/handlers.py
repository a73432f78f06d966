"""The Tokens panel's API, in the user's own Jupyter server: ``{base_url}hubtokens/tokens``.

JupyterLab's Tokens panel calls these with the Jupyter server's own login (its cookie) and
XSRF token, as every JupyterLab request is; the server calls the hub's broker with its
JupyterHub API token, which never reaches the browser.

- ``GET``: the broker's listing: every API and scope (granted or not, the role), the admin's
  token files, and the tokens the broker holds for this server (``held``).
- ``POST {"audience": ..., "scope": ...}``: mint (the server's :class:`TokenClient`: its cache,
  its retries); the answer carries the token, for the panel's inspector, which decodes it in
  the browser and sends it nowhere.
- ``DELETE``: forget this server's cached tokens, here and in the broker.

Errors are the broker's: ``{"error": code, "message": ...}`` with its HTTP status.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from hubtokens.client import TokenClient
from hubtokens.errors import HubTokensError, InvalidRequest, NotInJupyterHub

SETTING = "hubtokens_client"


class TokensHandler(APIHandler):
    """``{base_url}hubtokens/tokens``: list, mint, forget."""

    @property
    def client(self) -> TokenClient:
        client = self.settings.get(SETTING)
        if client is None:
            raise NotInJupyterHub()
        return client

    def send_error_of(self, error: HubTokensError) -> None:
        self.set_status(error.status or 502)
        self.finish(json.dumps({"error": error.code, "message": str(error)}))

    async def answer(self, call: Callable[[], Any]) -> None:
        """``call`` (a broker call, blocking) in a thread; its result as JSON, or its error."""
        try:
            result = await asyncio.to_thread(call)
        except HubTokensError as error:
            self.send_error_of(error)
            return
        self.finish(json.dumps(result))

    @web.authenticated
    async def get(self) -> None:
        await self.answer(lambda: self.client.available())

    @web.authenticated
    async def post(self) -> None:
        try:
            body = self.get_json_body() or {}
        except web.HTTPError:
            self.send_error_of(InvalidRequest("The body is not JSON."))
            return
        audience, scope = body.get("audience"), body.get("scope") or None
        if not isinstance(audience, str) or not isinstance(scope, str | list | type(None)):
            self.send_error_of(
                InvalidRequest('Send {"audience": "fruit-api", "scope": "fruits:read"}.')
            )
            return

        def mint() -> dict[str, str]:
            token = self.client.get(audience, scope)
            return {
                "access_token": token.value,
                "audience": token.audience,
                "scope": token.scope,
                "expires_at": token.expires_at.isoformat(timespec="seconds"),
            }

        await self.answer(mint)

    @web.authenticated
    async def delete(self) -> None:
        await self.answer(lambda: {"forgotten": self.client.forget()})


def handlers(base_url: str) -> list[tuple[str, Any]]:
    return [(f"{base_url.rstrip('/')}/hubtokens/tokens", TokensHandler)]
