"""The Docker API filter: the only holder of the Docker socket in the compose stack.

The hub (DockerSpawner, through docker-py) reaches the Docker API over TCP on a private network
(``DOCKER_HOST=tcp://docker-api:2375``); this HTTP proxy forwards to the socket only the
requests DockerSpawner makes for this stack, and checks their bodies, not only their paths: a
container is created only from the single-user image, with the stack's label, on the users
network, with the per-user volumes (and the extra CA file read-only), without privileges,
capabilities, devices, host namespaces or host paths. Containers are started, stopped,
inspected and removed only when they carry the stack's label. With HUB_SPAWNER=swarm the same
holds for SwarmSpawner's services instead (no container endpoint at all), placed by
SWARM_USER_CONSTRAINTS, their tasks listed only for a service of the stack. Everything else is
refused with 403 and a one-line JSON ``message`` that docker-py shows in the hub's log.

- ``policy``: pure; decides on one request (and on a container's or service's inspect result):
  the facade over ``routing`` (endpoints, path, version, query and filters), ``containers``
  (a container's create body), ``services`` (a Swarm service's spec) and what they share
  (``common``, ``refusals``, ``decision``, ``settings``).
- ``proxy``: the Starlette app; reads the body, asks the policy, forwards with httpx to the
  Unix socket, streams the answer back.
- ``__main__``: reads the settings (stackconf) and runs uvicorn (``docker-api-filter``).
"""
