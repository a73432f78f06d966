"""Fuzz the fruit API from its own OpenAPI document (schemathesis), in-process.

Every operation of the document is called with generated and mutated inputs (schemathesis's
examples, coverage and fuzzing phases), once per kind of token: accepted ones (every scope;
no fruit scope) and refused ones (expired, for another audience, not a JWT, none). Each answer
must be no 5xx, a documented status, of a documented content type, with documented headers,
a body that fits the documented schema, and an error message that quotes a bounded part of
the input. Besides: a fruit the API added is removed by the name it was added with; bearer
values schemathesis makes up; JWT-shaped forgeries; tokens signed by the trusted key with odd
claims.

No network, no stack: the app runs in-process against a local key (as in
tests/unit/test_fruit_api.py) and a fresh SQLite file per test. Inputs that once broke a
check stay below as explicit cases (REGRESSIONS, @example), so they run whatever the budget;
tests/unit/test_fruit_api_fuzz_regressions.py tells each story.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jwt
import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from hypothesis import event, example, given, note, settings
from hypothesis import strategies as st
from jwt.algorithms import RSAAlgorithm
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fruit_api import Settings, create_app

ISSUER = "http://keycloak.test/auth/realms/demo"
KID = "fuzz-key"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ALL_SCOPES = "fruits:read fruits:write fruits:exotic"


def error_messages_stay_small(ctx: Any, response: schemathesis.Response, case: Any) -> None:
    """An error message quotes a bounded part of what the API was sent (hubtokens.errors.echo):
    its size does not follow the input's. 422 is FastAPI's own (it returns the input)."""
    if 400 <= response.status_code < 500 and response.status_code != 422:
        message = response.json()["message"]
        assert len(message) < 600, f"a {response.status_code} quotes the input whole: {message}"
        header = response.headers.get("www-authenticate", [""])[0]
        assert len(header) < 600, f"WWW-Authenticate quotes the input whole: {header}"


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    error_messages_stay_small,
]
#: A refused token ends every call in the same dependency (a 401, or the body's 400/422
#: first): a quarter of the budget is plenty there; accepted tokens get all of it.
REFUSED_BUDGET = max(10, settings.default.max_examples // 4)


class LocalJWKSClient(jwt.PyJWKClient):
    """A real PyJWKClient whose key set comes from memory instead of the network."""

    def __init__(self) -> None:
        super().__init__("http://jwks.invalid/certs", cache_keys=True)
        jwk = RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True)
        self.jwks = {"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]}

    def fetch_data(self) -> Any:
        return self.jwks


def make_app(database_url: str) -> FastAPI:
    settings = Settings(issuer=ISSUER, database_url=database_url, root_path="")
    return create_app(settings, jwks_client=LocalJWKSClient())


REMOVE = object()  # a claim override that leaves the claim out


def mint(**overrides: Any) -> str:
    """A token as the hub gets it for this API, signed by the trusted key; ``overrides``
    replace claims (REMOVE drops one)."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "fruit-api",
        "sub": "user-123",
        "preferred_username": "alice",
        "azp": "jupyterhub-exchange",
        "typ": "Bearer",
        "scope": ALL_SCOPES,
        "iat": now,
        "exp": now + 3600,
        **overrides,
    }
    payload = json.dumps({k: v for k, v in claims.items() if v is not REMOVE}).encode()
    # PyJWS, not jwt.encode: that one refuses some odd claims (a non-string iss) itself.
    return jwt.api_jws.encode(payload, KEY, algorithm="RS256", headers={"kid": KID})


def load_schema(*, fuzz_authorization: bool) -> schemathesis.BaseSchema:
    """The app's own document, fetched in-process. This app only serves the document (an
    in-memory database); each test calls an app of its own (see ``app``)."""
    loaded = schemathesis.openapi.from_asgi("/openapi.json", make_app("sqlite://"))
    # Without: schemathesis leaves Authorization alone and each test sends its token.
    loaded.config.generation.update(with_security_parameters=fuzz_authorization)
    return loaded


schema = load_schema(fuzz_authorization=False)
fuzzed_authorization_schema = load_schema(fuzz_authorization=True)

TOKENS: dict[str, Callable[[], str | None]] = {
    # accepted: the call runs, the scopes decide
    "every-scope": lambda: mint(),
    "no-fruit-scope": lambda: mint(scope="profile email"),
    # refused
    "expired": lambda: mint(iat=int(time.time()) - 600, exp=int(time.time()) - 60),
    "other-audience": lambda: mint(aud="account"),
    "not-a-jwt": lambda: "not-a-jwt",
    "none": lambda: None,
}


