"""Which Docker API requests the filter forwards: pure functions of the request, no I/O.

``Policy(settings).check(method, path, query, body)`` decides on one request. For a request
about one container or service it also names that object (``Decision.kind``, ``Decision.ref``):
the proxy inspects it (``Policy.inspect_path``) and hands the result to ``Policy.check_object``
(only objects carrying the stack's label may be touched), then forwards the request to the
object's full ID, so that what was checked is what is acted on.

What is allowed is what the hub's spawner sends through docker-py 7 for this stack's hub
configuration (hub/jupyterhub_config.py), and nothing else. HUB_SPAWNER names the spawner, and
each mode allows its own endpoints only.

``HUB_SPAWNER=docker`` (DockerSpawner 14: a container per user server):

- ``GET /version`` (docker-py's version="auto" negotiation), ``GET|HEAD /_ping``;
- ``GET /images/{image}/json`` and ``POST /images/create`` (pull_policy "ifnotpresent") for
  the single-user image only;
- ``POST /containers/create?name=...`` with a body that passes ``ContainerRules`` (the image,
  the stack's label, the users network, the per-user volumes and the extra CA file, no
  privileges, capabilities, devices, host namespaces, host paths...): every key of the
  container config and of its HostConfig is on an allowlist with a rule;
- for containers carrying the stack's label: inspect, start (without a body), stop, restart,
  kill, wait, remove;
- ``GET /containers/json``, forwarded with the stack's label added to its filters.

``HUB_SPAWNER=swarm`` (dockerspawner's SwarmSpawner: a Swarm service per user server; no
container, volume, network or image-pull endpoint at all):

- ``GET /version``, ``GET|HEAD /_ping``, and ``GET /images/{image}/json`` for the single-user
  image only (DockerSpawner's get_command reads the image's Cmd when c.Spawner.cmd is unset);
- ``POST /services/create`` (API 1.41 or later, or unversioned: for older versions the daemon
  silently drops CapabilityDrop and Limits.Pids) with a spec that passes ``ServiceRules``:
  the name from USER_CONTAINER_NAME, exactly the stack's label, one replica, the single-user
  image with its own entrypoint (no Command, no healthcheck), started as root with
  CapabilityDrop ALL and exactly the capabilities of the server's own firewall
  (users_firewall.server: the entrypoint sets the rules and becomes uid 1000 with none left),
  an environment with the firewall's settings as the filter has them and none of the dynamic
  loader's variables, no privileges, secrets, configs, sysctls or host entries, as mounts only
  the named user's own volume, the runtime directory's tmpfs and the extra CA file read-only,
  the users network only (no aliases), no published port, resource limits (memory, CPU and
  pids) and exactly the placement constraints of SWARM_USER_CONSTRAINTS: every key of the
  spec, its TaskTemplate and its ContainerSpec is on an allowlist with a rule;
- for services carrying the stack's label: inspect, remove;
- ``GET /tasks`` with filters naming one user service (USER_CONTAINER_NAME) and optionally a
  desired-state: the proxy checks that the service carries the stack's label and forwards the
  filter with the service's ID (a task carries its service's spec, environment included).

Docker's Go JSON decoder matches keys case-insensitively and lets a later duplicate win, so a
body with a duplicate key, or a key not spelled exactly as on the allowlist, is refused.

This module is the facade (``Policy``); the parts are:

- ``settings``: ``FilterSettings``, what the policy checks against (stackconf);
- ``decision``: ``Decision``, the answer for one request, and ``KINDS``, the objects a request
  may be about (containers, services);
- ``refusals``: ``Refused``, the small field rules (``must_be_empty``, ``one_of``, ``fields``...)
  and ``parse_body``;
- ``routing``: ``Router``, the endpoints of each mode, the path, API version, query and filters;
- ``common``: the rules a user server's container and service share (name, image, network,
  mounts, its own user's volume);
- ``containers``: ``ContainerRules``, a container's create body (HUB_SPAWNER=docker);
- ``services``: ``ServiceRules``, a user service's spec (HUB_SPAWNER=swarm).

The rules' allowlists are tables, module-level data next to the rules they list: key -> rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docker_api_filter.containers import ContainerRules
from docker_api_filter.decision import KINDS, Decision, ObjectKind
from docker_api_filter.refusals import Refused, parse_body
from docker_api_filter.routing import Query, Router
from docker_api_filter.services import ServiceRules
from docker_api_filter.settings import FilterSettings, normalize_constraint, template_pattern

__all__ = [
    "KINDS",
    "Decision",
    "FilterSettings",
    "ObjectKind",
    "Policy",
    "Query",
    "Refused",
    "normalize_constraint",
    "parse_body",
    "template_pattern",
]


class Policy:
    """Decides on one request (``check``) and on the object it is about (``check_object``)."""

    def __init__(self, settings: FilterSettings) -> None:
        self.settings = settings
        self.containers = ContainerRules(settings)
        self.services = ServiceRules(settings)
        self.router = Router(settings, self.containers, self.services)

    def check(self, method: str, path: str, query: Query, body: bytes = b"") -> Decision:
        """Decide on one request: ``path`` decoded, ``query`` decoded pairs, ``body`` raw."""
        method = method.upper()
        try:
            return self.router.route(method, path, list(query), body)
        except Refused as refused:
            return Decision(False, f"{method} {path}: {refused.reason}", refused.status)

    @staticmethod
    def inspect_path(kind: str, ref: str) -> str:
        """Where the proxy inspects the object a decision is about (unversioned, decoded)."""
        return KINDS[kind].inspect.format(ref)

    def check_object(self, kind: str, ref: str, inspect: Mapping[str, Any]) -> Decision:
        """Whether an object (its inspect result) belongs to this stack: it has the label. The
        allowing decision has the object's full ID as ``ref``."""
        spec = KINDS[kind]
        key, value = self.settings.label_key, self.settings.label_value
        labels: Any = inspect
        for step in spec.labels:
            labels = labels.get(step) if isinstance(labels, Mapping) else None
        object_id = inspect.get(spec.id_key) if isinstance(inspect, Mapping) else None
        if not isinstance(labels, Mapping) or labels.get(key) != value:
            return Decision(
                False,
                f"{kind} {ref}: does not carry the stack label {key}={value} "
                f"(only this stack's user {kind}s may be touched)",
                403,
            )
        if not isinstance(object_id, str) or not spec.id_pattern.fullmatch(object_id):
            return Decision(False, f"{kind} {ref}: the daemon gave no valid {spec.id_key}", 502)
        return Decision(True, f"{kind} carries the stack label", kind=kind, ref=object_id)
