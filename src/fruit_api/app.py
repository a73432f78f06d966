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


# --- exception handlers: every error in the API's JSON shape ----------------------------------


async def answer_api_error(request: Request, exc: ApiError) -> JSONResponse:
    """An error the API raised itself, answered as it says."""
    return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)


def _storage_full_answer(exc: StorageFullError) -> JSONResponse:
    """507: the data volume has no space left; the change was not made."""
    body = {
        "error": "insufficient_storage",
        "message": f"{exc.reason}: the change was not made. The operator must free "
        "space on the fruit API's data volume; retry later (reads keep working)",
    }
    return JSONResponse(body, status_code=507)


def _storage_unavailable_answer(request: Request, exc: StorageError) -> JSONResponse:
    """503 with Retry-After: the storage cannot serve the call now."""
    changed = "" if request.method in ("GET", "HEAD") else "nothing was changed; "
    body = {
        "error": "temporarily_unavailable",
        "message": f"the fruit API's storage cannot serve the call ({exc.reason}): "
        f"{changed}try again in {STORAGE_RETRY_AFTER} s (if it lasts, the operator should "
        "check the fruit API's data volume)",
    }
    headers = {"Retry-After": str(STORAGE_RETRY_AFTER)}
    return JSONResponse(body, status_code=503, headers=headers)


async def answer_storage_error(request: Request, exc: StorageError) -> JSONResponse:
    """A write that could not be stored (507) or storage that cannot serve (503): never
    a 500, and never a half-made change (each call is one transaction)."""
    if isinstance(exc, StorageFullError):
        return _storage_full_answer(exc)
    return _storage_unavailable_answer(request, exc)


async def answer_framework_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """The framework's own errors (a body that cannot be read, no such path or method)
    in the API's shape, with the cause and the fix."""
    body = _framework_error(request, exc)
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def add_exception_handlers(app: FastAPI) -> None:
    """Answer our errors, storage errors and the framework's errors as JSON with the fix."""
    app.exception_handler(ApiError)(answer_api_error)
    app.exception_handler(StorageError)(answer_storage_error)
    app.exception_handler(StarletteHTTPException)(answer_framework_error)


# --- dependencies: the caller's token, the app's store and audience -------------------------


def bearer_scheme(audience: str) -> HTTPBearer:
    """The app's bearer-token scheme, documented (OpenAPI) with the audience its tokens have;
    no error of its own (auto_error=False): ``caller_claims`` answers a missing token."""
    return HTTPBearer(
        auto_error=False, description=f"Access token minted by the hub for audience {audience}"
    )


async def bearer_credentials(request: Request) -> HTTPAuthorizationCredentials | None:
    """The request's bearer token, read by the app's scheme (``app.state.bearer``)."""
    bearer: HTTPBearer = request.app.state.bearer
    return await bearer(request)


async def api_audience(request: Request) -> str:
    """The audience this API's tokens are minted for."""
    settings: Settings = request.app.state.settings
    return settings.audience


async def fruit_store(request: Request) -> FruitStore:
    """The app's fruit store."""
    store: FruitStore = request.app.state.store
    return store


Audience = Annotated[str, Depends(api_audience)]
Store = Annotated[FruitStore, Depends(fruit_store)]


def caller_claims(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_credentials)],
    audience: Audience,
) -> Claims:
    """Validated token claims, or a 401 that says what is wrong."""
    validator: TokenValidator = request.app.state.validator
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


Token = Annotated[Claims, Depends(caller_claims)]


# --- checks of a fruit call -------------------------------------------------------------------


def _check_kind(kind: str) -> None:
    """404 for an unknown kind."""
    if kind not in KINDS:
        raise ApiError(
            404, "not_found", f"unknown kind {echo(repr(kind))}: use one of {', '.join(KINDS)}"
        )


def _insufficient_scope(needed: list[str], have: list[str], audience: str) -> ApiError:
    """403: the scopes the call needs, those the token has, and how to get the missing ones."""
    missing = [s for s in needed if s not in have]
    want = " ".join(missing)
    message = (
        f"this call needs scope {' '.join(needed)}; the token has "
        f"{echo(' '.join(have) or 'no scopes')}. Ask the hub for a token with scope {want} "
        f"(hubtokens.get('{audience}', scope='{want}')); if that is refused, you lack the role."
    )
    header = f'Bearer error="insufficient_scope", scope="{" ".join(needed)}"'
    return ApiError(
        403,
        "insufficient_scope",
        message,
        {"WWW-Authenticate": header},
        required_scopes=needed,
        token_scopes=have,
    )


