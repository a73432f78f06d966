"""Settings for the fruit API, read from ``FRUIT_API_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_ISSUER = "http://auth.localhost:8000/auth/realms/demo"


def _check_algorithms(algorithms: tuple[str, ...]) -> None:
    """Refuse an empty allowlist, ``none`` and symmetric (HS*) algorithms."""
    if not algorithms:
        raise ValueError("FRUIT_API_ALGORITHMS is empty: use e.g. RS256")
    for alg in algorithms:
        if alg.lower() == "none" or alg.upper().startswith("HS"):
            raise ValueError(
                f"FRUIT_API_ALGORITHMS must not contain {alg}: only asymmetric algorithms "
                "(e.g. RS256) can be verified with the issuer's public keys"
            )


#: The clients that request this API's tokens (its requester in idp/apis.yml).
DEFAULT_AUTHORIZED_PARTIES = ("jupyterhub-exchange", "hubtokens-laptop")


@dataclass(frozen=True)
class Settings:
    """Fruit API configuration. Each field maps to an env var (see ``from_env``).

    issuer: ``FRUIT_API_ISSUER``; the realm URL, exactly as in the tokens' ``iss`` claim.
        Must be set in production. Default ``http://auth.localhost:8000/auth/realms/demo``.
    jwks_url: ``FRUIT_API_JWKS_URL``; default ``<issuer>/protocol/openid-connect/certs``.
        May be an internal URL while the issuer is public.
    audience: ``FRUIT_API_AUDIENCE``; required in ``aud``. Default ``fruit-api``.
    database_url: ``FRUIT_API_DATABASE_URL``; SQLAlchemy URL. Default ``sqlite:///fruits.db``.
    root_path: ``FRUIT_API_ROOT_PATH``; the prefix the proxy routes to us. Default ``/fruit-api``.
    algorithms: ``FRUIT_API_ALGORITHMS``; comma-separated allowlist. Default ``RS256``.
    host / port: ``FRUIT_API_HOST`` / ``FRUIT_API_PORT``. Default ``127.0.0.1`` / ``8090``.
    leeway_seconds: ``FRUIT_API_LEEWAY_SECONDS``; clock skew allowed. Default ``5``.
    authorized_parties: ``FRUIT_API_AUTHORIZED_PARTIES``; comma-separated allowlist of the
        clients whose tokens are accepted (the ``azp`` claim: the clients that request its
        tokens, its ``requester`` in idp/apis.yml). Default ``jupyterhub-exchange`` (the hub
        broker's token-exchange client) and ``hubtokens-laptop`` (the hubtokens command outside
        a hub); set but empty: any client.
    """

    issuer: str = DEFAULT_ISSUER
    jwks_url: str = ""
    audience: str = "fruit-api"
    database_url: str = "sqlite:///fruits.db"
    root_path: str = "/fruit-api"
    algorithms: tuple[str, ...] = ("RS256",)
    host: str = "127.0.0.1"
    port: int = 8090
    leeway_seconds: int = 5
    authorized_parties: tuple[str, ...] = DEFAULT_AUTHORIZED_PARTIES

    def __post_init__(self) -> None:
        object.__setattr__(self, "issuer", self.issuer.rstrip("/"))
        if not self.jwks_url:
            object.__setattr__(self, "jwks_url", f"{self.issuer}/protocol/openid-connect/certs")
        object.__setattr__(self, "root_path", self.root_path.rstrip("/"))
        _check_algorithms(self.algorithms)
        if self.leeway_seconds < 0:
            raise ValueError("FRUIT_API_LEEWAY_SECONDS must be >= 0")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default ``os.environ``); unset vars keep defaults."""
        env = os.environ if env is None else env

        def get(name: str, default: str) -> str:
            return env.get(f"FRUIT_API_{name}", "").strip() or default

        def get_int(name: str, default: int) -> int:
            raw = get(name, str(default))
            try:
                return int(raw)
            except ValueError:
                raise ValueError(f"FRUIT_API_{name} must be an integer, got {raw!r}") from None

        def get_list(raw: str) -> tuple[str, ...]:
            return tuple(item.strip() for item in raw.split(",") if item.strip())

        algorithms = get_list(get("ALGORITHMS", "RS256"))
        return cls(
            issuer=get("ISSUER", DEFAULT_ISSUER),
            jwks_url=get("JWKS_URL", ""),
            audience=get("AUDIENCE", "fruit-api"),
            database_url=get("DATABASE_URL", "sqlite:///fruits.db"),
            # An explicitly empty FRUIT_API_ROOT_PATH means "served at /".
            root_path=env.get("FRUIT_API_ROOT_PATH", "/fruit-api").strip(),
            algorithms=algorithms,
            host=get("HOST", "127.0.0.1"),
            port=get_int("PORT", 8090),
            leeway_seconds=get_int("LEEWAY_SECONDS", 5),
            # An explicitly empty FRUIT_API_AUTHORIZED_PARTIES means "any client".
            authorized_parties=get_list(
                env.get("FRUIT_API_AUTHORIZED_PARTIES", ",".join(DEFAULT_AUTHORIZED_PARTIES))
            ),
        )
