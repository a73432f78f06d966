"""Keycloak's admin REST API, as the bootstrap admin of the master realm."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx


def segment(name: str) -> str:
    """``name`` (an id, a realm) as one segment of an admin API path: ``a/b``, ``a?b`` or
    ``a#b`` must not reach another path, and ``.`` or ``..`` must not reach the parent."""
    if str(name).strip(".") == "":
        raise AdminError(f"{name!r} cannot be a segment of an admin API path")
    return quote(str(name), safe="")


class AdminError(Exception):
    """A Keycloak admin call failed; the message names the call and Keycloak's answer."""


class KeycloakAdmin:
    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self._credentials = (username, password)
        self.http = httpx.Client(base_url=f"{self.base_url}/admin/realms", timeout=timeout)
        self._login()

    def _login(self) -> None:
        url = f"{self.base_url}/realms/master/protocol/openid-connect/token"
        username, password = self._credentials
        try:
            response = httpx.post(
                url,
                data={
                    "grant_type": "password",
                    "client_id": "admin-cli",
                    "username": username,
                    "password": password,
                },
            )
        except httpx.HTTPError as e:
            raise AdminError(
                f"Keycloak is not reachable at {self.base_url} ({e}): is it "
                "running? (`make up`, or set KEYCLOAK_ADMIN_URL)"
            ) from None
        if response.status_code != 200:
            raise AdminError(
                f"Keycloak refused the admin login of {username!r} (HTTP "
                f"{response.status_code}): check KC_BOOTSTRAP_ADMIN_USERNAME/"
                "PASSWORD in the secrets file"
            )
        self.token = response.json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        if response.status_code == 401:  # the admin token (60 s) expired during a long run
            self._login()
            response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            detail = response.text[:300] or response.reason_phrase
            raise AdminError(f"{method} {path}: HTTP {response.status_code}: {detail}")
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    def exists(self, path: str) -> bool:
        response = self.http.get(path)
        if response.status_code == 401:
            self._login()
            response = self.http.get(path)
        return response.status_code == 200

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.request("POST", path, json=body)

    def put(self, path: str, body: Any = None) -> httpx.Response:
        return self.request("PUT", path, json=body)

    def delete(self, path: str, body: Any = None) -> httpx.Response:
        return self.request("DELETE", path, json=body)

    def find_id(self, realm: str, kind: str, name: str) -> str:
        """The id of a client (by clientId), client scope, group or user (by name)."""
        realm = segment(realm)
        if kind == "clients":
            found = self.get(f"/{realm}/clients", clientId=name)
        elif kind == "users":
            found = self.get(f"/{realm}/users", username=name, exact="true")
        elif kind == "groups":
            found = [
                g
                for g in self.get(f"/{realm}/groups", search=name, exact="true")
                if g["name"] == name
            ]
        elif kind == "client-scopes":
            found = [s for s in self.get(f"/{realm}/client-scopes") if s["name"] == name]
        else:
            raise ValueError(kind)
        if not found:
            raise AdminError(f"{kind} {name!r} not found in realm {realm}")
        return found[0]["id"]
