"""swarm_runtime.cli's pure parts: when a deployed stack has converged (`docker service ls`'s
replicas), and which images are pushed to the stack's registry."""

from __future__ import annotations

import pytest

from swarm_runtime.cli import converged, images, swarm_addresses


@pytest.mark.parametrize(
    ("replicas", "expected", "ok"),
    [
        ({"s_hub": "1/1", "s_keycloak": "2/2"}, 2, True),
        ({"s_keycloak": "2/2 (max 1 per node)"}, 1, True),
        ({"s_hub": "1/1", "s_keycloak": "1/2"}, 2, False),  # a replica still starting
        ({"s_hub": "1/1", "s_keycloak": "2/1"}, 2, False),  # an old task still running
        ({"s_hub": "1/1", "s_scaled": "0/0"}, 2, False),  # no task at all is not running
        ({"s_hub": "1/1"}, 2, False),  # a service not there yet
        ({"s_hub": "1/1", "s_keycloak": "2/2", "s_old": "1/1"}, 2, False),  # one too many
        ({"s_hub": "10/10"}, 1, True),
        ({"s_hub": "1/10"}, 1, False),
    ],
)
def test_converged_when_exactly_the_expected_services_all_run(
    replicas: dict[str, str], expected: int, ok: bool
) -> None:
    assert converged(replicas, expected) is ok


def test_images_are_the_services_and_the_user_servers_each_once_sorted() -> None:
    config = {
        "services": {
            "traefik": {"image": "traefik:v3.7"},
            "hub": {
                "image": "jupyterhub-keycloak/hub:dev",
                "environment": {"SINGLEUSER_IMAGE": "jupyterhub-keycloak/singleuser:dev"},
            },
            "docker-api": {
                "image": "jupyterhub-keycloak/hub:dev",
                "environment": {
                    "SINGLEUSER_IMAGE": "jupyterhub-keycloak/singleuser:dev",
                    "OTHER_IMAGE": "not/pushed:1",
                },
            },
            "idp": {"image": "jupyterhub-keycloak/hub:dev", "environment": None},
            "postgres": {"image": "postgres:15-bookworm", "environment": {"SINGLEUSER_IMAGE": ""}},
            "built-only": {"build": {"context": "."}},
        }
    }
    assert images(config) == [
        "jupyterhub-keycloak/hub:dev",
        "jupyterhub-keycloak/singleuser:dev",
        "postgres:15-bookworm",
        "traefik:v3.7",
    ]


def test_a_user_servers_image_no_service_runs_is_pushed_too() -> None:
    config = {"services": {"hub": {"image": "h:1", "environment": {"SINGLEUSER_IMAGE": "a:1"}}}}
    assert images(config) == ["a:1", "h:1"]


def test_the_nodes_swarm_addresses_each_once_sorted_a_managers_from_its_manager_status() -> None:
    nodes = [
        {"Status": {"Addr": "0.0.0.0"}, "ManagerStatus": {"Addr": "10.231.0.1:2377"}},  # noqa: S104
        {"Status": {"Addr": "10.231.0.3"}, "ManagerStatus": None},
        {"Status": {"Addr": "10.231.0.2"}},
        {"Status": {"Addr": "10.231.0.4"}, "ManagerStatus": {"Addr": "10.231.0.4:2377"}},
        {"Status": {}},
    ]
    assert swarm_addresses(nodes) == ["10.231.0.1", "10.231.0.2", "10.231.0.3", "10.231.0.4"]
