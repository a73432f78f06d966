"""Property-based fuzzing of the broker's token-exchange API (issue 10): generated bodies,
headers, content types, encodings, framings and sizes against the real handler over real HTTP.

The hub around the handler is faked as in tests/support/broker_handler.py (Keycloak mocked
with respx, a fixed user), one step closer to production: JupyterHub's login is replaced by a
table of hub tokens read from the Authorization header with JupyterHub's own parsing, so that
the real ``_caller`` (scope, running server, caller address) answers; the server is served
like JupyterHub serves it (``xheaders=True``), and requests are written byte by byte on a
socket, so that any header, method, query string and framing can be sent.

Properties, for every request the handler answers:

- the status is never 5xx (Keycloak always answers here, so not even ``idp_unavailable``);
- every answer is JSON, ``Cache-Control: no-store`` and without an ETag (so never a 304);
- a refusal is ``{"error": CODE, "message": TEXT}``, CODE one of the contract's codes
  (``hubtokens.errors.ERROR_STATUS``, docs/broker.md) sent with its status, TEXT non-empty,
  at most ``MAX_MESSAGE`` characters, quoting no more than ``ECHO_LIMIT`` characters in a
  row (give or take ``SLACK``) of any string the caller sent; a 429 carries ``Retry-After``;
- a 2xx has the documented shape (POST: the token and exactly what was asked for; GET: the
  listing; DELETE: ``{"forgotten": N}``);
- the outcome is one the contract allows for that request (``acceptable``: a model of the
  table in docs/broker.md, which fixes no precedence between two applicable codes).

Requests that tornado refuses as malformed HTTP before the handler decides (a
Transfer-Encoding other than chunked, both framings at once) are sent too: those must get
tornado's bare 400, never a 5xx.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import io
import json
import logging
import re
import zlib
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import respx
from hypothesis import event, example, given
from hypothesis import strategies as st
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application

from hubbroker.guards import MintRateLimiter, RequestLimits
from hubbroker.handlers import TOKEN_EXCHANGE_SCOPE, TokenExchangeHandler
from tests.support.broker_fakes import TOKEN_URL, FreshUser, make_broker, registry
from tests.support.broker_handler import keycloak
from tokencontract.errors import ECHO_LIMIT, ERROR_STATUS
from tokencontract.scopes import normalize_scope

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

PATH = "/hub/api/token-exchange"
APIS = {
    **registry(
        "fruit-api",
        {"fruits:read": "fruit-reader", "fruits:exotic": "fruit-exotic", "fruits:write": ""},
    ),
    **registry("veg-api", {"veg:read": "veg-reader"}),
}
OFFERED = {name: frozenset(api.scopes) for name, api in APIS.items()}
#: The documented defaults (TOKEN_EXCHANGE_MAX_BODY, _MAX_SCOPES, _MAX_NAME_LENGTH).
LIMITS = RequestLimits(max_body=4096, max_scopes=20, max_name_length=128)
#: The longest message a refusal may carry: 64 characters quoted (each escaped to at most 10
#: by repr) and the fixed text around them.
MAX_MESSAGE = 1024
#: A refusal's whole body (JSON escapes a character in at most 12 bytes).
MAX_ERROR_BODY = 8192

# --- The hub around the handler ----------------------------------------------------------

SERVER_TOKEN = "server-token"  # the default server's own $JUPYTERHUB_API_TOKEN
#: Hub tokens: secret -> (kind of owner, holds custom:token-exchange). Only SERVER_TOKEN, from
#: its server's address (127.0.0.1), may use the broker; "lab-token" is the token of a server
#: that runs at 10.0.0.9 (sent from here: forbidden), "stopped-token" a stopped server's,
#: "page-token" one made on the token page.
HUB_TOKENS = {
    SERVER_TOKEN: ("user", True),
    "lab-token": ("user", True),
    "stopped-token": ("user", True),
    "page-token": ("user", True),
    "noscope-token": ("user", False),
    "service-token": ("service", True),
}
SESSION_COOKIE = "jupyterhub-session-id=alice-browser"  # a browser session: no token


def alice() -> FreshUser:
    def spawner(token: str, ip: str | None, active: bool = True) -> SimpleNamespace:
        server = SimpleNamespace(ip=ip) if ip is not None else None
        return SimpleNamespace(active=active, api_token=token, server=server)

    return FreshUser(
        {
            "": spawner(SERVER_TOKEN, "127.0.0.1"),
            "lab": spawner("lab-token", "10.0.0.9"),
            "old": spawner("stopped-token", None, active=False),
        }
    )


class FuzzHandler(TokenExchangeHandler):
    """The real handler, its caller checks included; JupyterHub's login is replaced by
    ``HUB_TOKENS`` (the Authorization header read by JupyterHub's own ``get_auth_token``)."""

    async def prepare(self) -> None:
        secret = self.get_auth_token()
        self._orm_token = None
        self._jupyterhub_user = None
        self.parsed_scopes: set[str] = set()
        if secret in HUB_TOKENS:
            kind, may_exchange = HUB_TOKENS[secret]
            self._orm_token = SimpleNamespace(match=lambda other: other == secret)
            self.parsed_scopes = {TOKEN_EXCHANGE_SCOPE} if may_exchange else set()
            user = self.settings["user"]
            self._jupyterhub_user = user if kind == "user" else SimpleNamespace(kind=kind)
        elif secret is None and SESSION_COOKIE in self.request.headers.get("Cookie", ""):
            self.parsed_scopes = {TOKEN_EXCHANGE_SCOPE}
            self._jupyterhub_user = self.settings["user"]

    def get_token(self) -> Any:
        return self._orm_token


@dataclass
class Hub:
    port: int
    broker: Any


@pytest.fixture
async def hub():
    with respx.mock(assert_all_called=False) as router:
        router.post(TOKEN_URL).mock(side_effect=keycloak)
        async with httpx.AsyncClient() as http:
            log = logging.getLogger("test.hubtokens.fuzz")
            broker = make_broker(
                http,
                APIS,
                log=log,
                limits=LIMITS,
                rate_limiter=MintRateLimiter(100_000, 100_000),  # counted, never reached
            )
            authenticator = SimpleNamespace(
                current_broker=lambda: broker, broker=broker, check_caller_address=True
            )
            app = Application(
                [(PATH, FuzzHandler)],
                authenticator=authenticator,
                user=alice(),
                db=SimpleNamespace(dirty=[]),
                hub=SimpleNamespace(base_url="/hub/"),
                log=log,
            )
            sockets = bind_sockets(0, "127.0.0.1")
            server = HTTPServer(app, xheaders=True)  # as JupyterHub serves its app
            server.add_sockets(sockets)
            yield Hub(sockets[0].getsockname()[1], broker)
            server.stop()


# --- Raw HTTP ----------------------------------------------------------------------------


@dataclass
class Request:
    """One HTTP/1.1 request as written on the socket. ``framing``: "length"
    (Content-Length), "chunked", or a malformed one tornado refuses: "both" (the two at
    once) or "te:<value>" (an unsupported Transfer-Encoding)."""

    method: str = "POST"
    body: bytes | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    query: str = ""
    framing: str = "length"
    chunk: int = 1024

    @property
    def malformed(self) -> bool:
        return self.framing not in ("length", "chunked")

    def wire(self) -> bytes:
        target = PATH + (f"?{self.query}" if self.query else "")
        head = [f"{self.method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
        head += [f"{name}: {value}" for name, value in self.headers]
        body = self.body or b""
        payload = body
        if self.framing == "chunked" or self.framing == "both":
            head.append("Transfer-Encoding: chunked")
            payload = chunked(body, self.chunk)
        elif self.framing.startswith("te:"):
            head.append(f"Transfer-Encoding: {self.framing[3:]}")
        if self.framing == "both" or (self.framing == "length" and self.body is not None):
            head.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload

    def __repr__(self) -> str:  # what a failure prints: bounded
        body = self.body if self.body is None or len(self.body) <= 300 else self.body[:300]
        more = "" if self.body is None or len(self.body) <= 300 else f"+{len(self.body)} B"
        return (
            f"Request({self.method} ?{self.query[:80]!r} {self.framing} chunk={self.chunk} "
            f"headers={self.headers!r} body={body!r}{more})"
        )


def chunked(body: bytes, size: int) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


class _Recorded:
    """A socket that replays what the server sent: http.client parses the response."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.data)


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent. A server that refuses a request before reading all of it
    (tornado's 400 for malformed framing) closes with unread bytes, which the kernel answers
    with a reset: what arrived before the reset is the answer."""
    data = b""
    while True:
        try:
            block = await reader.read(65536)
        except ConnectionResetError:
            if data:
                return data
            raise
        if not block:
            return data
        data += block


async def send(hub: Hub, request: Request) -> Answer:
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    try:
        writer.write(request.wire())
        try:
            await writer.drain()
        except ConnectionError:  # the server refused early and closed: read its answer
            pass
        data = await asyncio.wait_for(read_answer(reader), timeout=20)
    finally:
        writer.close()
    response = http.client.HTTPResponse(_Recorded(data))  # type: ignore[arg-type]
    response.begin()  # skips a "100 Continue"
    return Answer(response.status, response.headers, response.read())


# --- What the contract allows -------------------------------------------------------------


def scope_names(scope: Any) -> tuple[str, ...] | None:
    """The documented normalisation, or None for a scope of the wrong type."""
    try:
        return normalize_scope(scope)
    except ValueError:
        return None


def acceptable(body: Any) -> set[str]:
    """The outcomes ("ok" or error codes) the table in docs/broker.md allows for a POST whose
    body is the JSON value ``body``: every code whose condition holds, else "ok"."""
    if not isinstance(body, dict):
        return {"invalid_request"}
    codes = set()
    if set(body) - {"audience", "scope"}:
        codes.add("invalid_request")
    audience, names = body.get("audience"), scope_names(body.get("scope"))
    if names is None or not names:
        codes.add("invalid_request")
    if not isinstance(audience, str) or not audience:
        return {"invalid_request"}
    longest = LIMITS.max_name_length
    if len(audience) > longest or any(len(name) > longest for name in names or ()):
        codes.add("invalid_request")
    if names is not None and len(names) > LIMITS.max_scopes:
        codes.add("invalid_request")
    if audience not in OFFERED:
        codes.add("audience_not_allowed")
    elif names is not None and set(names) - OFFERED[audience]:
        codes.add("scope_not_allowed")
    return codes or {"ok"}


def meaning(raw: bytes) -> tuple[bool, Any]:
    """``(parsed, value)``: what the standard library reads in a body (any JSON encoding)."""
    try:
        return True, json.loads(raw)
    except (ValueError, RecursionError):
        return False, None


def post_outcomes(raw: bytes | None) -> set[str]:
    """What a POST of ``raw`` by the server's own token may be answered."""
    raw = raw or b""
    if len(raw) > LIMITS.max_body:
        return {"request_too_large"}
    parsed, value = meaning(raw)
    if not parsed:
        return {"invalid_request"}
    allowed = acceptable(value)
    if not is_plain_utf8(raw):  # UTF-16/32 or a BOM: a broker may refuse non-UTF-8 JSON
        allowed.add("invalid_request")
    return allowed


def is_plain_utf8(raw: bytes) -> bool:
    try:
        return not raw.decode("utf-8").startswith("\ufeff")
    except UnicodeDecodeError:
        return False


def caller_outcome(headers: list[tuple[str, str]]) -> str | None:
    """The refusal the credentials alone call for (None: the server's own token)."""
    values: dict[str, str] = {}  # as tornado reads them: stripped, repeated ones joined
    for name, value in headers:
        value = value.strip(" \t")
        key = name.lower()
        values[key] = f"{values[key]},{value}" if key in values else value
    match = re.match(r"^(?:token|bearer)\s+([^\s]+)$", values.get("authorization", ""), re.I)
    secret = match.group(1) if match else None
    if secret == SERVER_TOKEN:
        return None
    if secret in HUB_TOKENS:
        return "forbidden"
    if secret is None and SESSION_COOKIE in values.get("cookie", ""):
        return "forbidden"
    return "login_required"


def strings_in(value: Any) -> list[str]:
    """Every string (keys included) in a JSON value, without recursion."""
    found, todo = [], [value]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            todo.extend(item)
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return found


#: Characters of fixed text next to a quote that may happen to match the input too (the
#: "e " of "scope " after "fruits:write " in the input, say).
SLACK = 16


def quotes_too_much(message: str, sent: list[str]) -> str | None:
    """A run of more than ECHO_LIMIT (+ SLACK) characters of something sent that the message
    holds: an echo that grows with the input."""
    width = ECHO_LIMIT + SLACK + 1
    runs = {message[i : i + width] for i in range(len(message) - width + 1)}
    for text in sent:
        for i in range(len(text) - width + 1):
            if text[i : i + width] in runs:
                return text[i : i + width]
    return None


def check(request: Request, answer: Answer, allowed: set[str] | None) -> str:
    """Assert the properties; returns the outcome ("ok" or the error code)."""
    assert answer.status < 500, (answer.status, answer.body[:500], request)
    if request.malformed:  # tornado's own refusal, before the handler decides
        assert answer.status == 400, (answer.status, request)
        event("malformed HTTP: tornado's 400")
        return "malformed"
    assert answer.headers.get("Content-Type") == "application/json", (answer.headers, request)
    assert answer.headers.get("Cache-Control") == "no-store", answer.headers
    assert "Etag" not in answer.headers, answer.headers  # nothing to revalidate: no 304
    payload = json.loads(answer.body)
    if 200 <= answer.status < 300:
        outcome = "ok"
        check_success(request, answer, payload)
    else:
        outcome = check_refusal(request, answer, payload)
    if allowed is not None:
        assert outcome in allowed, (outcome, allowed, payload, request)
    event(f"{request.method} {outcome}")
    return outcome


def check_refusal(request: Request, answer: Answer, payload: Any) -> str:
    assert isinstance(payload, dict) and set(payload) == {"error", "message"}, payload
    code, message = payload["error"], payload["message"]
    assert code in ERROR_STATUS, code
    assert answer.status == ERROR_STATUS[code], (answer.status, code)
    assert isinstance(message, str) and message.strip(), payload
    assert len(message) <= MAX_MESSAGE, (len(message), message[:300])
    assert len(answer.body) <= MAX_ERROR_BODY, len(answer.body)
    if code == "rate_limited":
        assert int(answer.headers["Retry-After"]) >= 1
    sent = [request.query, *(value for _, value in request.headers)]
    body = request.body or b""
    if len(body) <= LIMITS.max_body:  # the strings a JSON body holds, else its bytes as text
        parsed, value = meaning(body)
        sent.extend(strings_in(value) if parsed else [body.decode("utf-8", "replace")])
    run = quotes_too_much(message, sent)
    assert run is None, (f"the message quotes {run!r}", message)
    return code


def check_success(request: Request, answer: Answer, payload: Any) -> None:
    assert answer.status == 200, answer.status
    if request.method == "DELETE":
        assert set(payload) == {"forgotten"} and isinstance(payload["forgotten"], int)
        assert payload["forgotten"] >= 0
    elif request.method == "GET":
        held = payload.pop("held")
        assert payload == APIS_LISTING, payload
        for item in held:  # what the caller holds: never a token
            assert set(item) == {"audience", "scope", "minted_at", "expires_at"}, item
    else:
        check_token(request, answer, payload)


def check_token(request: Request, answer: Answer, payload: Any) -> None:
    assert set(payload) == {
        "access_token",
        "token_type",
        "expires_in",
        "expires_at",
        "audience",
        "scope",
    }, payload
    assert payload["access_token"] == "MINTED" and payload["token_type"] == "Bearer"
    assert isinstance(payload["expires_in"], int) and 0 < payload["expires_in"] <= 300
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", payload["expires_at"])
    asked = meaning(request.body or b"")[1]  # a 200 only answers a request that parsed
    assert payload["audience"] == asked["audience"]
    assert payload["scope"] == " ".join(normalize_scope(asked.get("scope")))
    assert set(payload["scope"].split()) <= OFFERED[payload["audience"]]


#: The GET listing for alice, whose Keycloak token holds no realm roles.
APIS_LISTING = {
    "audiences": {
        name: {
            "description": api.description,
            "scopes": {
                scope.name: {
                    "description": scope.description,
                    "role": scope.role,
                    "groups": list(scope.groups),
                    "granted": False if scope.role else None,
                    "jobs": {"allowed": False, "max_days": None},
                }
                for scope in api.scopes.values()
            },
            "token_files": {f: list(s) for f, s in api.token_files.items()},
        }
        for name, api in APIS.items()
    }
}

# --- Strategies ---------------------------------------------------------------------------

AUTH = ("Authorization", f"token {SERVER_TOKEN}")
JSON_TYPE = ("Content-Type", "application/json")
#: Characters that break things: controls, bidi overrides, separators, BOM, non-characters,
#: lone surrogates (JSON escapes may carry them), astral.
SPECIAL = (
    "\x00\x01\x07\x08\t\n\r\x1b\x1c\x1f\x7f\x85\xa0\xad\u0600\u061c\u200b\u200d\u200e"
    "\u200f\u202a\u202e\u2066\u2069\u2028\u2029\u3000\ufeff\ufffd\ufffe\uffff"
    "\U0001f600\U000e0001\U0010ffff\ud800\udbff\udc00\udfff\"\\/'<>&%{}[]:,"
)
chars = st.one_of(st.characters(), st.characters(categories=["Cs"]), st.sampled_from(SPECIAL))
text = st.text(chars, max_size=40)
#: Strings around the echo limit (64) and the name limit (128), and far beyond.
long_text = st.builds(
    lambda unit, n: unit * n,
    st.sampled_from(["a", "é", "\U0001f600", "\u202e", "\x00", "\ud800", "fruits:read "]),
    st.sampled_from([63, 64, 65, 127, 128, 129, 300, 5000]),
)
KNOWN = sorted({*APIS, *(scope for scopes in OFFERED.values() for scope in scopes)})
NEAR = [
    "FRUIT-API",
    "fruit-api ",
    " fruit-api",
    "fruit-api\x00",
    "fruit_api",
    "fruit\u2010api",
    "\uff46ruit-api",
    "fruits:READ",
    "fruits:read\u200b",
    "fruits:read,fruits:write",
    "fruits:*",
    "*",
    "openid",
    "offline_access",
    "",
    " ",
]
name = st.one_of(st.sampled_from(KNOWN), st.sampled_from(NEAR), text, long_text)
SEPARATORS = [" ", "  ", "\t", "\n", "\r\n", "\x0b", "\x1c", "\x85", "\xa0", "\u2028", "\u3000"]
SEPARATORS += [",", ", ", ";", "+", "%20"]
scope_string = st.builds(
    lambda names, sep, pad: pad + sep.join(names) + pad,
    st.lists(name, max_size=6),
    st.sampled_from(SEPARATORS),
    st.sampled_from(["", " ", "\n"]),
)
#: Around and beyond the 20-scope limit, distinct names (the known ones among them).
many_scopes = st.builds(
    lambda n, known: [*known, *(f"s{i:04}" for i in range(n - len(known)))],
    st.sampled_from([19, 20, 21, 22, 100, 1000]),
    st.lists(st.sampled_from(KNOWN), max_size=3, unique=True),
)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(),
    text,
)
json_value = st.recursive(
    json_scalar,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(text, kids, max_size=4),
    max_leaves=12,
)
audience_value = st.one_of(st.sampled_from(sorted(APIS)), name, json_value)
scope_value = st.one_of(
    scope_string,
    st.lists(st.one_of(name, scope_string), max_size=25),
    st.lists(json_value, min_size=1, max_size=4),
    json_value,
    many_scopes.map(" ".join),
    many_scopes,
)
EXTRA_KEYS = [
    "Audience",
    "AUDIENCE",
    "audience ",
    "audience\u200b",
    "scopes",
    "scope\x00",
    "aud",
    "resource",
    "subject_token",
    "grant_type",
    "requested_token_type",
    "client_id",
    "__proto__",
    "",
]
extra_key = st.one_of(st.sampled_from(EXTRA_KEYS), text, long_text)


@st.composite
def valid_pairs(draw, mixed: bool = False) -> list[tuple[str, Any]]:
    """A request the contract accepts, in any of the documented forms; ``mixed``: its scopes
    mixed with names the audience does not offer (near misses, another audience's)."""
    audience = draw(st.sampled_from(sorted(APIS)))
    names = st.sampled_from(sorted(OFFERED[audience]))
    if mixed:
        names = st.one_of(names, st.sampled_from(KNOWN + NEAR), text)
    scopes = draw(st.lists(names, min_size=1, max_size=4))
    sep = draw(st.sampled_from([" ", "  ", "\t", "\n"]))
    scope = draw(st.sampled_from([sep.join(scopes), scopes, [sep.join(scopes)]]))
    pairs = [("audience", audience), ("scope", scope)]
    return draw(st.permutations(pairs))


@st.composite
def request_pairs(draw) -> list[tuple[str, Any]]:
    """An object with right, wrong, missing, extra and duplicated keys."""
    pairs = []
    if draw(st.integers(0, 9)):  # mostly present
        pairs.append(("audience", draw(audience_value)))
    if draw(st.integers(0, 9)):
        pairs.append(("scope", draw(scope_value)))
    if not draw(st.integers(0, 3)):
        pairs += draw(st.lists(st.tuples(extra_key, json_value), min_size=1, max_size=3))
    if not draw(st.integers(0, 5)):  # a key twice: JSON parsers differ on which one counts
        duplicate = draw(st.sampled_from(["audience", "scope"]))
        pairs.append((duplicate, draw(audience_value if duplicate == "audience" else scope_value)))
    return draw(st.permutations(pairs))


@st.composite
def json_texts(draw) -> str:
    """JSON text of every shape: a request object (pairs written one by one, so that a key
    may come twice) or any other JSON value, in compact or spaced layout, escaped to ASCII or
    not."""
    ascii_only = draw(st.booleans())
    spaced = draw(st.booleans())

    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=ascii_only, indent=2 if spaced else None)

    shape = draw(st.sampled_from(["valid", "mixed", "pairs", "pairs", "any"]))
    if shape == "any":
        return dumps(draw(json_value))
    pairs = draw(request_pairs() if shape == "pairs" else valid_pairs(mixed=shape == "mixed"))
    colon, comma = (": ", ",\n  ") if spaced else (":", ",")
    return "{" + comma.join(f"{dumps(k)}{colon}{dumps(v)}" for k, v in pairs) + "}"