def bearer(token: str | None) -> dict[str, str] | None:
    return {"Authorization": f"Bearer {token}"} if token else None


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    """A fresh app and database per test: independent of the checkout and of other tests."""
    return make_app(f"sqlite:///{tmp_path / 'fruits.db'}")


@pytest.fixture
def token(request: pytest.FixtureRequest) -> str | None:
    return TOKENS[request.param]()


@pytest.mark.parametrize("token", ["every-scope", "no-fruit-scope"], indirect=True)
@schema.parametrize()
def test_accepted_token(case: schemathesis.Case, app: FastAPI, token: str | None) -> None:
    created = create_first(case, app, token)
    response = case.call_and_validate(app=app, headers=bearer(token), checks=CHECKS)
    event(f"status {response.status_code}")  # --hypothesis-show-statistics: what was reached
    if created:
        assert response.status_code == 204, "a fruit the API added cannot be removed by its name"


def create_first(case: schemathesis.Case, app: FastAPI, token: str | None) -> bool:
    """For a DELETE of a name of even length, add that fruit first (POST, same name as
    generated): fuzzing then reaches the 204 too, and checks that a fruit the API added
    (201, or 409: already there) is removed by the name it was added with."""
    kind, name = case.path_parameters.get("kind"), case.path_parameters.get("name")
    if case.method != "DELETE" or not isinstance(name, str):
        return False
    name = unquote(name)  # schemathesis keeps path parameters percent-encoded
    if len(name) % 2:
        return False
    post = schema["/fruits/{kind}"]["POST"].Case(
        path_parameters={"kind": kind}, body={"name": name}
    )
    return post.call(app=app, headers=bearer(token)).status_code in (201, 409)


@pytest.mark.parametrize("token", ["expired", "other-audience", "not-a-jwt", "none"], indirect=True)
@schema.parametrize()
@settings(max_examples=REFUSED_BUDGET)
def test_refused_token(case: schemathesis.Case, app: FastAPI, token: str | None) -> None:
    response = case.call_and_validate(app=app, headers=bearer(token), checks=CHECKS)
    event(f"status {response.status_code}")


@fuzzed_authorization_schema.parametrize()
@settings(max_examples=REFUSED_BUDGET)
def test_authorization_made_up_by_schemathesis(case: schemathesis.Case, app: FastAPI) -> None:
    """Schemathesis fills Authorization itself: random bearer values, none, a wrong scheme."""
    response = case.call_and_validate(app=app, checks=CHECKS)
    event(f"status {response.status_code}")


# --- tokens beside the document -------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


#: Long strings too: a message that quotes the caller's input must stay small.
LONG_TEXT = st.builds(lambda c, n: c * n, st.characters(codec="utf-8"), st.integers(1000, 5000))
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | LONG_TEXT
    | st.sampled_from(["RS256", "none", "HS256", KID, "fruit-api", "Bearer", ISSUER]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def json_b64(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    return strategy.map(lambda value: b64url(json.dumps(value).encode()))


#: JOSE headers: the trusted algorithm and key id, or anything else in their place.
JOSE_HEADER = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["RS256", "none", "HS256", "ES256"]) | LONG_TEXT | JSON_VALUES,
        "kid": st.just(KID) | LONG_TEXT | JSON_VALUES,
        "typ": st.just("JWT") | JSON_VALUES,
        "crit": JSON_VALUES,
        "b64": JSON_VALUES,
    },
)
SEGMENT = st.one_of(
    st.binary(max_size=300).map(b64url),
    json_b64(JSON_VALUES),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=24),
)
#: Bearer values shaped like a JWT (a JOSE header, a payload, a signature, base64url), other
#: dot-separated junk, or a real token cut short: what reaches PyJWT and the key lookup.
FORGED = st.one_of(
    st.tuples(
        json_b64(JOSE_HEADER), json_b64(JSON_VALUES), st.binary(max_size=300).map(b64url)
    ).map(".".join),
    st.lists(SEGMENT, min_size=1, max_size=5).map(".".join),
    st.builds(lambda cut: mint()[:cut], st.integers(1, 700)),
)


