"""What the fruit API's unit tests share: the issuer and key id their tokens carry, a key set
served from memory, and the Authorization header of a token."""

from __future__ import annotations

import base64
from typing import Any

import jwt

ISSUER = "http://keycloak.test/auth/realms/demo"
KID = "test-key"


class LocalJWKSClient(jwt.PyJWKClient):
    """A real PyJWKClient whose key set comes from memory instead of the network."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        super().__init__("http://jwks.invalid/certs", cache_keys=True)
        self.jwks = jwks

    def fetch_data(self) -> Any:
        return self.jwks


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
