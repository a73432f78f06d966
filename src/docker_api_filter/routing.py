"""Request routing: which endpoint a request is for, its API version, query and filters.

``Router.route`` checks the path (printable ASCII, no empty, . or .. segment, an API version of
1.24 or later), refuses a repeated query parameter, then allows the endpoints of both modes
(``/_ping``, ``/version``, the single-user image's inspect) and hands the rest to the endpoints
of HUB_SPAWNER's mode: containers (``ContainerRules`` checks a create's body) or services
(``ServiceRules`` checks a create's spec). The query parameters each endpoint takes are data
(``CONTAINER_ENDPOINTS``, ``SERVICE_ENDPOINTS``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from docker_api_filter.containers import ContainerRules
from docker_api_filter.decision import Decision, dump_filters
from docker_api_filter.refusals import Refused, no_duplicate_keys, parse_body, short
from docker_api_filter.services import ServiceRules
from docker_api_filter.settings import FilterSettings

#: A request's query: (name, value) pairs, decoded.
Query = Sequence[tuple[str, str]]

#: The oldest API version forwarded (docker-py's minimum; older ones had HostConfig on start).
MIN_API_VERSION = (1, 24)
#: The oldest API version a service is created with: for older versions the daemon silently
#: drops ContainerSpec.CapabilityDrop and Resources.Limits.Pids from the spec (moby's
#: adjustForAPIVersion), and the service would run with the default capabilities.
MIN_SERVICE_API_VERSION = (1, 41)
#: A container or service as the API names it in a path: an ID (or a prefix) or a name.
OBJECT_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
#: Docker's reading of a boolean query parameter: these are false, anything else is true.
FALSE_VALUES = frozenset({"", "0", "no", "false", "none"})
#: What a task's desired state may be filtered on (Docker's own list).
DESIRED_STATES = frozenset({"running", "shutdown", "accepted"})

# Object endpoints: (method, suffix) -> the query parameters Docker accepts there.
CONTAINER_ENDPOINTS: Mapping[tuple[str, str], set[str]] = {
    ("GET", "/json"): {"size"},
    ("POST", "/start"): set(),
    ("POST", "/stop"): {"t", "signal"},
    ("POST", "/restart"): {"t", "signal"},
    ("POST", "/kill"): {"signal"},
    ("POST", "/wait"): {"condition"},
    ("DELETE", ""): {"v", "force", "link"},
}
SERVICE_ENDPOINTS: Mapping[tuple[str, str], set[str]] = {
    ("GET", ""): {"insertDefaults"},
    ("DELETE", ""): set(),
}


def split_version(path: str) -> tuple[str, str]:
    """("/v1.45", "/containers/create") from "/v1.45/containers/create"; checks the path."""
    if not path.startswith("/") or any(ord(c) < 0x21 or ord(c) > 0x7E for c in path):
        raise Refused("the path must be printable ASCII starting with /", 400)
    segments = path.split("/")[1:]
    if any(s in ("", ".", "..") for s in segments):
        raise Refused("the path has an empty, . or .. segment", 400)
    match = re.fullmatch(r"(/v(\d+)\.(\d+))(/.*)", path)
    if not match:
        return "", path
    if (int(match.group(2)), int(match.group(3))) < MIN_API_VERSION:
        raise Refused(f"API versions below 1.{MIN_API_VERSION[1]} are not forwarded")
    return match.group(1), match.group(4)


def check_params(params: Mapping[str, str], allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise Refused(f"query parameter {unknown[0]!r} is not allowed here")


def no_body(body: bytes) -> None:
    if body.strip():
        raise Refused("a body is not allowed here")


def allow(reason: str, path: str, query: Query) -> Decision:
    return Decision(True, reason, path=path, query=tuple(query))


def parse_filters(value: str) -> dict[str, list[str]]:
    try:
        given = json.loads(value or "{}", object_pairs_hook=no_duplicate_keys)
    except ValueError:
        raise Refused("filters is not valid JSON", 400) from None
    if not isinstance(given, dict):
        raise Refused("filters must be a JSON object", 400)
    filters: dict[str, list[str]] = {}
    for key, values in given.items():
        # Docker takes {"label": ["a=b"]} and {"label": {"a=b": true}}; never mixed.
        if isinstance(values, dict):
            values = list(values)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise Refused(f"filters.{key} must be a list of strings", 400)
        filters[key] = values
    return filters


def list_query(query: list[tuple[str, str]], label: str) -> list[tuple[str, str]]:
    """The query with the stack's label in ``filters`` (the caller's filters kept, ANDed)."""
    filters: dict[str, list[str]] = {}
    out = []
    for name, value in query:
        if name == "filters":
            filters = parse_filters(value)
        else:
            out.append((name, value))
    labels = filters.setdefault("label", [])
    if label not in labels:
        labels.append(label)
    out.append(("filters", dump_filters(filters)))
    return out


def check_pull(image: str, from_image: str, tag: str) -> None:
    """``POST /images/create``'s fromImage and tag name ``image`` (SINGLEUSER_IMAGE), else
    Refused."""
    if tag:
        names = {f"{from_image}:{tag}", f"{from_image}@{tag}"}
        if tag == "latest":
            names.add(from_image)  # an image named without a tag is its :latest
    else:
        # Without a tag, a repository alone would mean all of its tags.
        last = from_image.rsplit("/", 1)[-1]
        names = {from_image} if (":" in last or "@" in last) else set()
    if image not in names:
        raise Refused(
            f"fromImage/tag {from_image!r}/{tag!r} is not the single-user image "
            "(SINGLEUSER_IMAGE); only it may be pulled"
        )


class Router:
    """Decides on one request (``route``), raising Refused; the bodies go to the rules."""

    def __init__(
        self, settings: FilterSettings, containers: ContainerRules, services: ServiceRules
    ) -> None:
        self.settings = settings
        self.containers = containers
        self.services = services

    def route(self, method: str, path: str, query: list[tuple[str, str]], body: bytes) -> Decision:
        version, endpoint = split_version(path)
        names = [name for name, _ in query]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise Refused(f"query parameter {repeated[0]!r} is repeated", 400)
        params = dict(query)

        if endpoint == "/_ping" and method in ("GET", "HEAD"):
            check_params(params, set())
            no_body(body)
            return allow("ping", path, query)
        if endpoint == "/version" and method == "GET":
            check_params(params, set())
            no_body(body)
            return allow("version", path, query)
        match = re.fullmatch(r"/images/(.+)/json", endpoint)
        if match and method == "GET":
            check_params(params, set())
            no_body(body)
            if match.group(1) != self.settings.image:
                raise Refused(
                    f"image {match.group(1)!r} is not the single-user image (SINGLEUSER_IMAGE)"
                )
            return allow("inspect the single-user image", path, query)
        if self.settings.spawner == "swarm":
            return self._swarm_request(method, path, version, endpoint, query, body)
        return self._docker_request(method, path, version, endpoint, query, body)

    def _docker_request(self, method, path, version, endpoint, query, body) -> Decision:
        """HUB_SPAWNER=docker: DockerSpawner's containers."""
        params = dict(query)
        if endpoint == "/containers/json" and method == "GET":
            check_params(params, {"all", "limit", "size", "filters"})
            no_body(body)
            listed = list_query(query, self.settings.label)
            return allow("list (stack label filter added)", path, listed)
        if endpoint == "/containers/create" and method == "POST":
            check_params(params, {"name", "platform"})
            self.containers.check_user_name("name", params.get("name"))
            self.containers.check_create(params["name"], parse_body(body))
            return allow("create", path, query)
        if endpoint == "/images/create" and method == "POST":
            check_params(params, {"fromImage", "tag", "platform"})
            no_body(body)
            check_pull(self.settings.image, params.get("fromImage", ""), params.get("tag", ""))
            return allow("pull of the single-user image", path, query)
        match = re.fullmatch(r"/containers/([^/]+)(/[a-z]+)?", endpoint)
        if match:
            return self._object_request(
                "container", CONTAINER_ENDPOINTS, method, path, version, match, query, body
            )
        raise Refused("not an endpoint DockerSpawner needs")

    def _swarm_request(self, method, path, version, endpoint, query, body) -> Decision:
        """HUB_SPAWNER=swarm: SwarmSpawner's services (and their tasks), nothing else."""
        params = dict(query)
        if endpoint == "/services/create" and method == "POST":
            check_params(params, set())
            numbers = re.fullmatch(r"/v(\d+)\.(\d+)", version)
            if numbers and tuple(map(int, numbers.groups())) < MIN_SERVICE_API_VERSION:
                raise Refused(
                    f"services are created with API 1.{MIN_SERVICE_API_VERSION[1]} or later only "
                    "(older versions drop CapabilityDrop and Limits.Pids)"
                )
            self.services.check_service(parse_body(body))
            return allow("create of a user service", path, query)
        if endpoint == "/tasks" and method == "GET":
            check_params(params, {"filters"})
            no_body(body)
            service, filters = self._tasks_filters(params.get("filters"))
            return Decision(
                True,
                "tasks of a stack service",
                path=path,
                query=(("filters", dump_filters(filters)),),
                kind="service",
                ref=service,
                ref_filter="service",
            )
        match = re.fullmatch(r"/services/([^/]+)(/[a-z]+)?", endpoint)
        if match and match.group(1) != "create":
            return self._object_request(
                "service", SERVICE_ENDPOINTS, method, path, version, match, query, body
            )
        raise Refused("not an endpoint SwarmSpawner needs (HUB_SPAWNER=swarm)")

    @staticmethod
    def _object_request(kind, endpoints, method, path, version, match, query, body) -> Decision:
        """A request about one container or service: allowed for an object of the stack only,
        which the proxy checks (``Decision.kind``, ``Decision.ref``)."""
        ref, suffix = match.group(1), match.group(2) or ""
        allowed_params = endpoints.get((method, suffix))
        if allowed_params is None:
            spawner = "SwarmSpawner" if kind == "service" else "DockerSpawner"
            raise Refused(f"not an endpoint {spawner} needs")
        if not OBJECT_REF.fullmatch(ref):
            raise Refused(f"{ref!r} is not a {kind} name or ID", 400)
        params = dict(query)
        check_params(params, allowed_params)
        if body.strip():
            # Before API 1.24 a start body carried a HostConfig: never accept one.
            raise Refused("a body is not allowed here (start takes no HostConfig)")
        if method == "DELETE" and params.get("link", "").strip().lower() not in FALSE_VALUES:
            raise Refused("link must be false (links are not used)")
        action = suffix.strip("/") or ("remove" if method == "DELETE" else "inspect")
        return Decision(
            True,
            f"{action} of a stack {kind}",
            path=path,
            query=tuple(query),
            kind=kind,
            ref=ref,
            ref_path=(f"{version}/{kind}s/", suffix),
        )

    def _tasks_filters(self, value: str | None) -> tuple[str, dict[str, list[str]]]:
        """The one user service whose tasks are asked for, and the filters to forward. Tasks
        have no label of their service to filter on, and each carries its service's spec
        (environment included): the proxy checks the service's label, then forwards the
        filter with the service's ID."""
        if value is None:
            raise Refused("filters is missing (only the tasks of one user service are listed)")
        filters = parse_filters(value)
        unknown = sorted(set(filters) - {"service", "desired-state"})
        if unknown:
            raise Refused(f"filters.{unknown[0]} is not allowed (service, desired-state)")
        services = filters.get("service", [])
        if len(services) != 1 or not self.services.container_name.fullmatch(services[0]):
            raise Refused(
                f"filters.service must be one service named by USER_CONTAINER_NAME "
                f"{self.settings.user_container_name!r} (got {short(services)})"
            )
        states = filters.get("desired-state")
        if states is not None and not (states and set(states) <= DESIRED_STATES):
            raise Refused(
                f"filters.desired-state must be of {sorted(DESIRED_STATES)} (got {short(states)})"
            )
        return services[0], filters
