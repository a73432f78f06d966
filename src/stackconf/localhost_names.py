"""Names under ``.localhost`` resolve to the loopback, in this process too.

The stack serves Keycloak at ``auth.localhost`` and each user's server at
``<name>.localhost`` (stackconf.hosts). RFC 6761 (6.3) reserves every name under ``localhost``
for the loopback: browsers (Chromium, Firefox) and curl resolve them so themselves, and so does
systemd-resolved, but glibc with ``hosts: files dns`` (Debian's default, this machine) does
not. ``install()`` makes Python's resolver in this process follow the RFC for those names and
leaves every other name to the system: the native runtime (which waits for Keycloak at its
public URL) and the tests call it.
"""

from __future__ import annotations

import socket

_system_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if isinstance(name, str) and name.lower().rstrip(".").endswith(".localhost"):
        host = "localhost"
    return _system_getaddrinfo(host, *args, **kwargs)


def install() -> None:
    socket.getaddrinfo = _getaddrinfo
