"""The filter as an HTTP proxy: check each request with the policy, forward it to the socket.

One catch-all route. For each request: read the body (at most ``max_body`` bytes, else 413),
ask the policy, and for a request about one object (a container, or in swarm mode a service,
also when its tasks are listed) ask the daemon first whether that object carries the stack's
label (refusing with 403 when not; the daemon's 404 passes through, DockerSpawner relies on
it). Then forward the checked request (the decoded path and query as checked, re-encoded; the
object by its full ID) with httpx to the Unix socket and stream the answer back, status and
headers kept except hop-by-hop ones.

Logs carry method, path, decision and reason, never a body or a query value's secrets (a
create body holds the user server's environment, JUPYTERHUB_API_TOKEN included).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, quote, urlencode

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from docker_api_filter.policy import Decision, Policy

log = logging.getLogger("docker_api_filter")

#: Headers that belong to one connection, never forwarded either way (RFC 9110 7.6.1), and
#: the ones httpx and uvicorn set themselves.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: stop and wait can take as long as the container takes: no read timeout (the client has its
#: own); connecting to the local socket is quick or broken.
UPSTREAM_TIMEOUT = httpx.Timeout(connect=10.0, read=None, write=120.0, pool=120.0)
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


def _headers(raw: list[tuple[bytes, bytes]], drop: frozenset[str]) -> list[tuple[str, str]]:
    """Headers without hop-by-hop ones (and those the Connection header names)."""
    named = {
        token.strip().lower()
        for name, value in raw
        if name.decode("latin-1").lower() == "connection"
        for token in value.decode("latin-1").split(",")
    }
    return [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in raw
        if name.decode("latin-1").lower() not in drop | named
    ]


#: On every refusal of the filter (never on an answer of the daemon it passes through): who
#: answered, for callers and for the attack tests that must tell the two apart.
REFUSED_BY = {"X-Docker-Api-Filter": "refused"}


def refusal(decision: Decision) -> JSONResponse:
    return JSONResponse(
        {"message": decision.message}, status_code=decision.status, headers=REFUSED_BY
    )


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it is longer than ``limit`` bytes."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def refuse(decision: Decision) -> JSONResponse:
    """A refusal, logged with its reason."""
    log.warning("refused (%d): %s", decision.status, decision.reason)
    return refusal(decision)


def upstream_client(
    socket_path: str, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    """The client to the Docker daemon: its Unix socket, or ``transport`` (a fake Docker)."""
    return httpx.AsyncClient(
        transport=transport or httpx.AsyncHTTPTransport(uds=socket_path),
        base_url="http://docker",
        timeout=UPSTREAM_TIMEOUT,
    )


@contextlib.asynccontextmanager
async def close_upstream_at_shutdown(app: Starlette) -> AsyncIterator[None]:
    """The app's lifespan: nothing at startup; the client to the daemon closed at shutdown."""
    yield
    client: httpx.AsyncClient = app.state.client
    await client.aclose()


async def handle(request: Request) -> Response:
    """Every request: its body (at most max_body bytes), the policy's decision, then, when it
    is about one object, that object's owner; forwarded only when all allow it."""
    policy: Policy = request.app.state.policy
    method, path = request.method, request.scope["path"]  # path: percent-decoded
    query = parse_qsl(request.scope["query_string"].decode("latin-1"), keep_blank_values=True)
    body = await read_body(request, policy.settings.max_body)
    if body is None:
        reason = f"request body larger than {policy.settings.max_body} bytes"
        return refuse(Decision(False, f"{method} {path}: {reason}", 413))
    decision = policy.check(method, path, query, body)
    if not decision.allowed:
        return refuse(decision)
    try:
        return await check_object_and_forward(request, decision, body)
    except httpx.TransportError as error:
        return daemon_did_not_answer(request, error)


def daemon_did_not_answer(request: Request, error: httpx.TransportError) -> JSONResponse:
    """502: the Docker socket failed (logged with the cause)."""
    method, path = request.method, request.scope["path"]
    log.error("%s %s: the Docker socket did not answer: %s", method, path, error)
    message = f"docker-api-filter: the Docker daemon did not answer ({type(error).__name__})"
    return JSONResponse({"message": message}, status_code=502)


async def check_object_and_forward(request: Request, decision: Decision, body: bytes) -> Response:
    """Forward an allowed request; one about an object only once the object is the stack's."""
    if decision.kind:
        checked = await check_owner(request, decision)
        if isinstance(checked, Response):
            return checked
        decision = checked
    return await forward(request, decision, body)


async def check_owner(request: Request, decision: Decision) -> Decision | Response:
    """The decision for the object by its full ID; or the answer when the object is not the
    stack's (403) or the daemon has none (its answer, passed through)."""
    policy: Policy = request.app.state.policy
    found = await inspect_object(request, decision)
    if isinstance(found, Response):
        return found
    owner = policy.check_object(decision.kind, decision.ref, found)
    if not owner.allowed:
        reason = f"{request.method} {request.scope['path']}: {owner.reason}"
        return refuse(Decision(False, reason, owner.status))
    return decision.for_object(owner.ref)


async def inspect_object(request: Request, decision: Decision) -> dict | Response:
    """The inspect result of the object a decision is about, or the daemon's answer to
    pass through when it has none (404: no such object, DockerSpawner's answer)."""
    policy: Policy = request.app.state.policy
    client: httpx.AsyncClient = request.app.state.client
    inspect = await client.get(quote(policy.inspect_path(decision.kind, decision.ref)))
    if inspect.status_code != 200:
        log.info(
            "%s %s: inspect of %s %s answered %d",
            request.method,
            request.scope["path"],
            decision.kind,
            decision.ref,
            inspect.status_code,
        )
        return Response(
            inspect.content,
            status_code=inspect.status_code,
            headers=dict(_headers(inspect.headers.raw, HOP_BY_HOP)),
        )
    try:
        found = inspect.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


async def forward(request: Request, decision: Decision, body: bytes) -> Response:
    """Send the checked request to the daemon; stream its answer back."""
    client: httpx.AsyncClient = request.app.state.client
    url = quote(decision.path, safe="/:@")
    if decision.query:
        url += "?" + urlencode(decision.query)
    upstream = client.build_request(
        request.method,
        url,
        headers=_headers(request.headers.raw, HOP_BY_HOP | {"host", "content-length"}),
        content=body,
    )
    response = await client.send(upstream, stream=True)
    log.info(
        "forwarded %s %s (%s): %d",
        request.method,
        request.scope["path"],
        decision.reason,
        response.status_code,
    )
    return StreamingResponse(
        response.aiter_raw(),
        status_code=response.status_code,
        headers=dict(_headers(response.headers.raw, HOP_BY_HOP)),
        background=BackgroundTask(response.aclose),
    )


def create_app(
    policy: Policy,
    socket_path: str = "/var/run/docker.sock",
    transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """The proxy; ``transport`` replaces the Unix socket (tests pass a fake Docker)."""
    client = upstream_client(socket_path, transport)
    app = Starlette(
        routes=[Route("/{path:path}", handle, methods=METHODS)],
        lifespan=close_upstream_at_shutdown,
    )
    app.state.policy = policy
    app.state.client = client
    return app
