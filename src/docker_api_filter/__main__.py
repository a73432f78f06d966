"""Run the Docker API filter: ``docker-api-filter`` (or ``python -m docker_api_filter``).

Settings (stackconf, docs/configuration.md): DOCKER_API_FILTER_LISTEN (host:port),
DOCKER_SOCKET, DOCKER_API_FILTER_MAX_BODY, and what user servers are made of, shared with the
hub: HUB_SPAWNER (docker: containers, swarm: Swarm services), SINGLEUSER_IMAGE, USERS_NETWORK,
EXTRA_CA_BUNDLE_HOST_PATH, DOCKER_API_STACK_LABEL, USER_VOLUME_NAME, USER_CONTAINER_NAME and
(swarm) SWARM_USER_CONSTRAINTS.
"""

from __future__ import annotations

import logging

import uvicorn

from docker_api_filter.policy import FilterSettings, Policy
from docker_api_filter.proxy import create_app
from stackconf import settings as conf

log = logging.getLogger("docker_api_filter")


def listen_address(value: str) -> tuple[str, int]:
    """("0.0.0.0", 2375) from "0.0.0.0:2375" (an IPv6 host in brackets: "[::]:2375")."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise conf.SettingError(f"DOCKER_API_FILTER_LISTEN must be host:port, got {value!r}")
    return host.strip("[]"), int(port)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # our own line per request says it all
    settings = FilterSettings.from_env()
    host, port = listen_address(conf.get("DOCKER_API_FILTER_LISTEN"))
    socket_path = conf.get("DOCKER_SOCKET")
    log.info(
        "forwarding to %s for %s of %s on %s labelled %s, volumes %s%s",
        socket_path,
        "services" if settings.spawner == "swarm" else "containers",
        settings.image,
        settings.users_network,
        settings.label,
        settings.user_volume_name,
        f", placed {','.join(settings.swarm_user_constraints)}"
        if settings.spawner == "swarm"
        else "",
    )
    # Our own log line per request (method, path, decision); uvicorn's access log would repeat
    # it. Long keep-alive: docker-py reuses its connections between spawns.
    uvicorn.run(
        create_app(Policy(settings), socket_path=socket_path),
        host=host,
        port=port,
        access_log=False,
        timeout_keep_alive=75,
        server_header=False,
        date_header=False,
    )


if __name__ == "__main__":
    main()