def require(token: Claims, kind: str, action: str, audience: str) -> None:
    """404 for an unknown kind; 403 unless the token has every scope the call needs."""
    _check_kind(kind)
    needed = [f"fruits:{action}"] + (["fruits:exotic"] if kind == "exotic" else [])
    have = _token_scopes(token)
    if any(s not in have for s in needed):
        raise _insufficient_scope(needed, have, audience)


# --- route handlers (``add_fruit_routes`` puts them on the app) ------------------------------

#: The answers of ``POST /fruits/{kind}``.
ADD_FRUIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **WRITE_RESPONSES,
    400: {
        "model": ErrorBody,
        "description": "The body cannot be read as JSON (e.g. it is not UTF-8).",
    },
    409: {"model": ErrorBody, "description": "The fruit is already in the list."},
}
#: The answers of ``DELETE /fruits/{kind}/{name}``.
DELETE_FRUIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **WRITE_RESPONSES,
    404: {
        "model": ErrorBody,
        "description": "Unknown kind (use usual or exotic), or the fruit is not there.",
    },
}


def health() -> Health:
    """Liveness/readiness: no token needed."""
    return Health(status="ok")


def whoami(token: Token) -> WhoAmI:
    """The caller's validated claims (a subset). Any valid token, no particular scope."""
    keys = ("sub", "preferred_username", "scope", "aud", "azp", "exp")
    return WhoAmI(**{k: token.get(k) for k in keys})


def list_fruits(kind: Kind, token: Token, store: Store, audience: Audience) -> FruitList:
    """Fruits of a kind. Scope ``fruits:read`` (+ ``fruits:exotic`` for exotic)."""
    require(token, kind, "read", audience)
    return FruitList(kind=kind, fruits=store.list(kind))


def add_fruit(kind: Kind, body: NewFruit, token: Token, store: Store, audience: Audience) -> Fruit:
    """Add a fruit. Scope ``fruits:write`` (+ ``fruits:exotic`` for exotic)."""
    require(token, kind, "write", audience)
    if not store.add(kind, body.name):
        raise ApiError(409, "conflict", f"{body.name} is already in the {kind} fruits")
    return Fruit(kind=kind, name=body.name)


def delete_fruit(
    kind: Kind,
    name: Annotated[str, Path(examples=["apple"])],
    token: Token,
    store: Store,
    audience: Audience,
) -> Response:
    """Remove a fruit. Scope ``fruits:write`` (+ ``fruits:exotic`` for exotic)."""
    require(token, kind, "write", audience)
    name = normalize_name(name)
    if not store.remove(kind, name):
        raise ApiError(404, "not_found", f"{echo(name)} is not in the {kind} fruits")
    return Response(status_code=204)


def add_fruit_routes(app: FastAPI, bearer: HTTPBearer) -> None:
    """The API's routes, in this order; those that need a token carry the app's bearer scheme,
    which documents it in the OpenAPI schema (``caller_claims`` reads the token)."""
    token = [Depends(bearer)]
    app.add_api_route("/health", health, methods=["GET"])
    app.add_api_route(
        "/whoami", whoami, methods=["GET"], responses=TOKEN_RESPONSES, dependencies=token
    )
    app.add_api_route(
        "/fruits/{kind}",
        list_fruits,
        methods=["GET"],
        responses=FRUIT_RESPONSES,
        dependencies=token,
    )
    app.add_api_route(
        "/fruits/{kind}",
        add_fruit,
        methods=["POST"],
        status_code=201,
        responses=ADD_FRUIT_RESPONSES,
        dependencies=token,
    )
    app.add_api_route(
        "/fruits/{kind}/{name}",
        delete_fruit,
        methods=["DELETE"],
        status_code=204,
        response_class=Response,
        responses=DELETE_FRUIT_RESPONSES,
        dependencies=token,
    )


# --- the app ----------------------------------------------------------------------------------


def create_app(settings: Settings, jwks_client: SigningKeySource | None = None) -> FastAPI:
    """Build the app; ``jwks_client`` defaults to a cached ``jwt.PyJWKClient``."""
    validator = TokenValidator(settings, jwks_client or make_jwks_client(settings))
    store = FruitStore(settings.database_url)
    bearer = bearer_scheme(settings.audience)
    # The API docs (Swagger UI, ReDoc) with their assets served by the API itself, never from
    # a CDN: no third-party script runs in the stack's origin (fastapi-offline).
    app = FastAPIOffline(
        title="Fruit API",
        description="Sample protected API: usual and exotic fruit lists, by scope.",
    )
    # The proxy prefix is the server's root path (uvicorn --root-path, see __main__).
    app.state.settings = settings
    app.state.store = store
    app.state.validator = validator
    app.state.bearer = bearer
    add_exception_handlers(app)
    add_fruit_routes(app, bearer)
    return app
