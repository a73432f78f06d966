"""The fruit API routes: bearer-token auth, scope checks, fruit lists."""

import re
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from fruit_api.db import (
    KINDS,
    STORAGE_RETRY_AFTER,
    FruitStore,
    StorageError,
    StorageFullError,
)
from fruit_api.settings import Settings
from fruit_api.tokens import (
    KEYS_RETRY_AFTER,
    KeysUnavailableError,
    SigningKeySource,
    TokenError,
    TokenValidator,
    make_jwks_client,
)
from tokencontract.errors import echo

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


def normalize_name(name: str) -> str:
    """A fruit's name as stored and as looked up: no surrounding whitespace, lower case. One
    function (Python's rules) for both, so a fruit is removed by the name it was added with."""
    return name.strip().lower()


#: A fruit's name (once normalized): no control character, no "/" (it is a path segment of
#: DELETE /fruits/{kind}/{name}, where a "/", even as %2F, would be another segment).
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f/]+$"


class NewFruit(BaseModel):
    """Body of ``POST /fruits/{kind}``."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=NAME_PATTERN,
        examples=["kiwi"],
        description="1 to 64 characters, no control character or /; stored trimmed and in "
        "lower case",
    )

    @field_validator("name", mode="before")
    @classmethod
    def _normalize(cls, value: Any) -> Any:
        return normalize_name(value) if isinstance(value, str) else value


class ErrorBody(BaseModel):
    """Every error the API answers itself: what is wrong, and how to fix it."""

    error: str = Field(examples=["invalid_token"])
    message: str = Field(examples=["token expired. Get a fresh token for this API from the hub"])


class ScopeErrorBody(ErrorBody):
    """403: the token lacks a scope; which ones the call needs and which the token has."""

    required_scopes: list[str] = Field(examples=[["fruits:write"]])
    token_scopes: list[str] = Field(examples=[["fruits:read"]])


class Health(BaseModel):
    status: Literal["ok"]


class WhoAmI(BaseModel):
    """A subset of the caller's validated claims, as the token has them (null when absent)."""

    sub: Any
    preferred_username: Any
    scope: Any
    aud: str | list[str]
    azp: Any
    exp: Any


class FruitList(BaseModel):
    kind: str
    fruits: list[str]


class Fruit(BaseModel):
    kind: str
    name: str


def _www_authenticate(description: str) -> dict[str, Any]:
    return {"WWW-Authenticate": {"description": description, "schema": {"type": "string"}}}


#: ``Retry-After`` of a 503: seconds to wait before trying again.
RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
KEYS_UNAVAILABLE = (
    "The issuer's signing keys cannot be fetched or read (Keycloak down or cut off) and the "
    "token is signed by a key this API has not fetched yet (tokens signed by a key it already "
    "has keep working): try again after Retry-After seconds."
)
STORAGE_UNAVAILABLE = (
    "The API's storage cannot serve the call now (the database stayed locked by other writes, "
    "an I/O error, the database cannot be opened or written): nothing was changed; try again "
    "after Retry-After seconds."
)

#: The answers of every call that needs a token (documented, so clients and fuzzers know them).
TOKEN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorBody,
        "description": "No token, or the token is invalid (expired, not for this API, ...): "
        "the message says what is wrong; get a fresh token from the hub.",
        "headers": _www_authenticate('Bearer error="invalid_token", error_description="..."'),
    },
    503: {"model": ErrorBody, "description": KEYS_UNAVAILABLE, "headers": RETRY_AFTER_HEADER},
}
#: The answers of the fruit calls besides TOKEN_RESPONSES: missing scope, unknown kind, storage.
FRUIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **TOKEN_RESPONSES,
    503: {
        "model": ErrorBody,
        "description": f"Either: {KEYS_UNAVAILABLE} Or: {STORAGE_UNAVAILABLE}",
        "headers": RETRY_AFTER_HEADER,
    },
    403: {
        "model": ScopeErrorBody,
        "description": "The token lacks a scope the call needs (fruits:read or fruits:write, "
        "and fruits:exotic for the exotic kind).",
        "headers": _www_authenticate('Bearer error="insufficient_scope", scope="..."'),
    },
    404: {"model": ErrorBody, "description": "Unknown kind: use usual or exotic."},
}
#: The answers of the calls that write, besides FRUIT_RESPONSES.
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **FRUIT_RESPONSES,
    507: {
        "model": ErrorBody,
        "description": "The API's storage is full (its data volume has no space left): the "
        "change was not made. The operator must free space on the fruit API's data volume; "
        "retry later (reads keep working meanwhile).",
    },
}

#: The path parameter ``kind``: documented as the known kinds; any other is a 404.
Kind = Annotated[
    str,
    Path(
        description="usual or exotic (any other: 404)",
        json_schema_extra={"enum": list(KINDS)},
    ),
]


