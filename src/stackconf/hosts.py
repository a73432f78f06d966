"""Host names of the stack's origins: the hub, Keycloak, and (with HUB_USER_SUBDOMAINS) one per
user server, ``<name>.<the hub's host>``, as JupyterHub's ``subdomain_host`` makes them.

Each origin is a separate security context in browsers: script a user runs in their server
cannot read the hub's pages, Keycloak's login page or another user's server (docs/security.md).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from stackconf.settings import SettingError


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def server_url(public_url: str, user: str, base: str = "", subdomains: bool = True) -> str:
    """Where ``user``'s default server answers: ``http://reader.localhost:8000/user/reader``
    with subdomains, else under the hub's own origin (for names JupyterHub does not escape:
    lower-case letters, digits and '-', as Keycloak's demo users have)."""
    if not subdomains:
        return f"{public_url.rstrip('/')}{base}/user/{user}"
    parts = urlsplit(public_url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}.{parts.hostname}{port}{base}/user/{user}"


def names_taken(hub_url: str, *other_urls: str) -> set[str]:
    """User names whose server host would be the host of one of ``other_urls`` (Keycloak at
    auth.localhost takes the name "auth" when users' servers are <name>.localhost): such a
    user's server would share that origin, so the hub refuses those names."""
    hub = _host(hub_url)
    taken = set()
    for url in other_urls:
        host = _host(url)
        label, dot, rest = host.partition(".")
        if dot and rest == hub:
            taken.add(label)
    return taken


def check_origins(hub_url: str, keycloak_url: str) -> None:
    """Keycloak must have a host name of its own (its origin is not the hub's)."""
    hub = urlsplit(hub_url)
    if _host(hub_url) == _host(keycloak_url):
        port = f":{hub.port}" if hub.port else ""
        raise SettingError(
            f"KEYCLOAK_PUBLIC_URL ({keycloak_url}) has the hub's host name ({_host(hub_url)}): "
            f"give Keycloak a host of its own, e.g. "
            f"KEYCLOAK_PUBLIC_URL={hub.scheme}://auth.{_host(hub_url)}{port}/auth"
        )
