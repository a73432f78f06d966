"""The fruit API routes: bearer-token auth, scope checks, fruit lists."""

import re
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field

from fruit_api.db import KINDS, FruitStore
from fruit_api.settings import Settings
from fruit_api.tokens import (
    KeysUnavailableError,
    SigningKeySource,
    TokenError,
    TokenValidator,
    make_jwks_client,
)

Claims = dict[str, Any]


class ApiError(Exception):
    """An error answered as JSON ``{"error", "message", ...}`` with optional headers."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers or {}
        self.body = {"error": error, "message": message, **extra}


class NewFruit(BaseModel):
    """Body of ``POST /fruits/{kind}``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, str_to_lower=True)
    name: str = Field(min_length=1, max_length=64, examples=["kiwi"])


def _header_safe(text: str) -> str:
    """Make text fit a quoted-string in WWW-Authenticate (printable ASCII, no quotes)."""
    return re.sub(r'[^\x20-\x7e]|["\\]', "'", text)[:300]


def _token_scopes(claims: Claims) -> list[str]:
    scope = claims.get("scope", "")
    return scope.split() if isinstance(scope, str) else [str(s) for s in scope]


def create_app(settings: Settings, jwks_client: SigningKeySource | None = None) -> FastAPI:
    """Build the app; ``jwks_client`` defaults to a cached ``jwt.PyJWKClient``."""
    validator = TokenValidator(settings, jwks_client or make_jwks_client(settings))
    store = FruitStore(settings.database_url)
    audience = settings.audience
    bearer = HTTPBearer(
        auto_error=False, description=f"Access token minted by the hub for audience {audience}"
    )
    # The API docs (Swagger UI, ReDoc) with their assets served by the API itself, never from
    # a CDN: no third-party script runs in the stack's origin (fastapi-offline).
    app = FastAPIOffline(
        title="Fruit API",
        description="Sample protected API: usual and exotic fruit lists, by scope.",
    )
    # The proxy prefix is the server's root path (uvicorn --root-path, see __main__).
    app.state.settings = settings

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    def claims(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Claims:
        """Validated token claims, or a 401 that says what is wrong."""
        try:
            return validator.validate(creds.credentials if creds else None)
        except TokenError as e:
            message = (
                f"{e.message}. Get a fresh token for this API from the hub: "
                f"hubtokens.get('{audience}', scope='fruits:read')"
            )
            header = f'Bearer error="invalid_token", error_description="{_header_safe(e.message)}"'
            raise ApiError(401, "invalid_token", message, {"WWW-Authenticate": header}) from None
        except KeysUnavailableError as e:
            raise ApiError(503, "temporarily_unavailable", f"{e}; try again shortly") from None

    def require(token: Claims, kind: str, action: str) -> None:
        """404 for an unknown kind; 403 unless the token has every scope the call needs."""
        if kind not in KINDS:
            raise ApiError(
                404, "not_found", f"unknown kind {kind!r}: use one of {', '.join(KINDS)}"
            )
        needed = [f"fruits:{action}"] + (["fruits:exotic"] if kind == "exotic" else [])
        have = _token_scopes(token)
        missing = [s for s in needed if s not in have]
        if not missing:
            return
        want = " ".join(missing)
        message = (
            f"this call needs scope {' '.join(needed)}; the token has "
            f"{' '.join(have) or 'no scopes'}. Ask the hub for a token with scope {want} "
            f"(hubtokens.get('{audience}', scope='{want}')); if that is refused, you lack the role."
        )
        header = f'Bearer error="insufficient_scope", scope="{" ".join(needed)}"'
        raise ApiError(
            403,
            "insufficient_scope",
            message,
            {"WWW-Authenticate": header},
            required_scopes=needed,
            token_scopes=have,
        )

    Token = Annotated[Claims, Depends(claims)]

    @app.get("/health")
    def health() -> dict[str, str]:
        """Liveness/readiness: no token needed."""
        return {"status": "ok"}

    @app.get("/whoami")
    def whoami(token: Token) -> dict[str, Any]:
        """The caller's validated claims (a subset)."""
        keys = ("sub", "preferred_username", "scope", "aud", "azp", "exp")
        return {k: token.get(k) for k in keys}

    @app.get("/fruits/{kind}")
    def list_fruits(kind: str, token: Token) -> dict[str, Any]:
        """Fruits of a kind. Scope ``fruits:read`` (+ ``fruits:exotic`` for exotic)."""
        require(token, kind, "read")
        return {"kind": kind, "fruits": store.list(kind)}

    @app.post("/fruits/{kind}", status_code=201)
    def add_fruit(kind: str, body: NewFruit, token: Token) -> dict[str, str]:
        """Add a fruit. Scope ``fruits:write`` (+ ``fruits:exotic`` for exotic)."""
        require(token, kind, "write")
        if not store.add(kind, body.name):
            raise ApiError(409, "conflict", f"{body.name} is already in the {kind} fruits")
        return {"kind": kind, "name": body.name}

    @app.delete("/fruits/{kind}/{name}", status_code=204)
    def delete_fruit(kind: str, name: str, token: Token) -> Response:
        """Remove a fruit. Scope ``fruits:write`` (+ ``fruits:exotic`` for exotic)."""
        require(token, kind, "write")
        name = name.strip().lower()
        if not store.remove(kind, name):
            raise ApiError(404, "not_found", f"{name} is not in the {kind} fruits")
        return Response(status_code=204)

    return app