ENCODINGS = ["utf-8"] * 6 + ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"]


@st.composite
def deep_json(draw) -> str:
    """JSON nested about as deep as a recursive parser goes (CPython's json: the recursion
    limit, 1000) or deeper, at the top or in a field; within the body limit or not."""
    opener, closer, levels = draw(
        st.sampled_from([("[", "]", 1), ('{"":[', "]}", 2), ("[{}, ", "]", 1)])
    )
    depth = draw(st.one_of(st.integers(900, 1100), st.sampled_from([100, 500, 2000, 4000])))
    core = opener * (depth // levels) + "0" + closer * (depth // levels)
    where = draw(st.sampled_from(["top", "audience", "scope", "extra"]))
    if where == "top":
        return core
    fields = {"audience": '"fruit-api"', "scope": '"fruits:read"'}
    fields["extra" if where == "extra" else where] = core
    return "{" + ", ".join(f'"{key}": {value}' for key, value in fields.items()) + "}"


def post(body: bytes | None, *headers: tuple[str, str], **more: Any) -> Request:
    return Request("POST", body, [AUTH, *headers], **more)


DEEP_ARRAY = "[" * 1000 + "]" * 1000  # defect 1: RecursionError -> 500


@given(
    body=st.one_of(json_texts(), json_texts(), deep_json()),
    encoding=st.sampled_from(ENCODINGS),
    framing=st.sampled_from(["length", "length", "chunked"]),
    chunk=st.integers(1, 512),
)
@example(body=DEEP_ARRAY, encoding="utf-8", framing="length", chunk=1)
@example(
    body='{"audience": "fruit-api", "scope": ' + DEEP_ARRAY + "}",
    encoding="utf-8",
    framing="chunked",
    chunk=97,
)
@example(body='{"":[' * 500 + "0" + "]}" * 500, encoding="utf-8", framing="length", chunk=1)
async def test_json_bodies(hub, body, encoding, framing, chunk):
    """Any JSON a caller may send, in any Unicode encoding, with either framing."""
    raw = body.encode(encoding, "surrogatepass")
    request = post(raw, JSON_TYPE, framing=framing, chunk=chunk)
    check(request, await send(hub, request), post_outcomes(raw))


VALID = b'{"audience": "fruit-api", "scope": "fruits:read"}'
non_json = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"", b" ", b"\r\n\t ", b"null", b"{}", b"[]", b'""', b"0", b"\x00"]),
    # invalid UTF-8 in and around a valid request
    st.builds(
        lambda at, junk: VALID[:at] + junk + VALID[at:],
        st.integers(0, len(VALID)),
        st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80"]),
    ),
    # truncated, trailing garbage, concatenated, not quite JSON
    st.integers(0, len(VALID) - 1).map(lambda n: VALID[:n]),
    st.sampled_from([b"x", b"\x00", b"}", b",", b" //", VALID, b"\n" + VALID]).map(
        lambda tail: VALID + tail
    ),
    st.sampled_from(
        [
            b"{'audience': 'fruit-api', 'scope': 'fruits:read'}",
            b'{audience: "fruit-api", scope: "fruits:read"}',
            b'{"audience": "fruit-api", "scope": "fruits:read",}',
            b'{"audience": "fruit-api", /* c */ "scope": "fruits:read"}',
            b'{"audience": NaN, "scope": Infinity}',
            b'{"audience": "fruit-api", "scope": "fruits:read"',
            b'{"audience": "\\ud800", "scope": "\\udfff"}',
            b'{"audience": "\\u0000", "scope": "\\x41"}',
            b"audience=fruit-api&scope=fruits%3Aread",
            b"fruit-api fruits:read",
            b"--b\r\nContent-Disposition: form-data; name=audience\r\n\r\nfruit-api\r\n--b--",
            b"1" * 4096,
            b"9" * 4000 + b"e999999",
        ]
    ),
    # other encodings, with and without a byte order mark
    st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be", "utf-8-sig"]).map(
        VALID.decode().encode
    ),
    st.sampled_from(["utf-16-le", "utf-16-be", "utf-32-le"]).map(
        lambda enc: b"\xef\xbb\xbf" + VALID.decode().encode(enc)
    ),
    st.sampled_from(["latin-1", "cp1252", "utf-7", "mac_roman", "cp500"]).map(
        '{"audience": "fruit-api", "scope": "fruits:read é"}'.encode
    ),
    # compressed
    st.sampled_from([gzip.compress(VALID), zlib.compress(VALID), b"\x1f\x8b\x08\x00"]),
)
content_type = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=UTF-16",
            "application/json; charset=latin-1",
            "application/json;charset=nonsense",
            "application/json; charset",
            "APPLICATION/JSON",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=b",
            "text/plain",
            "text/json",
            "application/jsonx",
            "application/*",
            "*/*",
            "",
            ";",
            "application/json, text/plain",
        ]
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")),
)
content_encoding = st.sampled_from([None, "gzip", "deflate", "br", "identity", "gzip, gzip", "x"])


