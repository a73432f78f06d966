"""The load one chaos user puts on the stack, run inside the user's own server container
(``docker exec -i <container> python -c <this file> USER SEED TIMEOUT``), as a notebook would: the
broker only answers a server's own token from that server's address.

Loop until stdin closes (the test closes it to stop the load), one iteration every 1-3 s:

- every ``FULL_EVERY``-th iteration is *full*: first ``DELETE`` the broker's cached tokens of
  this server, so that the mint reaches Keycloak (refresh of the login, then token exchange);
- ``mint``: a token for ``fruit-api`` with ``fruits:read fruits:write fruits:exotic`` through
  ``hubtokens.TokenClient`` (the notebook library; its own cache cleared, its retries off, so
  that every failure is seen as the caller sees it without retrying);
- ``read``: ``GET /fruits/exotic`` with the newest token that has not expired (a failed mint
  does not stop reads and writes with a token still valid: a notebook holds one too);
- ``write``: every ``WRITE_EVERY``-th iteration, ``POST /fruits/usual`` of a name unique to
  this user and iteration.

Each call prints one JSON line on stdout: ``t`` (start, epoch seconds), ``op``, ``ms``,
``status`` (HTTP status, ``null`` when no answer came), ``code`` (the API's or broker's error
code, ``unreachable``/``timeout`` when no answer came; ``ok`` for success), ``full`` (part of
a full iteration), ``name`` (writes), ``retry_after`` (a refused mint: the broker's
Retry-After, seconds). Runs with the standard library, httpx and hubtokens of
the single-user image only.
"""

import json
import os
import random
import sys
import threading
import time

import httpx

from hubtokens import HubTokensError
from hubtokens.client import TokenClient

AUDIENCE = "fruit-api"
SCOPE = "fruits:read fruits:write fruits:exotic"
FULL_EVERY = 4
WRITE_EVERY = 2
user, seed = sys.argv[1], int(sys.argv[2])
#: Every call has this bound (seconds): a caller never waits longer for an answer.
TIMEOUT = float(sys.argv[3])
rng = random.Random(seed)
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()

api = os.environ["FRUIT_API_URL"].rstrip("/")
broker = os.environ["JUPYTERHUB_API_URL"].rstrip("/") + "/token-exchange"
hub_headers = {"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]}
http = httpx.Client(timeout=TIMEOUT)
client = TokenClient(timeout=TIMEOUT, retry_seconds=0)
token = None  # (value, expires_at epoch)


def emit(record):
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def error_code(response):
    try:
        body = response.json()
    except ValueError:
        return f"http_{response.status_code}"
    if isinstance(body, dict):
        code = body.get("error") or body.get("code")
        if isinstance(code, str):
            return code
    return f"http_{response.status_code}"


def timed(op, full, method, url, name=None, **kwargs):
    """One HTTP call, recorded."""
    started = time.time()
    status, code = None, "ok"
    try:
        response = http.request(method, url, **kwargs)
        status = response.status_code
        if status >= 300:
            code = error_code(response)
    except httpx.TimeoutException:
        code = "timeout"
    except httpx.HTTPError:
        code = "unreachable"
    ms = (time.time() - started) * 1000
    record = {"t": started, "op": op, "ms": ms, "status": status, "code": code, "full": full}
    emit({**record, "name": name} if name else record)


def mint(full):
    global token
    started = time.time()
    status, code, retry_after = 200, "ok", None
    client.clear()
    try:
        minted = client.get(AUDIENCE, SCOPE)
        token = (minted.value, minted.expires_at.timestamp())
    except HubTokensError as e:
        status, code = e.status, e.code
        if code == "error" and e.status:
            code = f"http_{e.status}"
        retry_after = getattr(e, "retry_after", None)
    ms = (time.time() - started) * 1000
    emit(
        {
            "t": started,
            "op": "mint",
            "ms": ms,
            "status": status,
            "code": code,
            "full": full,
            "retry_after": retry_after,
        }
    )


n = 0
while not stop.is_set():
    n += 1
    full = n % FULL_EVERY == 0
    if full:
        timed("forget", full, "DELETE", broker, headers=hub_headers)
    mint(full)
    if token is not None and token[1] > time.time() + 5:
        bearer = {"Authorization": "Bearer " + token[0]}
        timed("read", full, "GET", f"{api}/fruits/exotic", headers=bearer)
        if n % WRITE_EVERY == 0:
            name = f"chaos-{user}-{seed}-{n}"
            body = {"name": name}
            timed("write", full, "POST", f"{api}/fruits/usual", name, json=body, headers=bearer)
    stop.wait(rng.uniform(1.0, 3.0))
