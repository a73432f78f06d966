"""Which Docker API requests the filter forwards: pure functions of the request, no I/O.

``Policy(settings).check(method, path, query, body)`` decides on one request; for requests
about one container it also names the container, whose inspect result the proxy then hands to
``Policy.check_container`` (only containers carrying the stack's label may be touched).

What is allowed is what DockerSpawner 14 (through docker-py 7) sends for this stack's hub
configuration (hub/jupyterhub_config.py), and nothing else:

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
#: A container as the API names it in a path: an ID (or a prefix) or a container name.
CONTAINER_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
CONTAINER_ID = re.compile(r"[0-9a-f]{64}")
#: Docker's reading of a boolean query parameter: these are false, anything else is true.
FALSE_VALUES = frozenset({"", "0", "no", "false", "none"})


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
        )

    @property
    def label(self) -> str:
        return f"{self.label_key}={self.label_value}"


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
    #: Forward only if this container carries the stack's label (the proxy inspects it).
    container: str | None = None
    #: For a container request: the path before and after the container's name or ID.
    container_path: tuple[str, str] = ("", "")

    @property
    def message(self) -> str:
        """The one line the client sees (docker-py puts it in the hub's log)."""
        return f"docker-api-filter: {self.reason}"

    def for_container(self, container_id: str) -> Decision:
        """This decision, forwarded to the container's full ID (what was checked is acted on)."""
        before, after = self.container_path
        return Decision(
            allowed=True,
            reason=self.reason,
            path=f"{before}{container_id}{after}",
            query=self.query,
        )


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
    """Decides on one request (``check``) and on one container (``check_container``)."""

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

    def check_container(self, name: str, inspect: Mapping[str, Any]) -> Decision:
        """Whether a container (its inspect result) belongs to this stack: it has the label."""
        key, value = self.settings.label_key, self.settings.label_value
        config = inspect.get("Config") if isinstance(inspect, Mapping) else None
        labels = config.get("Labels") if isinstance(config, Mapping) else None
        container_id = inspect.get("Id") if isinstance(inspect, Mapping) else None
        if not isinstance(labels, Mapping) or labels.get(key) != value:
            return Decision(
                False,
                f"container {name}: does not carry the stack label {key}={value} "
                "(only this stack's user containers may be touched)",
                403,
            )
        if not isinstance(container_id, str) or not CONTAINER_ID.fullmatch(container_id):
            return Decision(False, f"container {name}: the daemon gave no valid Id", 502)
        return Decision(True, "container carries the stack label", container=container_id)

    # --- Routing -------------------------------------------------------------------------

    def _check(self, method: str, path: str, query: list[tuple[str, str]], body: bytes):
        version, endpoint = self._split_version(path)
        names = [name for name, _ in query]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise Refused(f"query parameter {repeated[0]!r} is repeated", 400)
        params = dict(query)

        def allow(reason: str, forward_query: Query | None = None) -> Decision:
            pairs = tuple(query if forward_query is None else forward_query)
            return Decision(True, reason, path=path, query=pairs)

        if endpoint == "/_ping" and method in ("GET", "HEAD"):
            self._params(params, set())
            self._no_body(body)
            return allow("ping")
        if endpoint == "/version" and method == "GET":
            self._params(params, set())
            self._no_body(body)
            return allow("version")
        if endpoint == "/containers/json" and method == "GET":
            self._params(params, {"all", "limit", "size", "filters"})
            self._no_body(body)
            return allow("list (stack label filter added)", self._list_query(query))
        if endpoint == "/containers/create" and method == "POST":
            self._params(params, {"name", "platform"})
            self._check_create_name(params.get("name"))
            config = parse_body(body)
            self._check_create(config)
            self._check_volumes_are_the_users(params["name"], config)
            return allow("create")
        if endpoint == "/images/create" and method == "POST":
            self._params(params, {"fromImage", "tag", "platform"})
            self._no_body(body)
            self._check_pull(params.get("fromImage", ""), params.get("tag", ""))
            return allow("pull of the single-user image")
        match = re.fullmatch(r"/images/(.+)/json", endpoint)
        if match and method == "GET":
            self._params(params, set())
            self._no_body(body)
            if match.group(1) != self.settings.image:
                raise Refused(
                    f"image {match.group(1)!r} is not the single-user image (SINGLEUSER_IMAGE)"
                )
            return allow("inspect the single-user image")
        match = re.fullmatch(r"/containers/([^/]+)(/[a-z]+)?", endpoint)
        if match:
            return self._container_request(method, path, version, match, query, body)
        raise Refused("not an endpoint DockerSpawner needs")

    # Container endpoints: (method, suffix) -> the query parameters Docker accepts there.
    CONTAINER_ENDPOINTS: Mapping[tuple[str, str], set[str]] = {
        ("GET", "/json"): {"size"},
        ("POST", "/start"): set(),
        ("POST", "/stop"): {"t", "signal"},
        ("POST", "/restart"): {"t", "signal"},
        ("POST", "/kill"): {"signal"},
        ("POST", "/wait"): {"condition"},
        ("DELETE", ""): {"v", "force", "link"},
    }

    def _container_request(self, method, path, version, match, query, body) -> Decision:
        ref, suffix = match.group(1), match.group(2) or ""
        allowed_params = self.CONTAINER_ENDPOINTS.get((method, suffix))
        if allowed_params is None:
            raise Refused("not an endpoint DockerSpawner needs")
        if not CONTAINER_REF.fullmatch(ref):
            raise Refused(f"{ref!r} is not a container name or ID", 400)
        params = dict(query)
        self._params(params, allowed_params)
        if body.strip():
            # Before API 1.24 a start body carried a HostConfig: never accept one.
            raise Refused("a body is not allowed here (start takes no HostConfig)")
        if method == "DELETE" and params.get("link", "").strip().lower() not in FALSE_VALUES:
            raise Refused("link must be false (links are not used)")
        return Decision(
            True,
            f"{suffix.strip('/') or 'remove'} of a stack container",
            path=path,
            query=tuple(query),
            container=ref,
            container_path=(f"{version}/containers/", suffix),
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

    # --- List: only the stack's containers ------------------------------------------------

    def _list_query(self, query: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The query with the stack's label in ``filters`` (the caller's filters kept, ANDed)."""
        filters: dict[str, list[str]] = {}
        out = []
        for name, value in query:
            if name != "filters":
                out.append((name, value))
                continue
            try:
                given = json.loads(value or "{}", object_pairs_hook=_no_duplicate_keys)
            except ValueError:
                raise Refused("filters is not valid JSON", 400) from None
            if not isinstance(given, dict):
                raise Refused("filters must be a JSON object", 400)
            for key, values in given.items():
                # Docker takes {"label": ["a=b"]} and {"label": {"a=b": true}}; never mixed.
                if isinstance(values, dict):
                    values = list(values)
                if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                    raise Refused(f"filters.{key} must be a list of strings", 400)
                filters[key] = values
        labels = filters.setdefault("label", [])
        if self.settings.label not in labels:
            labels.append(self.settings.label)
        out.append(("filters", json.dumps(filters, separators=(",", ":"))))
        return out

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

    def _check_create_name(self, name: str | None) -> None:
        if not name or not self.container_name.fullmatch(name):
            raise Refused(
                f"name {name!r} does not match USER_CONTAINER_NAME "
                f"{self.settings.user_container_name!r} (user containers only)"
            )

    def _check_volumes_are_the_users(self, name: str, config: dict) -> None:
        """A user container mounts its own user's volume only: the user in the volume's name
        (USER_VOLUME_NAME) is the user in the container's name (USER_CONTAINER_NAME), so that
        no container gets another user's home."""
        owner = self.container_name.fullmatch(name)
        wanted = owner.groupdict().get("username") if owner else None
        host = config.get("HostConfig") or {}
        sources = [spec.split(":")[0] for spec in host.get("Binds") or []]
        sources += [m.get("Source") for m in host.get("Mounts") or [] if m.get("Type") == "volume"]
        for source in sources:
            volume = self.volume_name.fullmatch(source or "")
            if volume and volume.groupdict().get("username") != wanted:
                raise Refused(
                    f"HostConfig volume {source!r} belongs to another user than container "
                    f"{name!r}: a container mounts its own user's volume only"
                )

    def _check_create(self, config: dict) -> None:
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
        _object("body", config, rules)
        for required in ("Image", "Labels", "HostConfig"):
            if required not in config:
                raise Refused(f"{required} is missing")
        for key, value in config.items():
            rules[key](key, value)

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
            "PidsLimit": self._rule_pids_limit,
            "Binds": self._rule_binds,
            "Mounts": self._rule_mounts,
        }
        host_config = _object(field, value, rules)
        for required in ("NetworkMode", "CapDrop", "SecurityOpt", "PidsLimit"):
            if required not in host_config:
                raise Refused(f"{field}.{required} is missing")
        for key, item in host_config.items():
            rules[key](f"{field}.{key}", item)

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

    @staticmethod
    def _rule_pids_limit(field: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise Refused(f"{field} must be a positive integer (got {_short(value)})")

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

    def _rule_mounts(self, field: str, value: Any) -> None:
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
            elif kind == "bind":
                if not self._is_ca_file(source) or target != CA_TARGET:
                    raise Refused(
                        f"{where}: a bind mount may only be the extra CA file at {CA_TARGET}"
                    )
                if mount.get("ReadOnly") is not True:
                    raise Refused(f"{where}.ReadOnly must be true for the extra CA file")
            else:
                raise Refused(f"{where}.Type {_short(kind)} is not allowed (volume, tmpfs)")