@given(
    body=non_json,
    ctype=content_type,
    cenc=content_encoding,
    framing=st.sampled_from(["length", "length", "chunked"]),
)
async def test_other_bodies_and_content_types(hub, body, ctype, cenc, framing):
    """Bytes that are not (quite) a JSON request, under any Content-Type/-Encoding: the
    handler reads the bytes it got (the hub does not decompress requests)."""
    headers = [("Content-Type", ctype)] if ctype is not None else []
    headers += [("Content-Encoding", cenc)] if cenc is not None else []
    request = post(body, *headers, framing=framing, chunk=7)
    check(request, await send(hub, request), post_outcomes(body))


def sized(size: int, filler: str) -> bytes:
    """A body of exactly ``size`` bytes: a request padded so that it stays what it is."""
    if filler == "garbage":
        return b"\xff" * size
    if filler == "scopes":  # one scope, repeated: normalised to one
        head, tail = b'{"audience": "fruit-api", "scope": "', b'"}'
        room = size - len(head) - len(tail)
        pad = b"fruits:read " * (room // 12)
        return head + pad + b" " * (room - len(pad)) + tail
    if filler == "field":
        head, tail = b'{"audience": "fruit-api", "scope": "fruits:read", "pad": "', b'"}'
        return head + b"x" * (size - len(head) - len(tail)) + tail
    if filler == "utf16":
        raw = VALID.decode().encode("utf-16")
        return raw + " ".encode("utf-16-le") * ((size - len(raw)) // 2) + b"\n" * (size % 2)
    return VALID + b" " * (size - len(VALID))  # whitespace after the object


SIZES = st.one_of(
    st.integers(LIMITS.max_body - 8, LIMITS.max_body + 8),
    st.sampled_from([0, 1, 2, 4000, 8192, 65_536, 1_000_001]),
)


@given(
    size=SIZES,
    filler=st.sampled_from(["spaces", "scopes", "field", "garbage", "utf16"]),
    framing=st.sampled_from(["length", "chunked"]),
    chunk=st.integers(1, 9000),
)
@example(size=LIMITS.max_body, filler="scopes", framing="chunked", chunk=4095)
@example(size=LIMITS.max_body + 1, filler="spaces", framing="chunked", chunk=4096)
async def test_body_sizes(hub, size, filler, framing, chunk):
    """Around and far above TOKEN_EXCHANGE_MAX_BODY, with either framing and any chunking:
    413 exactly when the body is larger than the limit, else what the body says."""
    body = sized(size, filler)[:size] if size >= 64 else VALID[:size]
    request = post(body, JSON_TYPE, framing=framing, chunk=max(chunk, len(body) // 64))
    outcome = check(request, await send(hub, request), post_outcomes(body))
    assert (outcome == "request_too_large") == (len(body) > LIMITS.max_body)


CREDENTIALS = [
    None,
    f"token {SERVER_TOKEN}",
    f"Bearer {SERVER_TOKEN}",
    f"TOKEN   {SERVER_TOKEN}",
    f"bearer\t{SERVER_TOKEN}",
    f"token {SERVER_TOKEN} extra",
    f"token {SERVER_TOKEN}x",
    f"Basic {SERVER_TOKEN}",
    "token",
    "token ",
    "",
    *(f"token {secret}" for secret in HUB_TOKENS if secret != SERVER_TOKEN),
]
header_value = st.one_of(
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "127.0.0.1",
            "10.0.0.9",
            "10.0.0.9, 127.0.0.1",
            "::1",
            "::ffff:10.0.0.9",
            "https",
            "http, https",
            "100-continue",
            "application/json",
            "gzip",
            "*",
            SESSION_COOKIE,
            f"{SESSION_COOKIE}; _xsrf=x",
            "http://evil.example",
            "null",
            "x" * 8000,
        ]
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")),
)
HEADER_NAMES = [
    "Content-Type",
    "Content-Encoding",
    "Content-Language",
    "Accept",
    "Accept-Encoding",
    "Accept-Charset",
    "Origin",
    "Referer",
    "Cookie",
    "X-Forwarded-For",
    "X-Real-Ip",
    "X-Forwarded-Proto",
    "X-Scheme",
    "X-Forwarded-Host",
    "Forwarded",
    "X-XSRFToken",
    "Expect",
    "User-Agent",
    "Range",
    "If-None-Match",
    "X-HTTP-Method-Override",
]
header_name = st.one_of(
    st.sampled_from(HEADER_NAMES),
    st.text("abcdefghijklmnopqrstuvwxyzXYZ0123456789-_", min_size=1, max_size=20).filter(
        lambda n: n.lower() not in ("host", "connection", "content-length", "transfer-encoding")
    ),
)
query = st.one_of(
    st.just(""),
    st.sampled_from(
        [
            "audience=fruit-api&scope=fruits%3Aread",
            f"token={SERVER_TOKEN}",
            "_xsrf=x",
            "a=1&a=2",
            "%ff%fe%00",
            "=&&=",
            "scope=" + "x" * 5000,
        ]
    ),
    st.text(chars, max_size=60).map(lambda s: quote(s.encode("utf-8", "surrogatepass"), "=&")),
)


@given(
    method=st.sampled_from(["GET", "POST", "DELETE"]),
    query=query,
    credential=st.one_of(st.just(AUTH[1]), st.sampled_from(CREDENTIALS)),
    headers=st.lists(st.tuples(header_name, header_value), max_size=5),
    body=st.one_of(
        st.none(),
        st.just(VALID),
        json_texts().map(lambda s: s.encode("utf-8", "surrogatepass")),
        non_json,
    ),
    framing=st.sampled_from(["length"] * 8 + ["chunked"] * 4 + ["both", "te:gzip, chunked"]),
)
@example(  # forwarding headers naming its server do not let another server's token mint
    method="POST",
    query="",
    credential="token lab-token",
    headers=[("X-Forwarded-For", "10.0.0.9"), ("X-Real-Ip", "10.0.0.9")],
    body=VALID,
    framing="length",
)
@example(  # tornado refuses malformed framing before reading a large body, then resets
    method="GET",
    query="",
    credential=AUTH[1],
    headers=[],
    body=b'{"audience":"fruit-api","scope":"' + b"\\ud83d\\ude00" * 5000 + b'"}',
    framing="both",
)
@example(  # defect 2: tornado's ETag answered 304 without a body
    method="GET",
    query="",
    credential=AUTH[1],
    headers=[("If-None-Match", "*")],
    body=None,
    framing="length",
)
async def test_methods_headers_and_callers(hub, method, query, credential, headers, body, framing):
    """GET, POST and DELETE with any query string, credentials and headers (forwarding
    headers included: the caller's address is the TCP peer's), with or without a body."""
    headers = [("Authorization", credential), *headers] if credential is not None else headers
    request = Request(method, body, headers, query, framing, chunk=5)
    refusal = caller_outcome(headers)
    if refusal is not None:
        allowed = {refusal}
    elif method == "POST":
        allowed = post_outcomes(body)
    else:
        allowed = {"ok"}
    check(request, await send(hub, request), allowed)
