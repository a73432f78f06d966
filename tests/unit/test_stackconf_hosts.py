"""The stack's origins: Keycloak's host of its own, a host per user server, names taken."""

from __future__ import annotations

import pytest

from stackconf import settings
from stackconf.hosts import check_origins, names_taken, server_url


def test_a_users_server_is_on_a_host_of_its_own() -> None:
    assert (
        server_url("http://localhost:8000", "reader") == "http://reader.localhost:8000/user/reader"
    )
    assert (
        server_url("https://hub.example.org/", "reader", "/research")
        == "https://reader.hub.example.org/research/user/reader"
    )
    assert (
        server_url("http://localhost:8000/", "reader", subdomains=False)
        == "http://localhost:8000/user/reader"
    )


def test_the_name_whose_server_would_be_keycloaks_host_is_taken() -> None:
    assert names_taken("http://localhost:8000", "http://auth.localhost:8000/auth") == {"auth"}
    assert names_taken("https://hub.example.org", "https://AUTH.hub.example.org/auth") == {"auth"}
    # Keycloak elsewhere (a sibling, a deeper name): no user server can get its host.
    assert names_taken("https://hub.example.org", "https://auth.example.org/auth") == set()
    assert names_taken("https://hub.example.org", "https://a.b.hub.example.org/auth") == set()


def test_keycloak_on_the_hubs_host_is_refused_with_the_fix() -> None:
    with pytest.raises(settings.SettingError) as refused:
        check_origins("https://hub.example.org", "https://hub.example.org/auth")
    assert "KEYCLOAK_PUBLIC_URL=https://auth.hub.example.org/auth" in str(refused.value)
    with pytest.raises(settings.SettingError, match=r"auth\.localhost:8000/auth"):
        check_origins("http://localhost:8000", "http://localhost:8000/auth")
    check_origins("http://localhost:8000", "http://auth.localhost:8000/auth")  # the default


def test_the_defaults_give_keycloak_and_the_hub_two_origins() -> None:
    env: dict[str, str] = {}
    check_origins(settings.get("HUB_PUBLIC_URL", env), settings.get("KEYCLOAK_PUBLIC_URL", env))
    s = settings.StackSettings.from_env()
    assert s.user_subdomains is True
    assert s.server_url("reader").startswith("http://reader.localhost:")