@given(forged=FORGED)
@example(forged="eyJhbGciOiJSUzI1NiJ9.e30.AAAA")  # {"alg": "RS256"}, no kid
@example(forged=b64url(b'{"alg":"RS256","kid":"' + b"k" * 5000 + b'"}') + ".e30.AAAA")
@example(forged=b64url(b'{"alg":"' + b"k" * 5000 + b'"}') + ".e30.AAAA")
def test_forged_bearer_is_a_documented_401(app: FastAPI, forged: str) -> None:
    note(f"forged bearer: {forged!r}")
    case = schema["/whoami"]["GET"].Case()
    response = case.call_and_validate(app=app, headers=bearer(forged), checks=CHECKS)
    assert response.status_code == 401
    assert len(response.content) < 1024, "the error quotes the caller's input unbounded"


CLAIMS = st.sampled_from(
    ["scope", "aud", "azp", "typ", "exp", "iat", "nbf", "iss", "sub", "preferred_username"]
)
PLAUSIBLE = st.sampled_from(
    ["fruits:read", ALL_SCOPES, "fruit-api", ["fruit-api"], "jupyterhub-exchange", "Bearer"]
)
ODD_CLAIMS = st.dictionaries(CLAIMS, JSON_VALUES | PLAUSIBLE | st.just(REMOVE), max_size=3)


@given(claims=ODD_CLAIMS)
@example(claims={})  # the accepted token itself: the positive control
@example(claims={"scope": None})
@example(claims={"scope": 7})
@example(claims={"sub": float("nan")})
@example(claims={"iss": {"x": "\x0f" * 2000}})  # a 401 of 8 KB quoting the issuer whole
@example(claims={"scope": "\xe5" * 5000})  # a 403 quoting the token's scopes whole
def test_signed_token_with_odd_claims(app: FastAPI, claims: dict[str, Any]) -> None:
    """Signed by the trusted key, so past the signature: the claims' shapes must never
    make a 5xx or an answer outside the document."""
    note(f"claims: {claims!r}")
    token = mint(**claims)
    for path in ("/whoami", "/fruits/{kind}"):
        case = schema[path]["GET"].Case(path_parameters={"kind": "usual"} if "kind" in path else {})
        response = case.call_and_validate(app=app, headers=bearer(token), checks=CHECKS)
        event(f"{path} status {response.status_code}")


# --- inputs that broke a check once ---------------------------------------------------------
# The concrete requests schemathesis found (tests/unit/test_fruit_api_fuzz_regressions.py
# explains each one): replayed through the same checks with every kind of token.

REGRESSIONS = {
    # an undocumented 401 / 403 / 404 / 409 (the document listed 200/201/204 and 422 only)
    "whoami": ("/whoami", "GET", {}),
    "list": ("/fruits/{kind}", "GET", {"path_parameters": {"kind": "usual"}}),
    "unknown-kind": ("/fruits/{kind}", "GET", {"path_parameters": {"kind": "tropical"}}),
    "duplicate": (
        "/fruits/{kind}",
        "POST",
        {"path_parameters": {"kind": "usual"}, "body": {"name": "apple"}},
    ),
    "delete-missing": (
        "/fruits/{kind}/{name}",
        "DELETE",
        {"path_parameters": {"kind": "usual", "name": "kiwi"}},
    ),
    # added as "0\x1f" (POST), looked up as "0" (DELETE): 201, then 404 (kept percent-encoded,
    # as schemathesis keeps path parameters; the test adds the fruit first)
    "delete-added": (
        "/fruits/{kind}/{name}",
        "DELETE",
        {"path_parameters": {"kind": "usual", "name": "0%1F"}},
    ),
    # a body that is not UTF-8: FastAPI's bare 400 {"detail": ...}, undocumented
    "not-utf8-body": (
        "/fruits/{kind}",
        "POST",
        {"path_parameters": {"kind": "exotic"}, "body": b"{\x07\xf0w\xe9"},
    ),
}


@pytest.mark.parametrize("token", list(TOKENS), indirect=True)
@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_found_inputs_stay_fixed(app: FastAPI, token: str | None, name: str) -> None:
    path, method, kwargs = REGRESSIONS[name]
    operation = schema[path][method]
    if isinstance(kwargs.get("body"), bytes):
        kwargs = {**kwargs, "media_type": "application/json"}
    case = operation.Case(**kwargs)
    created = create_first(case, app, token)
    response = case.call_and_validate(app=app, headers=bearer(token), checks=CHECKS)
    if created:
        assert response.status_code == 204, "a fruit the API added cannot be removed by its name"
