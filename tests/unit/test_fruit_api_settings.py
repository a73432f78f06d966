"""Unit tests for fruit API settings from environment variables."""

from __future__ import annotations

import pytest

from fruit_api import Settings


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.issuer == "http://auth.localhost:8000/auth/realms/demo"
    assert s.jwks_url == "http://auth.localhost:8000/auth/realms/demo/protocol/openid-connect/certs"
    assert s.audience == "fruit-api"
    assert s.database_url == "sqlite:///fruits.db"
    assert s.root_path == "/fruit-api"
    assert s.algorithms == ("RS256",)
    assert (s.host, s.port, s.leeway_seconds) == ("127.0.0.1", 8090, 5)
    assert s.authorized_parties == ("jupyterhub-exchange", "hubtokens-laptop", "jupyterhub-jobs")
    assert Settings().authorized_parties == s.authorized_parties


def test_the_default_parties_are_the_clients_idp_apis_yml_gives_the_fruit_api_scopes() -> None:
    """The clients that request fruit-api tokens: its requesters, and the job-grants client
    because some of its scopes allow jobs (idp/apis.yml owns both facts)."""
    from apiregistry import JOBS_CLIENT, load_registry
    from stackconf.settings import REPO

    api = load_registry(REPO / "idp" / "apis.yml")["fruit-api"]
    expected = api.requesters + ((JOBS_CLIENT,) if api.job_scopes else ())
    assert Settings().authorized_parties == expected


def test_env_overrides() -> None:
    s = Settings.from_env(
        {
            "FRUIT_API_ISSUER": "https://id.example.org/realms/prod/",
            "FRUIT_API_JWKS_URL": "http://keycloak:8080/realms/prod/protocol/openid-connect/certs",
            "FRUIT_API_AUDIENCE": "fruits",
            "FRUIT_API_DATABASE_URL": "sqlite:////data/fruits.db",
            "FRUIT_API_ROOT_PATH": "",
            "FRUIT_API_ALGORITHMS": "RS256, PS256",
            "FRUIT_API_HOST": "10.0.0.5",
            "FRUIT_API_PORT": "9000",
            "FRUIT_API_LEEWAY_SECONDS": "0",
            "FRUIT_API_AUTHORIZED_PARTIES": " jupyterhub, research-hub ,",
        }
    )
    assert s.issuer == "https://id.example.org/realms/prod"
    assert s.jwks_url.startswith("http://keycloak:8080/")
    assert s.audience == "fruits"
    assert s.database_url == "sqlite:////data/fruits.db"
    assert s.root_path == ""
    assert s.algorithms == ("RS256", "PS256")
    assert (s.host, s.port, s.leeway_seconds) == ("10.0.0.5", 9000, 0)
    assert s.authorized_parties == ("jupyterhub", "research-hub")


@pytest.mark.parametrize("value", ["", "  ", " , "])
def test_explicitly_empty_authorized_parties_means_any_client(value: str) -> None:
    assert Settings.from_env({"FRUIT_API_AUTHORIZED_PARTIES": value}).authorized_parties == ()


@pytest.mark.parametrize("algs", ["none", "RS256,HS256", "hs512", " , "])
def test_unsafe_algorithms_are_refused(algs: str) -> None:
    with pytest.raises(ValueError, match="FRUIT_API_ALGORITHMS"):
        Settings.from_env({"FRUIT_API_ALGORITHMS": algs})


def test_bad_port_names_the_variable() -> None:
    with pytest.raises(ValueError, match="FRUIT_API_PORT must be an integer"):
        Settings.from_env({"FRUIT_API_PORT": "http"})


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.audience = "other"  # type: ignore[misc]