def _framework_error(request: Request, exc: StarletteHTTPException) -> dict[str, str]:
    """``{"error", "message"}`` for an HTTP error raised by FastAPI or Starlette, not by us."""
    if exc.status_code == 400:
        # FastAPI could not read the body as JSON text at all (e.g. bytes that are not UTF-8);
        # malformed JSON text is a 422.
        return {
            "error": "invalid_body",
            "message": "the request body cannot be read as JSON: send UTF-8 JSON such as "
            '{"name": "kiwi"} with Content-Type: application/json',
        }
    if exc.status_code == 404:
        return {
            "error": "not_found",
            "message": f"no such path {echo(request.url.path)}: the API's paths are in /docs",
        }
    if exc.status_code == 405:
        allowed = exc.headers.get("allow", "") if exc.headers else ""
        return {
            "error": "method_not_allowed",
            "message": f"{echo(request.method)} is not allowed on {echo(request.url.path)}; "
            f"use {allowed or 'another method'} (see /docs)",
        }
    try:
        error = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        error = "http_error"
    return {"error": error, "message": str(exc.detail)}


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
    app.state.store = store

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StorageError)
    async def _storage_error(request: Request, exc: StorageError) -> JSONResponse:
        """A write that could not be stored (507) or storage that cannot serve (503): never
        a 500, and never a half-made change (each call is one transaction)."""
        if isinstance(exc, StorageFullError):
            body = {
                "error": "insufficient_storage",
                "message": f"{exc.reason}: the change was not made. The operator must free "
                "space on the fruit API's data volume; retry later (reads keep working)",
            }
            return JSONResponse(body, status_code=507)
        changed = "" if request.method in ("GET", "HEAD") else "nothing was changed; "
        body = {
            "error": "temporarily_unavailable",
            "message": f"the fruit API's storage cannot serve the call ({exc.reason}): "
            f"{changed}try again in {STORAGE_RETRY_AFTER} s (if it lasts, the operator should "
            "check the fruit API's data volume)",
        }
        headers = {"Retry-After": str(STORAGE_RETRY_AFTER)}
        return JSONResponse(body, status_code=503, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """The framework's own errors (a body that cannot be read, no such path or method)
        in the API's shape, with the cause and the fix."""
        body = _framework_error(request, exc)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

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
            message, retry = f"{e}; try again shortly", {"Retry-After": str(KEYS_RETRY_AFTER)}
            raise ApiError(503, "temporarily_unavailable", message, retry) from None

    def require(token: Claims, kind: str, action: str) -> None:
        """404 for an unknown kind; 403 unless the token has every scope the call needs."""
        if kind not in KINDS:
            raise ApiError(
                404, "not_found", f"unknown kind {echo(repr(kind))}: use one of {', '.join(KINDS)}"
            )
        needed = [f"fruits:{action}"] + (["fruits:exotic"] if kind == "exotic" else [])
        have = _token_scopes(token)
        missing = [s for s in needed if s not in have]
        if not missing:
            return
        want = " ".join(missing)
        message = (
            f"this call needs scope {' '.join(needed)}; the token has "
            f"{echo(' '.join(have) or 'no scopes')}. Ask the hub for a token with scope {want} "
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
    def health() -> Health:
        """Liveness/readiness: no token needed."""
        return Health(status="ok")

    @app.get("/whoami", responses=TOKEN_RESPONSES)
    def whoami(token: Token) -> WhoAmI:
        """The caller's validated claims (a subset). Any valid token, no particular scope."""
        keys = ("sub", "preferred_username", "scope", "aud", "azp", "exp")
        return WhoAmI(**{k: token.get(k) for k in keys})

    @app.get("/fruits/{kind}", responses=FRUIT_RESPONSES)
    def list_fruits(kind: Kind, token: Token) -> FruitList:
        """Fruits of a kind. Scope ``fruits:read`` (+ ``fruits:exotic`` for exotic)."""
        require(token, kind, "read")
        return FruitList(kind=kind, fruits=store.list(kind))

    @app.post(
        "/fruits/{kind}",
        status_code=201,
        responses={
            **WRITE_RESPONSES,
            400: {
                "model": ErrorBody,
                "description": "The body cannot be read as JSON (e.g. it is not UTF-8).",
            },
            409: {"model": ErrorBody, "description": "The fruit is already in the list."},
        },
    )
    def add_fruit(kind: Kind, body: NewFruit, token: Token) -> Fruit:
        """Add a fruit. Scope ``fruits:write`` (+ ``fruits:exotic`` for exotic)."""
        require(token, kind, "write")
        if not store.add(kind, body.name):
            raise ApiError(409, "conflict", f"{body.name} is already in the {kind} fruits")
        return Fruit(kind=kind, name=body.name)

    @app.delete(
        "/fruits/{kind}/{name}",
        status_code=204,
        response_class=Response,
        responses={
            **WRITE_RESPONSES,
            404: {
                "model": ErrorBody,
                "description": "Unknown kind (use usual or exotic), or the fruit is not there.",
            },
        },
    )
    def delete_fruit(
        kind: Kind, name: Annotated[str, Path(examples=["apple"])], token: Token
    ) -> Response:
        """Remove a fruit. Scope ``fruits:write`` (+ ``fruits:exotic`` for exotic)."""
        require(token, kind, "write")
        name = normalize_name(name)
        if not store.remove(kind, name):
            raise ApiError(404, "not_found", f"{echo(name)} is not in the {kind} fruits")
        return Response(status_code=204)

    return app
