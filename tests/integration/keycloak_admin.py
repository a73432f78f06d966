"""A small Keycloak admin REST client for tests (bootstrap admin from the secrets file)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.stack import Stack


class KeycloakAdmin:
    def __init__(self, stack: Stack) -> None:
        token = httpx.post(
            f"{stack.keycloak_url}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": stack.secrets["KC_BOOTSTRAP_ADMIN_USERNAME"],
                "password": stack.secrets["KC_BOOTSTRAP_ADMIN_PASSWORD"],
            },
        )
        token.raise_for_status()
        self.master_token = token.json()["access_token"]
        self.http = httpx.Client(
            base_url=f"{stack.keycloak_url}/admin/realms/{stack.realm}",
            headers={"Authorization": f"Bearer {self.master_token}"},
            timeout=30.0,
        )

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any) -> httpx.Response:
        response = self.http.post(path, json=body)
        response.raise_for_status()
        return response

    def delete(self, path: str) -> None:
        self.http.delete(path).raise_for_status()
