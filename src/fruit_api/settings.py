"""Settings for the fruit API, read from ``FRUIT_API_*`` environment variables."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass


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


@dataclass(frozen=True)
class Settings:
    """Fruit API configuration: each field is read from ``FRUIT_API_<FIELD>`` (``from_env``)
    and defaults to the value written here, its one default.

    issuer: the realm URL, exactly as in the tokens' ``iss`` claim; set it in production.
    jwks_url: empty: ``<issuer>/protocol/openid-connect/certs``; may be an internal URL while
        the issuer is public.
    audience: required in ``aud``.
    database_url: a SQLAlchemy URL.
    root_path: the prefix the proxy routes to us; set but empty: served at ``/``.
    algorithms: an allowlist (comma-separated in the environment); asymmetric only.
    host / port: where it listens.
    leeway_seconds: clock skew allowed.
    authorized_parties: an allowlist (comma-separated) of the clients whose tokens are
        accepted (the ``azp`` claim: the clients that request its tokens, its ``requester`` in
        idp/apis.yml, and the job-grants client when a scope's ``jobs:`` policy allows job
        grants): the hub broker's token-exchange client, the hubtokens command outside a hub
        and the hub's job grants (docs/jobs.md); set but empty: any client.
    """

    issuer: str = "http://auth.localhost:8000/auth/realms/demo"
    jwks_url: str = ""
    audience: str = "fruit-api"
    database_url: str = "sqlite:///fruits.db"
    root_path: str = "/fruit-api"
    algorithms: tuple[str, ...] = ("RS256",)
    host: str = "127.0.0.1"
    port: int = 8090
    leeway_seconds: int = 5
    #: The clients that request this API's tokens (its requester in idp/apis.yml, and the
    #: job-grants client, apiregistry.JOBS_CLIENT, since some of its scopes allow jobs).
    authorized_parties: tuple[str, ...] = (
        "jupyterhub-exchange",
        "hubtokens-laptop",
        "jupyterhub-jobs",
    )

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

        fields = {f.name: f.default for f in dataclasses.fields(cls)}
        # Set but empty means "served at /" and "any client": read as given, not defaulted.
        root_path = env.get("FRUIT_API_ROOT_PATH", fields["root_path"]).strip()
        parties = env.get("FRUIT_API_AUTHORIZED_PARTIES", ",".join(fields["authorized_parties"]))
        return cls(
            issuer=get("ISSUER", fields["issuer"]),
            jwks_url=get("JWKS_URL", fields["jwks_url"]),
            audience=get("AUDIENCE", fields["audience"]),
            database_url=get("DATABASE_URL", fields["database_url"]),
            root_path=root_path,
            algorithms=get_list(get("ALGORITHMS", ",".join(fields["algorithms"]))),
            host=get("HOST", fields["host"]),
            port=get_int("PORT", fields["port"]),
            leeway_seconds=get_int("LEEWAY_SECONDS", fields["leeway_seconds"]),
            authorized_parties=get_list(parties),
        )
