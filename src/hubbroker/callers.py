"""Who may call the broker: a notebook server's own JupyterHub token, from that server.

A user can create JupyterHub tokens with the broker's scope (a server's token can only hold
scopes its owner holds), and such a token, once leaked, would mint from anywhere for as long
as its owner has a hub session. So the broker answers only the token the hub gave one of the
user's running servers ($JUPYTERHUB_API_TOKEN inside it), and only when the request comes from
that server's own address: a server's token copied out of the server mints nothing elsewhere.

Pure functions, so that the rules are unit tested without JupyterHub.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from typing import Any

from hubbroker.errors import BrokerError

#: What a server bound to "all interfaces" or "localhost" is called from on its own host.
LOOPBACK = frozenset({"127.0.0.1", "::1"})
UNSPECIFIED = frozenset({"", "0.0.0.0", "::", "localhost"})  # noqa: S104 (names, not binds)

ONLY_SERVERS_MINT = (
    "only a notebook server's own token mints ($JUPYTERHUB_API_TOKEN inside the server): a "
    "token created on the hub's token page or through its API cannot, so that a leaked one "
    "mints nothing. Call from your notebook server."
)


def calling_server(
    token_matches: Callable[[str], bool],
    spawners: Mapping[str, Any],
    presented: str | None = None,
    secret_matches: Callable[[str, str], bool] | None = None,
) -> tuple[str, Any]:
    """``(server name, spawner)`` of the running server whose API token is the caller's;
    ``BrokerError`` forbidden when the token belongs to no running server.

    JupyterHub holds a server's token in memory only (``spawner.api_token``): after a hub
    restart the servers it finds running have none. Such a server is recognised by its OAuth
    client instead, whose secret JupyterHub set to the same token at spawn and keeps, hashed,
    in its database: ``secret_matches(hashed, presented)`` (JupyterHub's ``compare_token``)
    with ``presented``, the caller's token. The spawner then holds the token again, as before
    the restart (so the hash is computed once per server)."""
    for name, spawner in spawners.items():
        if not spawner.active:
            continue
        if spawner.api_token:
            if token_matches(spawner.api_token):
                return name or "default", spawner
        elif presented and secret_matches and _is_oauth_secret(spawner, presented, secret_matches):
            spawner.api_token = presented
            return name or "default", spawner
    raise BrokerError("forbidden", ONLY_SERVERS_MINT)


def _is_oauth_secret(
    spawner: Any, presented: str, secret_matches: Callable[[str, str], bool]
) -> bool:
    orm_spawner = getattr(spawner, "orm_spawner", None)
    client = getattr(orm_spawner, "oauth_client", None)
    hashed = getattr(client, "secret", "") or ""
    return bool(hashed) and secret_matches(hashed, presented)


def addresses_of(host: str) -> frozenset[str]:
    """The IP addresses a server at ``host`` (its ``server.ip``) calls from."""
    if host in UNSPECIFIED:
        return LOOPBACK
    try:
        return frozenset({str(ipaddress.ip_address(host))})
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return frozenset()
    return frozenset(str(ipaddress.ip_address(info[4][0])) for info in infos)


def check_peer(peer: str, server_name: str, server_host: str | None) -> None:
    """Refuse (forbidden) unless ``peer``, the TCP peer of the request, is the server's own
    address. ``peer`` must be the connection's address, never X-Forwarded-For (which any
    caller can write)."""
    mapped = _unmapped(peer)
    allowed = addresses_of(server_host) if server_host is not None else frozenset()
    if mapped not in allowed:
        raise BrokerError(
            "forbidden",
            f"this is the token of server {server_name!r}, but the request does not come from "
            "that server: a server's token mints only from inside its server.",
        )


def _unmapped(ip: str) -> str:
    """An IPv4-mapped IPv6 address (::ffff:10.0.0.5) as the IPv4 address it carries."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)
