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
- ``POST /containers/create?name=...`` with a body that passes ``_check_create`` (the image,
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
  silently drops CapabilityDrop and Limits.Pids) with a spec that passes ``_check_service``:
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
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stackconf import settings as conf
from users_firewall import server as server_firewall

#: A request's query: (name, value) pairs, decoded.
Query = Sequence[tuple[str, str]]

#: The oldest API version forwarded (docker-py's minimum; older ones had HostConfig on start).
MIN_API_VERSION = (1, 24)
#: What a template field ({username}, ...) of a volume or container name may be: DockerSpawner
#: escapes usernames to lowercase letters, digits and "-".
NAME_PART = "[A-Za-z0-9._-]"
#: Where DockerSpawner mounts the extra CA file (hub/jupyterhub_config.py).
CA_TARGET = "/etc/ssl/extra-ca.pem"
#: The only security options a user container may have (and must have one of).
NO_NEW_PRIVILEGES = frozenset(
    {"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}
)
#: A container or service as the API names it in a path: an ID (or a prefix) or a name.
OBJECT_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
CONTAINER_ID = re.compile(r"[0-9a-f]{64}")
#: A Swarm object's ID (swarmkit's identity.NewID: 25 base-36 digits).
SERVICE_ID = re.compile(r"[0-9a-z]{25}")
#: Docker's reading of a boolean query parameter: these are false, anything else is true.
FALSE_VALUES = frozenset({"", "0", "no", "false", "none"})
#: The spawners the filter serves (HUB_SPAWNER): DockerSpawner's containers, SwarmSpawner's
#: services.
SPAWNERS = ("docker", "swarm")
#: The oldest API version a service is created with: for older versions the daemon silently
#: drops ContainerSpec.CapabilityDrop and Resources.Limits.Pids from the spec (moby's
#: adjustForAPIVersion), and the service would run with the default capabilities.
MIN_SERVICE_API_VERSION = (1, 41)
#: The user server's runtime directory, the one tmpfs of a user service (hub/jupyterhub_config.py:
#: uid 1000 is jovyan, the single-user image's user).
RUNTIME_DIR = "/run/user/1000"
#: Variables that the dynamic loader and the C library read, ignored in setuid programs
#: (glibc's "unsecure" list and GLIBC_TUNABLES): a user service's entrypoint starts as root, so
#: none may be given to it (LD_ is refused as a prefix).
LOADER_VARIABLES = frozenset(
    {
        "GCONV_PATH",
        "GETCONF_DIR",
        "GLIBC_TUNABLES",
        "HOSTALIASES",
        "LOCALDOMAIN",
        "LOCPATH",
        "MALLOC_TRACE",
        "NIS_PATH",
        "NLSPATH",
        "RESOLV_HOST_CONF",
        "RES_OPTIONS",
        "TMPDIR",
        "TZDIR",
    }
)
#: What a task's desired state may be filtered on (Docker's own list).
DESIRED_STATES = frozenset({"running", "shutdown", "accepted"})
#: The operator of a placement constraint, with the spaces Docker ignores around it.
CONSTRAINT_OPERATOR = re.compile(r"\s*(==|!=)\s*")


def template_pattern(template: str) -> re.Pattern[str]:
    """A name template (``jupyterhub-user-{username}``) as a regex matching the names it makes."""
    parts = re.split(r"(\{[A-Za-z_]+\})", template)
    return re.compile(
        "".join(
            (f"(?P<username>{NAME_PART}+)" if part == "{username}" else NAME_PART + "*")
            if part.startswith("{") and part.endswith("}")
            else re.escape(part)
            for part in parts
        )
    )


def normalize_constraint(constraint: str) -> str:
    """``node.role == worker`` as ``node.role==worker`` (Docker ignores those spaces)."""
    return CONSTRAINT_OPERATOR.sub(r"\1", constraint.strip())


@dataclass(frozen=True)
class FilterSettings:
    """What the policy checks against; the hub builds its containers from the same settings."""

    image: str
    users_network: str
    label_key: str
    label_value: str
    user_volume_name: str
    user_container_name: str
    extra_ca_host_path: str = ""
    max_body: int = 1024 * 1024
    #: HUB_SPAWNER: "docker" (containers) or "swarm" (services); each allows its own endpoints.
    spawner: str = "docker"
    #: SWARM_USER_CONSTRAINTS, normalized: a user service's placement constraints (swarm).
    swarm_user_constraints: tuple[str, ...] = ()
    #: The environment a user service must carry (swarm): the settings its own firewall is made
    #: of (users_firewall.server.SETTINGS), with the values the filter has.
    server_firewall_env: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.spawner not in SPAWNERS:
            raise conf.SettingError(
                "HUB_SPAWNER must be docker or swarm where the Docker API filter runs "
                f"(DockerSpawner's containers or SwarmSpawner's services), got {self.spawner!r}"
            )
        constraints = tuple(normalize_constraint(c) for c in self.swarm_user_constraints)
        for constraint in constraints:
            parts = re.split(r"==|!=", constraint)
            if len(parts) != 2 or not all(parts):
                raise conf.SettingError(
                    f"SWARM_USER_CONSTRAINTS: {constraint!r} is not a placement constraint "
                    "(key==value or key!=value, comma-separated)"
                )
        if self.spawner == "swarm" and not constraints:
            # Without a constraint, user servers could run on managers, beside the swarm's
            # keys and the Docker API filter itself.
            raise conf.SettingError(
                "SWARM_USER_CONSTRAINTS must name at least one placement constraint "
                "(HUB_SPAWNER=swarm)"
            )
        object.__setattr__(self, "swarm_user_constraints", constraints)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FilterSettings:
        label = conf.get("DOCKER_API_STACK_LABEL", env)
        key, sep, value = label.partition("=")
        if not (sep and key and value):  # as the hub reads it: split at the first =
            raise conf.SettingError(f"DOCKER_API_STACK_LABEL must be key=value, got {label!r}")
        max_body = conf.get_int("DOCKER_API_FILTER_MAX_BODY", env)
        if max_body <= 0:
            raise conf.SettingError(f"DOCKER_API_FILTER_MAX_BODY must be > 0, got {max_body}")
        return cls(
            image=conf.get("SINGLEUSER_IMAGE", env),
            users_network=conf.get("USERS_NETWORK", env),
            label_key=key,
            label_value=value,
            user_volume_name=conf.get("USER_VOLUME_NAME", env),
            user_container_name=conf.get("USER_CONTAINER_NAME", env),
            extra_ca_host_path=conf.get("EXTRA_CA_BUNDLE_HOST_PATH", env),
            max_body=max_body,
            spawner=conf.get("HUB_SPAWNER", env),
            swarm_user_constraints=tuple(conf.get_list("SWARM_USER_CONSTRAINTS", env)),
            server_firewall_env=tuple(
                (name, conf.get(name, env)) for name in server_firewall.SETTINGS
            ),
        )

    @property
    def label(self) -> str:
        return f"{self.label_key}={self.label_value}"


@dataclass(frozen=True)
class ObjectKind:
    """A kind of Docker object the hub acts on by name: where its inspect result is, where
    that result has the object's labels and its full ID."""

    #: The inspect path, ``{}`` the object's name or ID.
    inspect: str
    #: The keys leading to the labels in the inspect result.
    labels: tuple[str, ...]
    id_key: str
    id_pattern: re.Pattern[str]


#: The objects a request may be about: containers (docker) and services (swarm).
KINDS: Mapping[str, ObjectKind] = {
    "container": ObjectKind("/containers/{}/json", ("Config", "Labels"), "Id", CONTAINER_ID),
    "service": ObjectKind("/services/{}", ("Spec", "Labels"), "ID", SERVICE_ID),
}


@dataclass(frozen=True)
class Decision:
    """The answer for one request: forward it (how), or refuse it (status and reason)."""

    allowed: bool
    reason: str
    status: int = 200
    #: The path to forward (decoded; the proxy quotes it), with its API version prefix.
    path: str = ""
    #: The query to forward (the checked pairs; the list query carries the stack's filter).
    query: tuple[tuple[str, str], ...] = ()
    #: For a request about one object: its kind (a key of KINDS) and its name or ID. The proxy
    #: forwards it only once that object carries the stack's label (``Policy.check_object``,
    #: whose allowing decision has the object's full ID as ``ref``).
    kind: str = ""
    ref: str = ""
    #: Where the full ID goes: the path before and after it (None: the path stays) ...
    ref_path: tuple[str, str] | None = None
    #: ... or the key of the ``filters`` query parameter whose one value is the object.
    ref_filter: str = ""

    @property
    def message(self) -> str:
        """The one line the client sees (docker-py puts it in the hub's log)."""
        return f"docker-api-filter: {self.reason}"

    def for_object(self, object_id: str) -> Decision:
        """This decision, forwarded to the object's full ID (what was checked is acted on)."""
        path, query = self.path, self.query
        if self.ref_path is not None:
            before, after = self.ref_path
            path = f"{before}{object_id}{after}"
        if self.ref_filter:
            query = tuple(
                (name, _replace_filter(value, self.ref_filter, object_id))
                if name == "filters"
                else (name, value)
                for name, value in query
            )
        return Decision(allowed=True, reason=self.reason, path=path, query=query)


def _replace_filter(filters: str, key: str, value: str) -> str:
    return _dump_filters({**json.loads(filters), key: [value]})


def _dump_filters(filters: Mapping[str, list[str]]) -> str:
    return json.dumps(filters, separators=(",", ":"))


class Refused(Exception):
    """A rule refused the request; ``reason`` names the field and the rule."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


# --- Small rules, each raising Refused with the field's name --------------------------------


def _empty(value: Any) -> bool:
    if value is None or value is False or value == "":
        return True
    return isinstance(value, list | dict) and not value


def _must_be_empty(field: str, value: Any) -> None:
    if not _empty(value):
        raise Refused(f"{field} must be absent, empty or false (got {_short(value)})")


def _one_of(*allowed: str) -> Callable[[str, Any], None]:
    def rule(field: str, value: Any) -> None:
        if value is not None and value not in allowed:
            shown = " or ".join(repr(a) for a in allowed)
            raise Refused(f"{field} must be {shown} (got {_short(value)})")

    return rule


def _free(field: str, value: Any) -> None:
    """No rule: the user's own container may set this as it likes."""


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _object(field: str, value: Any, allowed_keys: Mapping[str, Any] | set[str]) -> dict:
    if not isinstance(value, dict):
        raise Refused(f"{field} must be a JSON object")
    unknown = sorted(set(value) - set(allowed_keys))
    if unknown:
        raise Refused(f"{field}.{unknown[0]} is not allowed (not a field DockerSpawner sends)")
    return value


def _string_list(field: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Refused(f"{field} must be a list of strings")
    return value


def _positive_int(field: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise Refused(f"{field} must be a positive integer (got {_short(value)})")


def _non_negative_int(field: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise Refused(f"{field} must be an integer >= 0 (got {_short(value)})")


def _fields(
    field: str,
    value: Any,
    rules: Mapping[str, Callable[[str, Any], None]],
    required: Sequence[str] = (),
) -> dict:
    """An object whose keys are all on the allowlist ``rules`` and include ``required``; each
    key's rule is applied to its value (the field named ``field.key``; ``key`` in the body)."""
    obj = _object(field, value, rules)
    prefix = "" if field == "body" else f"{field}."
    for key in required:
        if key not in obj:
            raise Refused(f"{prefix}{key} is missing")
    for key, item in obj.items():
        rules[key](f"{prefix}{key}", item)
    return obj


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    obj: dict = {}
    for key, value in pairs:
        if key in obj:
            raise Refused(f"request body has the key {key!r} twice", 400)
        obj[key] = value
    return obj


def _no_constants(name: str) -> Any:
    raise Refused(f"request body is not JSON ({name})", 400)


def parse_body(body: bytes) -> dict:
    """A JSON object without duplicate keys, else Refused (400)."""
    try:
        value = json.loads(body, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError):
        raise Refused("request body is not valid JSON", 400) from None
    if not isinstance(value, dict):
        raise Refused("request body must be a JSON object", 400)
    return value


class Policy:
    """Decides on one request (``check``) and on the object it is about (``check_object``)."""

    def __init__(self, settings: FilterSettings) -> None:
        self.settings = settings
        self.volume_name = template_pattern(settings.user_volume_name)
        self.container_name = template_pattern(settings.user_container_name)

    # --- The entry points ------------------------------------------------------------------

    def check(self, method: str, path: str, query: Query, body: bytes = b"") -> Decision:
        """Decide on one request: ``path`` decoded, ``query`` decoded pairs, ``body`` raw."""
        method = method.upper()
        try:
            return self._check(method, path, list(query), body)
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

    # --- Routing -------------------------------------------------------------------------

    def _check(self, method: str, path: str, query: list[tuple[str, str]], body: bytes):
        version, endpoint = self._split_version(path)
        names = [name for name, _ in query]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise Refused(f"query parameter {repeated[0]!r} is repeated", 400)
        params = dict(query)

        if endpoint == "/_ping" and method in ("GET", "HEAD"):
            self._params(params, set())
            self._no_body(body)
            return self._allow("ping", path, query)
        if endpoint == "/version" and method == "GET":
            self._params(params, set())
            self._no_body(body)
            return self._allow("version", path, query)
        match = re.fullmatch(r"/images/(.+)/json", endpoint)
        if match and method == "GET":
            self._params(params, set())
            self._no_body(body)
            if match.group(1) != self.settings.image:
                raise Refused(
                    f"image {match.group(1)!r} is not the single-user image (SINGLEUSER_IMAGE)"
                )
            return self._allow("inspect the single-user image", path, query)
        if self.settings.spawner == "swarm":
            return self._swarm_request(method, path, version, endpoint, query, body)
        return self._docker_request(method, path, version, endpoint, query, body)

    @staticmethod
    def _allow(reason: str, path: str, query: Query) -> Decision:
        return Decision(True, reason, path=path, query=tuple(query))

    def _docker_request(self, method, path, version, endpoint, query, body) -> Decision:
        """HUB_SPAWNER=docker: DockerSpawner's containers."""
        params = dict(query)
        if endpoint == "/containers/json" and method == "GET":
            self._params(params, {"all", "limit", "size", "filters"})
            self._no_body(body)
            return self._allow("list (stack label filter added)", path, self._list_query(query))
        if endpoint == "/containers/create" and method == "POST":
            self._params(params, {"name", "platform"})
            self._check_user_name("name", params.get("name"))
            self._check_create(params["name"], parse_body(body))
            return self._allow("create", path, query)
        if endpoint == "/images/create" and method == "POST":
            self._params(params, {"fromImage", "tag", "platform"})
            self._no_body(body)
            self._check_pull(params.get("fromImage", ""), params.get("tag", ""))
            return self._allow("pull of the single-user image", path, query)
        match = re.fullmatch(r"/containers/([^/]+)(/[a-z]+)?", endpoint)
        if match:
            return self._object_request(
                "container", self.CONTAINER_ENDPOINTS, method, path, version, match, query, body
            )
        raise Refused("not an endpoint DockerSpawner needs")

    def _swarm_request(self, method, path, version, endpoint, query, body) -> Decision:
        """HUB_SPAWNER=swarm: SwarmSpawner's services (and their tasks), nothing else."""
        params = dict(query)
        if endpoint == "/services/create" and method == "POST":
            self._params(params, set())
            numbers = re.fullmatch(r"/v(\d+)\.(\d+)", version)
            if numbers and tuple(map(int, numbers.groups())) < MIN_SERVICE_API_VERSION:
                raise Refused(
                    f"services are created with API 1.{MIN_SERVICE_API_VERSION[1]} or later only "
                    "(older versions drop CapabilityDrop and Limits.Pids)"
                )
            self._check_service(parse_body(body))
            return self._allow("create of a user service", path, query)
        if endpoint == "/tasks" and method == "GET":
            self._params(params, {"filters"})
            self._no_body(body)
            service, filters = self._tasks_filters(params.get("filters"))
            return Decision(
                True,
                "tasks of a stack service",
                path=path,
                query=(("filters", _dump_filters(filters)),),
                kind="service",
                ref=service,
                ref_filter="service",
            )
        match = re.fullmatch(r"/services/([^/]+)(/[a-z]+)?", endpoint)
        if match and match.group(1) != "create":
            return self._object_request(
                "service", self.SERVICE_ENDPOINTS, method, path, version, match, query, body
            )
        raise Refused("not an endpoint SwarmSpawner needs (HUB_SPAWNER=swarm)")

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

    def _object_request(
        self, kind, endpoints, method, path, version, match, query, body
    ) -> Decision:
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
        self._params(params, allowed_params)
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

    @staticmethod
    def _split_version(path: str) -> tuple[str, str]:
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

    @staticmethod
    def _params(params: Mapping[str, str], allowed: set[str]) -> None:
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise Refused(f"query parameter {unknown[0]!r} is not allowed here")

    @staticmethod
    def _no_body(body: bytes) -> None:
        if body.strip():
            raise Refused("a body is not allowed here")

    # --- Filters: the list of the stack's containers, the tasks of one service -------------

    @staticmethod
    def _parse_filters(value: str) -> dict[str, list[str]]:
        try:
            given = json.loads(value or "{}", object_pairs_hook=_no_duplicate_keys)
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

    def _list_query(self, query: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The query with the stack's label in ``filters`` (the caller's filters kept, ANDed)."""
        filters: dict[str, list[str]] = {}
        out = []
        for name, value in query:
            if name == "filters":
                filters = self._parse_filters(value)
            else:
                out.append((name, value))
        labels = filters.setdefault("label", [])
        if self.settings.label not in labels:
            labels.append(self.settings.label)
        out.append(("filters", _dump_filters(filters)))
        return out

    def _tasks_filters(self, value: str | None) -> tuple[str, dict[str, list[str]]]:
        """The one user service whose tasks are asked for, and the filters to forward. Tasks
        have no label of their service to filter on, and each carries its service's spec
        (environment included): the proxy checks the service's label, then forwards the
        filter with the service's ID."""
        if value is None:
            raise Refused("filters is missing (only the tasks of one user service are listed)")
        filters = self._parse_filters(value)
        unknown = sorted(set(filters) - {"service", "desired-state"})
        if unknown:
            raise Refused(f"filters.{unknown[0]} is not allowed (service, desired-state)")
        services = filters.get("service", [])
        if len(services) != 1 or not self.container_name.fullmatch(services[0]):
            raise Refused(
                f"filters.service must be one service named by USER_CONTAINER_NAME "
                f"{self.settings.user_container_name!r} (got {_short(services)})"
            )
        states = filters.get("desired-state")
        if states is not None and not (states and set(states) <= DESIRED_STATES):
            raise Refused(
                f"filters.desired-state must be of {sorted(DESIRED_STATES)} (got {_short(states)})"
            )
        return services[0], filters

    # --- Pull and create ------------------------------------------------------------------

    def _check_pull(self, from_image: str, tag: str) -> None:
        if tag:
            names = {f"{from_image}:{tag}", f"{from_image}@{tag}"}
            if tag == "latest":
                names.add(from_image)  # an image named without a tag is its :latest
        else:
            # Without a tag, a repository alone would mean all of its tags.
            last = from_image.rsplit("/", 1)[-1]
            names = {from_image} if (":" in last or "@" in last) else set()
        if self.settings.image not in names:
            raise Refused(
                f"fromImage/tag {from_image!r}/{tag!r} is not the single-user image "
                "(SINGLEUSER_IMAGE); only it may be pulled"
            )

    def _check_user_name(self, field: str, name: Any) -> None:
        if not isinstance(name, str) or not self.container_name.fullmatch(name):
            raise Refused(
                f"{field} {name!r} does not match USER_CONTAINER_NAME "
                f"{self.settings.user_container_name!r} (user servers only)"
            )

    def _check_volumes_are_the_users(self, field: str, name: str, sources: list[Any]) -> None:
        """A user server mounts its own user's volume only: the user in the volume's name
        (USER_VOLUME_NAME) is the user in the container's or service's name
        (USER_CONTAINER_NAME), so that no server gets another user's home."""
        owner = self.container_name.fullmatch(name)
        wanted = owner.groupdict().get("username") if owner else None
        for source in sources:
            volume = self.volume_name.fullmatch(source if isinstance(source, str) else "")
            if volume and volume.groupdict().get("username") != wanted:
                raise Refused(
                    f"{field} volume {source!r} belongs to another user than {name!r}: "
                    "a user server mounts its own user's volume only"
                )

    def _check_create(self, name: str, config: dict) -> None:
        rules: dict[str, Callable[[str, Any], None]] = {
            # Free: the user's own process, its command, environment and TTY.
            **dict.fromkeys(
                [
                    "Hostname",
                    "Domainname",
                    "ExposedPorts",
                    "Tty",
                    "OpenStdin",
                    "StdinOnce",
                    "AttachStdin",
                    "AttachStdout",
                    "AttachStderr",
                    "Env",
                    "Cmd",
                    "Entrypoint",
                    "WorkingDir",
                    "Volumes",  # anonymous volumes at container paths (no host path)
                    "NetworkDisabled",
                    "StopSignal",
                    "StopTimeout",
                    "Healthcheck",
                ],
                _free,
            ),
            "Image": self._rule_image,
            "Labels": self._rule_labels,
            "User": self._rule_user,
            "MacAddress": _must_be_empty,
            "Runtime": _one_of("", "runc"),
            "HostConfig": self._rule_host_config,
            "NetworkingConfig": self._rule_networking_config,
        }
        _fields("body", config, rules, required=("Image", "Labels", "HostConfig"))
        host = config["HostConfig"]
        sources = [spec.split(":")[0] for spec in host.get("Binds") or []]
        sources += [m.get("Source") for m in host.get("Mounts") or [] if m.get("Type") == "volume"]
        self._check_volumes_are_the_users("HostConfig", name, sources)

    def _rule_image(self, field: str, value: Any) -> None:
        if value != self.settings.image:
            raise Refused(
                f"{field} {_short(value)} is not the single-user image {self.settings.image!r}"
            )

    def _rule_labels(self, field: str, value: Any) -> None:
        key, wanted = self.settings.label_key, self.settings.label_value
        if not isinstance(value, dict) or value.get(key) != wanted:
            raise Refused(f"{field} must include the stack label {key}={wanted}")

    @staticmethod
    def _rule_user(field: str, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            raise Refused(f"{field} must be a string")
        for part in value.split(":")[:2]:
            part = part.strip()
            if part.lower() == "root" or (part.isdigit() and int(part) == 0):
                raise Refused(f"{field} {value!r}: root (uid or gid 0) is not allowed")

    def _rule_networking_config(self, field: str, value: Any) -> None:
        if value is None:
            return
        config = _object(field, value, {"EndpointsConfig"})
        endpoints = config.get("EndpointsConfig")
        if endpoints is None:
            return
        _object(f"{field}.EndpointsConfig", endpoints, {self.settings.users_network})
        for network, endpoint in endpoints.items():
            # No aliases, static addresses or links: a user container must not take over a
            # name (hub, traefik) on the users network.
            _must_be_empty(f"{field}.EndpointsConfig.{network}", endpoint)

    # --- HostConfig: an allowlist of keys, one rule each ------------------------------------

    def _rule_host_config(self, field: str, value: Any) -> None:
        empty = _must_be_empty
        rules: dict[str, Callable[[str, Any], None]] = {
            # Resource limits and harmless behaviour: the hub sets these as it likes.
            **dict.fromkeys(
                [
                    "AutoRemove",
                    "Memory",
                    "MemoryReservation",
                    "MemorySwap",
                    "MemorySwappiness",
                    "KernelMemory",
                    "NanoCpus",
                    "CpuPeriod",
                    "CpuQuota",
                    "CpuShares",
                    "CpusetCpus",
                    "CpusetMems",
                    "CpuCount",
                    "CpuPercent",
                    "CPURealtimePeriod",
                    "CPURealtimeRuntime",
                    "BlkioWeight",
                    "ShmSize",
                    "Ulimits",
                    "OomScoreAdj",
                    "ReadonlyRootfs",
                    "Init",
                    "Tmpfs",
                    "Dns",
                    "DnsOptions",
                    "DnsSearch",
                    "RestartPolicy",
                ],
                _free,
            ),
            # Privileges, devices, host namespaces, host paths, other containers: none.
            **dict.fromkeys(
                [
                    "Privileged",
                    "CapAdd",
                    "Capabilities",
                    "Devices",
                    "DeviceRequests",
                    "DeviceCgroupRules",
                    "Sysctls",
                    "VolumesFrom",
                    "VolumeDriver",
                    "Links",
                    "ExtraHosts",
                    "GroupAdd",
                    "PortBindings",
                    "PublishAllPorts",
                    "PidMode",
                    "UTSMode",
                    "UsernsMode",
                    "Cgroup",
                    "CgroupParent",
                    "OomKillDisable",
                    "LogConfig",
                    "StorageOpt",
                    "LxcConf",
                    "InitPath",
                    "BlkioWeightDevice",
                    "BlkioDeviceReadBps",
                    "BlkioDeviceWriteBps",
                    "BlkioDeviceReadIOps",
                    "BlkioDeviceWriteIOps",
                ],
                empty,
            ),
            "IpcMode": _one_of("", "private", "none"),
            "CgroupnsMode": _one_of("", "private"),
            "Runtime": _one_of("", "runc"),
            "Isolation": _one_of("", "default"),
            "NetworkMode": self._rule_network_mode,
            "CapDrop": self._rule_cap_drop,
            "SecurityOpt": self._rule_security_opt,
            "PidsLimit": _positive_int,
            "Binds": self._rule_binds,
            "Mounts": self._rule_mounts,
        }
        _fields(
            field, value, rules, required=("NetworkMode", "CapDrop", "SecurityOpt", "PidsLimit")
        )

    def _rule_network_mode(self, field: str, value: Any) -> None:
        if value != self.settings.users_network:
            raise Refused(
                f"{field} must be the users network {self.settings.users_network!r} "
                f"(got {_short(value)})"
            )

    @staticmethod
    def _rule_cap_drop(field: str, value: Any) -> None:
        if not any(cap.upper() == "ALL" for cap in _string_list(field, value)):
            raise Refused(f'{field} must contain "ALL"')

    @staticmethod
    def _rule_security_opt(field: str, value: Any) -> None:
        options = _string_list(field, value)
        others = [o for o in options if o not in NO_NEW_PRIVILEGES]
        if others:
            raise Refused(f"{field} {others[0]!r} is not allowed (only no-new-privileges)")
        if not options:
            raise Refused(f'{field} must contain "no-new-privileges:true"')

    def _rule_binds(self, field: str, value: Any) -> None:
        for spec in _string_list(field, value):
            parts = spec.split(":")
            if len(parts) not in (2, 3):
                raise Refused(f"{field} {spec!r} must be SOURCE:TARGET[:MODE]")
            source, target = parts[0], parts[1]
            modes = set(parts[2].split(",")) if len(parts) == 3 else set()
            if self.volume_name.fullmatch(source):
                if not target.startswith("/") or not modes <= {"rw", "ro", "nocopy"}:
                    raise Refused(f"{field} {spec!r}: a user volume takes /TARGET[:rw|ro]")
            elif self._is_ca_file(source):
                if target != CA_TARGET or modes != {"ro"}:
                    raise Refused(
                        f"{field} {spec!r}: the extra CA file binds only at {CA_TARGET}:ro"
                    )
            else:
                raise Refused(
                    f"{field} {spec!r}: the source is neither a user volume (USER_VOLUME_NAME "
                    f"{self.settings.user_volume_name!r}) nor the extra CA file"
                )

    def _is_ca_file(self, source: Any) -> bool:
        ca = self.settings.extra_ca_host_path
        return bool(ca) and source == ca

    def _rule_mounts(
        self, field: str, value: Any, tmpfs_targets: frozenset[str] | None = None
    ) -> None:
        """Mounts (a container's HostConfig.Mounts, a service's ContainerSpec.Mounts): user
        volumes, tmpfs (at ``tmpfs_targets`` only, when given) and the extra CA file."""
        if value is None:
            return
        if not isinstance(value, list):
            raise Refused(f"{field} must be a list")
        keys = {
            "Type",
            "Source",
            "Target",
            "ReadOnly",
            "Consistency",
            "BindOptions",
            "VolumeOptions",
            "TmpfsOptions",
        }
        for index, item in enumerate(value):
            where = f"{field}[{index}]"
            mount = _object(where, item, keys)
            kind, source, target = mount.get("Type"), mount.get("Source"), mount.get("Target")
            if not isinstance(target, str) or not target.startswith("/"):
                raise Refused(f"{where}.Target must be an absolute path")
            _must_be_empty(f"{where}.BindOptions", mount.get("BindOptions"))
            if kind != "volume":
                _must_be_empty(f"{where}.VolumeOptions", mount.get("VolumeOptions"))
            if kind != "tmpfs":
                _must_be_empty(f"{where}.TmpfsOptions", mount.get("TmpfsOptions"))
            if kind == "volume":
                if not isinstance(source, str) or not self.volume_name.fullmatch(source):
                    raise Refused(
                        f"{where}.Source {_short(source)} is not a user volume "
                        f"(USER_VOLUME_NAME {self.settings.user_volume_name!r})"
                    )
                options = mount.get("VolumeOptions")
                if options is not None:
                    options = _object(
                        f"{where}.VolumeOptions", options, {"NoCopy", "Labels", "DriverConfig"}
                    )
                    # A driver's options can make a "volume" of any host path (o=bind).
                    _must_be_empty(
                        f"{where}.VolumeOptions.DriverConfig", options.get("DriverConfig")
                    )
            elif kind == "tmpfs":
                _must_be_empty(f"{where}.Source", source)
                if tmpfs_targets is not None and target not in tmpfs_targets:
                    raise Refused(
                        f"{where}.Target {target!r}: a tmpfs goes at {sorted(tmpfs_targets)} only"
                    )
            elif kind == "bind":
                if not self._is_ca_file(source) or target != CA_TARGET:
                    raise Refused(
                        f"{where}: a bind mount may only be the extra CA file at {CA_TARGET}"
                    )
                if mount.get("ReadOnly") is not True:
                    raise Refused(f"{where}.ReadOnly must be true for the extra CA file")
            else:
                raise Refused(f"{where}.Type {_short(kind)} is not allowed (volume, tmpfs)")

    # --- Services (swarm): the spec, its TaskTemplate and ContainerSpec ---------------------

    def _check_service(self, spec: dict) -> None:
        rules: dict[str, Callable[[str, Any], None]] = {
            "Name": self._check_user_name,
            "Labels": self._rule_service_labels,
            "TaskTemplate": self._rule_task_template,
            "Mode": self._rule_mode,
            "EndpointSpec": self._rule_endpoint_spec,
            # Updates and rollbacks are never forwarded (no /services/{id}/update); the
            # deprecated top-level Networks would attach networks beside TaskTemplate's.
            **dict.fromkeys(["UpdateConfig", "RollbackConfig", "Networks"], _must_be_empty),
        }
        _fields("body", spec, rules, required=("Name", "Labels", "TaskTemplate"))
        mounts = spec["TaskTemplate"]["ContainerSpec"].get("Mounts") or []
        sources = [m.get("Source") for m in mounts if m.get("Type") == "volume"]
        self._check_volumes_are_the_users("TaskTemplate.ContainerSpec", spec["Name"], sources)

    def _rule_service_labels(self, field: str, value: Any) -> None:
        # DockerSpawner adds no label of its own to a service: the hub's stack label only.
        key, wanted = self.settings.label_key, self.settings.label_value
        if value != {key: wanted}:
            raise Refused(f"{field} must be exactly the stack label {key}={wanted}")

    @staticmethod
    def _rule_mode(field: str, value: Any) -> None:
        if value is None:
            return  # Docker's default: replicated, one replica
        # docker-py's ServiceMode spells the key "replicated"; with one key in Mode, Go's
        # case-insensitive decoder has nothing to pick between.
        mode = _object(field, value, {"Replicated", "replicated"})
        if len(mode) != 1:
            raise Refused(f"{field} must be one replicated service with one replica")
        [(key, replicated)] = mode.items()
        replicas = _object(f"{field}.{key}", replicated, {"Replicas"}).get("Replicas")
        if replicas is not None and (type(replicas) is not int or replicas != 1):
            raise Refused(f"{field}.{key}.Replicas must be 1 (got {_short(replicas)})")

    @staticmethod
    def _rule_endpoint_spec(field: str, value: Any) -> None:
        if value is None:
            return
        # No published port: a user server is reached over the users network only.
        _fields(field, value, {"Mode": _one_of("vip", "dnsrr"), "Ports": _must_be_empty})

    def _rule_task_template(self, field: str, value: Any) -> None:
        rules: dict[str, Callable[[str, Any], None]] = {
            "ContainerSpec": self._rule_container_spec,
            "Resources": self._rule_resources,
            "Placement": self._rule_placement,
            "Networks": self._rule_service_networks,
            "RestartPolicy": self._rule_restart_policy,
            # A counter that only makes an update redeploy (updates are never forwarded).
            "ForceUpdate": _non_negative_int,
            # "plugin" would install a managed plugin (privileged) on every node.
            "Runtime": _one_of("", "container"),
            # Logs shipped from the node to an address of the request's choosing; plugins and
            # network attachments are not user servers.
            **dict.fromkeys(["LogDriver", "PluginSpec", "NetworkAttachmentSpec"], _must_be_empty),
        }
        _fields(
            field,
            value,
            rules,
            required=("ContainerSpec", "Resources", "Placement", "Networks"),
        )

    def _rule_container_spec(self, field: str, value: Any) -> None:
        rules: dict[str, Callable[[str, Any], None]] = {
            # Free: the user's own process, its arguments and terminal, and limits that bind
            # only its own processes (the cgroup limits in Resources still hold). Init is
            # docker-init as the daemon configures it (no path can be given here).
            **dict.fromkeys(
                [
                    "Args",
                    "Dir",
                    "TTY",
                    "OpenStdin",
                    "ReadOnly",
                    "StopSignal",
                    "StopGracePeriod",
                    "DNSConfig",
                    "Init",
                    "Ulimits",
                ],
                _free,
            ),
            # The server starts as root, with the capabilities its firewall needs: the image's
            # entrypoint (server-firewall) sets the rules and becomes uid 1000 with none left.
            # Another entrypoint (Command), or a healthcheck (run as the container's user, root),
            # would run as root with those capabilities.
            # Host entries could give "hub" or "traefik" another address; Hostname is free for
            # a container but a service's may be a template naming its node: never sent, none.
            # Secrets and configs are the swarm's, not the user's; sysctls and supplementary
            # groups (e.g. 0, docker) are privileges.
            **dict.fromkeys(
                [
                    "Command",
                    "Healthcheck",
                    "Hostname",
                    "Hosts",
                    "Groups",
                    "Secrets",
                    "Configs",
                    "Sysctls",
                ],
                _must_be_empty,
            ),
            "Image": self._rule_image,
            "Labels": self._rule_container_labels,
            "User": self._rule_service_user,
            "Env": self._rule_service_env,
            "CapabilityDrop": self._rule_cap_drop,
            "CapabilityAdd": self._rule_cap_add,
            "Privileges": self._rule_privileges,
            "Isolation": _one_of("", "default"),
            # Raising it is harmless; below 0 the server would outlive others in an OOM.
            "OomScoreAdj": _non_negative_int,
            "Mounts": self._rule_service_mounts,
        }
        _fields(
            field,
            value,
            rules,
            required=("Image", "User", "Env", "CapabilityDrop", "CapabilityAdd"),
        )

    @staticmethod
    def _rule_service_user(field: str, value: Any) -> None:
        if value != server_firewall.START_USER:
            raise Refused(
                f"{field} must be {server_firewall.START_USER!r} (got {_short(value)}): the server "
                "starts as root to set its own firewall, and its entrypoint becomes uid 1000"
            )

    @staticmethod
    def _rule_cap_add(field: str, value: Any) -> None:
        names = [cap.upper() for cap in _string_list(field, value)]
        given = sorted({cap if cap.startswith("CAP_") else f"CAP_{cap}" for cap in names})
        wanted = sorted(server_firewall.START_CAPABILITIES)
        if given != wanted or len(names) != len(given):
            raise Refused(
                f"{field} must be exactly {wanted} (what the server's firewall and its change "
                f"to uid 1000 need), got {_short(value)}"
            )

    def _rule_service_env(self, field: str, value: Any) -> None:
        """Free but for the loader's variables and the firewall's settings (pinned). Values
        are never quoted back: the environment holds the server's hub token."""
        given: dict[str, str] = {}
        for index, entry in enumerate(_string_list(field, value)):
            name, sep, item = entry.partition("=")
            if not sep or not name:
                raise Refused(f"{field}[{index}] is not NAME=value")
            if name in given:
                raise Refused(f"{field}: {name} is given twice")
            if name.startswith("LD_") or name in LOADER_VARIABLES:
                raise Refused(
                    f"{field}: {name} is not allowed (the dynamic loader or the C library reads "
                    "it, and the server's entrypoint starts as root)"
                )
            given[name] = item
        for name, wanted in self.settings.server_firewall_env:
            if given.get(name) != wanted:
                raise Refused(
                    f"{field} must set {name}={wanted!r}, the server firewall's setting as the "
                    "filter has it (give the hub and the filter the same settings)"
                )

    def _rule_container_labels(self, field: str, value: Any) -> None:
        """The task's container: no label, or the stack's label only."""
        key, wanted = self.settings.label_key, self.settings.label_value
        if not _empty(value) and value != {key: wanted}:
            raise Refused(f"{field} must be absent or exactly the stack label {key}={wanted}")

    @staticmethod
    def _rule_privileges(field: str, value: Any) -> None:
        # no-new-privileges is welcome (API 1.46); SELinux, seccomp, AppArmor and credential
        # specs are the sandbox's own settings: none may be changed.
        if value is None:
            return
        privileges = _object(field, value, {"NoNewPrivileges"})
        flag = privileges.get("NoNewPrivileges")
        if flag is not None and not isinstance(flag, bool):
            raise Refused(f"{field}.NoNewPrivileges must be true or false")

    def _rule_service_mounts(self, field: str, value: Any) -> None:
        # The hub mounts one tmpfs, the runtime directory: a tmpfs elsewhere (over /etc, over
        # the home volume) would hide what the image or the volume put there.
        self._rule_mounts(field, value, tmpfs_targets=frozenset({RUNTIME_DIR}))

    def _rule_resources(self, field: str, value: Any) -> None:
        limit = dict.fromkeys(["NanoCPUs", "MemoryBytes", "Pids"], _positive_int)
        reservation = dict.fromkeys(["NanoCPUs", "MemoryBytes"], _non_negative_int)
        rules: dict[str, Callable[[str, Any], None]] = {
            # Every limit set: a user server shares its node with other users' servers.
            "Limits": lambda name, item: _fields(name, item, limit, required=list(limit)),
            # Reservations only schedule; GenericResources (GPUs...) are not on the list.
            "Reservations": lambda name, item: _fields(
                name, {} if item is None else item, reservation
            ),
        }
        _fields(field, value, rules, required=("Limits",))

    def _rule_placement(self, field: str, value: Any) -> None:
        rules: dict[str, Callable[[str, Any], None]] = {
            "Constraints": self._rule_constraints,
            # These only choose among the nodes the constraints allow.
            **dict.fromkeys(["Preferences", "MaxReplicas", "Platforms"], _free),
        }
        _fields(field, value, rules, required=("Constraints",))

    def _rule_constraints(self, field: str, value: Any) -> None:
        given = [normalize_constraint(c) for c in _string_list(field, value)]
        wanted = list(self.settings.swarm_user_constraints)
        if given != wanted:
            raise Refused(
                f"{field} must be exactly SWARM_USER_CONSTRAINTS {wanted} (got {_short(value)})"
            )

    def _rule_service_networks(self, field: str, value: Any) -> None:
        network = self.settings.users_network
        if not isinstance(value, list) or len(value) != 1:
            raise Refused(f"{field} must be the users network {network!r} alone")
        # No aliases: a user service must not take over a name (hub, traefik) on the network.
        rules: dict[str, Callable[[str, Any], None]] = {
            "Target": self._rule_network_mode,
            "Aliases": _must_be_empty,
            "DriverOpts": _must_be_empty,
        }
        _fields(f"{field}[0]", value[0], rules, required=("Target",))

    @staticmethod
    def _rule_restart_policy(field: str, value: Any) -> None:
        if value is None:
            return
        rules: dict[str, Callable[[str, Any], None]] = {
            # A server that ended stays ended until the hub starts it again.
            "Condition": _one_of("none", "on-failure"),
            **dict.fromkeys(["Delay", "MaxAttempts", "Window"], _non_negative_int),
        }
        _fields(field, value, rules, required=("Condition",))
