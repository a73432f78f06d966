"""The Kubernetes path (k8s/, docs/kubernetes.md) against the owner of each fact it repeats.

No cluster runs here: these tests read the files. Each fact k8s/ shares with the rest of the
repository is compared with its owner: image names and service environments with
compose/compose.yml, setting names with src/stackconf/settings.yml, secret names with
src/stackconf/secrets.yml, scopes with the constants the hub and the broker use, roles and the
authenticator's configuration with hub/jupyterhub_config.py itself (loaded, as JupyterHub
loads it), users and commands with the images' Dockerfiles. The chart's value keys, KubeSpawner's
traits and the Keycloak resource's fields are checked against lists read from their upstream
sources (named where each list is).
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from jupyterhub.app import JupyterHub
from jupyterhub.spawner import Spawner
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from hubaccounts.handlers import SCOPE as ACCESS_REQUESTS_SCOPE
from hubbroker import KeycloakAuthenticator
from hubbroker.handlers import TOKEN_EXCHANGE_SCOPE
from stackconf import secrets as stack_secrets
from stackconf import settings

REPO = settings.REPO
K8S = REPO / "k8s"
DOC = REPO / "docs" / "kubernetes.md"
COMPOSE = yaml.safe_load((REPO / "compose" / "compose.yml").read_text())

#: Labels of the pods the chart and the Keycloak Operator make (z2jh's jupyterhub.matchLabels:
#: component and app; the operator's Constants.DEFAULT_LABELS), for the NetworkPolicies' peers.
Z2JH_POD = {"app": "jupyterhub"}
HUB_POD = {**Z2JH_POD, "component": "hub"}
PROXY_POD = {**Z2JH_POD, "component": "proxy"}
USER_POD = {**Z2JH_POD, "component": "singleuser-server"}
KEYCLOAK_POD = {"app": "keycloak", "app.kubernetes.io/managed-by": "keycloak-operator"}

#: Secret env names of compose's hub that have no counterpart under z2jh, and why.
NOT_IN_K8S = {
    "TRAEFIK_API_PASSWORD": "z2jh's proxy is configurable-http-proxy; the chart makes its token",
}

#: The secrets the k8s files refer to by name. stack-secrets holds the names of
#: src/stackconf/secrets.yml; keycloak-bootstrap-admin holds the operator's username/password.
STACK_SECRET = "stack-secrets"
SECRET_NAMES = {STACK_SECRET, "keycloak-bootstrap-admin"}

# The chart's value keys, read from jupyterhub/zero-to-jupyterhub-k8s
# jupyterhub/values.schema.yaml (commit 02dd73df01bdbb6d602fed21b0be12565ab38080) through the
# search tool: only the parts of the schema these values use, where the schema has
# additionalProperties false. None: free-form (Python config, Kubernetes objects).
_NETPOL = {
    "enabled": None,
    "ingress": None,
    "egress": None,
    "egressAllowRules": {
        k: None
        for k in (
            "cloudMetadataServer",
            "dnsPortsCloudMetadataServer",
            "dnsPortsKubeSystemNamespace",
            "dnsPortsPrivateIPs",
            "nonPrivateIPs",
            "privateIPs",
        )
    },
    "interNamespaceAccessLabels": None,
    "allowedIngressPorts": None,
}
_IMAGE = {"name": None, "tag": None, "pullPolicy": None, "pullSecrets": None}
Z2JH_KEYS: dict[str, Any] = {
    **dict.fromkeys(
        ("enabled", "fullnameOverride", "nameOverride", "imagePullSecret", "imagePullSecrets")
    ),
    **dict.fromkeys(("scheduling", "prePuller", "custom", "debug", "rbac", "global")),
    "hub": {
        **dict.fromkeys(
            (
                "revisionHistoryLimit config extraFiles baseUrl command args cookieSecret labels"
                " initContainers extraEnv extraConfig fsGid service pdb existingSecret"
                " nodeSelector tolerations activeServerLimit allowNamedServers annotations"
                " authenticatePrometheus concurrentSpawnLimit consecutiveFailureLimit"
                " podSecurityContext containerSecurityContext deploymentStrategy extraContainers"
                " extraVolumeMounts extraVolumes livenessProbe readinessProbe"
                " namedServerLimitPerUser redirectToServer resources lifecycle services loadRoles"
                " shutdownOnLogout templatePaths templateVars serviceAccount extraPodSpec"
            ).split()
        ),
        "image": _IMAGE,
        "networkPolicy": _NETPOL,
        "db": dict.fromkeys(("type", "pvc", "upgrade", "url", "password")),
    },
    "proxy": {
        **dict.fromkeys(
            "secretToken traefik labels annotations deploymentStrategy secretSync".split()
        ),
        "chp": {
            **dict.fromkeys(
                (
                    "revisionHistoryLimit extraCommandLineFlags extraEnv pdb nodeSelector"
                    " tolerations containerSecurityContext livenessProbe readinessProbe resources"
                    " defaultTarget errorTarget extraPodSpec"
                ).split()
            ),
            "image": _IMAGE,
            "networkPolicy": _NETPOL,
        },
        "service": dict.fromkeys(
            (
                "type labels annotations nodePorts disableHttpPort extraPorts loadBalancerIP"
                " loadBalancerSourceRanges"
            ).split()
        ),
        "https": dict.fromkeys("enabled type letsencrypt manual secret hosts".split()),
    },
    "singleuser": {
        **dict.fromkeys(
            (
                "podNameTemplate initContainers profileList extraFiles extraEnv nodeSelector"
                " extraTolerations extraNodeAffinity extraPodAffinity extraPodAntiAffinity cmd"
                " defaultUrl events extraAnnotations extraContainers extraLabels extraPodConfig"
                " extraResource fsGid lifecycleHooks networkTools serviceAccountName startTimeout"
                " allowPrivilegeEscalation uid"
            ).split()
        ),
        "image": _IMAGE,
        "networkPolicy": _NETPOL,
        "cpu": dict.fromkeys(("limit", "guarantee")),
        "memory": dict.fromkeys(("limit", "guarantee")),
        "cloudMetadata": dict.fromkeys(("blockWithIptables", "ip")),
        "storage": dict.fromkeys(
            (
                "capacity dynamic extraLabels extraVolumeMounts extraVolumes homeMountPath static"
                " type"
            ).split()
        ),
    },
    "ingress": dict.fromkeys(
        "enabled annotations ingressClassName hosts pathSuffix pathType tls".split()
    ),
    "cull": dict.fromkeys(
        "enabled users adminUsers removeNamedServers timeout every concurrency maxAge".split()
    ),
}
#: Enums of the same schema, for the values that choose among them.
Z2JH_ENUMS = {
    ("hub", "db", "type"): {"sqlite-pvc", "sqlite-memory", "mysql", "postgres", "other"},
    ("singleuser", "storage", "type"): {"dynamic", "static", "none"},
}

#: KubeSpawner's configurable traits that hub.config.KubeSpawner sets, checked against
#: jupyterhub-kubespawner 7.1.0 from PyPI (KubeSpawner.class_traits(config=True), in a scratch
#: environment: the package is not one of this project's dependencies).
KUBESPAWNER_TRAITS = {
    "gid",
    "automount_service_account_token",
    "pod_security_context",
    "container_security_context",
}

# The Keycloak resource's fields, read from keycloak/keycloak
# operator/src/main/java/org/keycloak/operator/crds/v2alpha1/deployment/KeycloakSpec.java and
# spec/*Spec.java (their JSON property names) through the search tool.
_VALUE_OR_SECRET = {"name": None, "value": None, "secret": None}
KEYCLOAK_SPEC: dict[str, Any] = {
    **dict.fromkeys(
        (
            "instances image startOptimized imagePullSecrets truststores cache resources"
            " features transaction scheduling tracing update readinessProbe livenessProbe"
            " startupProbe serviceMonitor httpManagement"
        ).split()
    ),
    "additionalOptions": _VALUE_OR_SECRET,
    "env": _VALUE_OR_SECRET,
    "http": dict.fromkeys(("tlsSecret", "httpEnabled", "httpPort", "httpsPort")),
    "db": dict.fromkeys(
        (
            "vendor usernameSecret passwordSecret database host port schema url poolInitialSize"
            " poolMinSize poolMaxSize"
        ).split()
    ),
    "hostname": dict.fromkeys(("hostname", "admin", "strict", "backchannelDynamic")),
    "ingress": dict.fromkeys(("enabled", "className", "annotations", "tlsSecret")),
    "proxy": {"headers": None},
    "bootstrapAdmin": {"user": {"secret": None}, "service": {"secret": None}},
    "networkPolicy": dict.fromkeys(("enabled", "http", "https", "management")),
    "unsupported": {"podTemplate": None},
}


# --- Reading the files --------------------------------------------------------------------


def k8s_files() -> list[Path]:
    return sorted(K8S.glob("*.yaml"))


def load_all(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def manifests() -> list[dict]:
    """Every Kubernetes object of k8s/ (values.yaml is Helm values, not an object)."""
    return [d for p in k8s_files() if p.name != "values.yaml" for d in load_all(p)]


def values() -> dict:
    return yaml.safe_load((K8S / "values.yaml").read_text())


def the(kind: str, name: str) -> dict:
    found = [d for d in manifests() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"k8s/: expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def containers(workload: dict) -> list[dict]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def walk(node: Any, path: tuple = ()):
    """Every (path, key, value) of a YAML tree; a list's items under their index."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield path, i, item
            yield from walk(item, (*path, i))


def compose_image(service: str) -> tuple[str, str]:
    """compose's image of a service: its name, and its tag (a ${VAR:-default}'s default)."""
    name, _, tag = COMPOSE["services"][service]["image"].partition(":")
    default = re.fullmatch(r"\$\{[A-Z_]+:-([^}]*)\}", tag)
    return name, default.group(1) if default else tag


def compose_env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in COMPOSE["services"][service].get("environment", {}).items()}


def compose_refs(value: str) -> set[str]:
    """The variables a compose value interpolates: ${NAME}, ${NAME:-x}, ${NAME:?x}."""
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", value))


def names_allowed(service: str) -> set[str]:
    """Env names a k8s workload of this compose service may use: a setting, a name compose
    gives the service, or a variable compose interpolates into the service's environment."""
    env = compose_env(service)
    refs = set().union(*(compose_refs(v) for v in env.values()))
    return set(settings.VARIABLES) | set(env) | refs


def hub_env() -> list[dict]:
    return values()["hub"]["extraEnv"]


def expand(env: list[dict]) -> dict[str, str]:
    """The environment a container gets from an env list: Kubernetes expands $(NAME) only from
    a variable listed before it. Secrets become placeholders named after their key."""
    out: dict[str, str] = {}
    for item in env:
        if "valueFrom" in item:
            out[item["name"]] = f"secret-{item['valueFrom']['secretKeyRef']['key']}"
        else:
            out[item["name"]] = re.sub(
                r"\$\(([A-Z_][A-Z0-9_]*)\)",
                lambda m: out.get(m.group(1), m.group(0)),
                item["value"],
            )
    return out


def dockerfile(image: str) -> str:
    return (REPO / "images" / image / "Dockerfile").read_text()


def dockerfile_uid(image: str) -> int:
    return int(re.search(r"useradd [^\n]*--uid (\d+)", dockerfile(image)).group(1))


# --- Every file -----------------------------------------------------------------------------


def test_every_file_is_valid_yaml_and_every_object_says_what_it_is():
    assert [p.name for p in k8s_files()], "k8s/ has no YAML file"
    for path in k8s_files():
        docs = load_all(path)  # raises on invalid YAML
        assert docs, f"{path}: empty"
        if path.name == "values.yaml":
            continue
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= set(doc), f"{path}: {doc}"
            assert doc["metadata"].get("name"), f"{path}: a {doc['kind']} without a name"


def test_k8s_readme_points_to_the_doc():
    readme = (K8S / "README.md").read_text()
    assert "docs/kubernetes.md" in readme
    assert len(readme.strip().splitlines()) <= 3


# --- Images: compose's names, compose's default tag ------------------------------------------


def test_each_workload_runs_the_image_of_its_compose_service():
    v = values()
    our_images = {
        "hub": f"{v['hub']['image']['name']}:{v['hub']['image']['tag']}",
        "singleuser": f"{v['singleuser']['image']['name']}:{v['singleuser']['image']['tag']}",
        "keycloak": the("Keycloak", "keycloak")["spec"]["image"],
        "fruit-api": containers(the("Deployment", "fruit-api"))[0]["image"],
        "postgres": containers(the("StatefulSet", "postgres"))[0]["image"],
    }
    for container in containers(the("Job", "idp-apply")):
        assert container["image"] == ":".join(compose_image("idp")), container["name"]
    for service, image in our_images.items():
        assert image == ":".join(compose_image(service)), f"{service}: {image}"


def test_no_image_that_compose_does_not_build_or_run():
    compose_names = {compose_image(s)[0] for s in COMPOSE["services"]}
    for doc in manifests():
        for _, key, value in walk(doc):
            if key == "image" and isinstance(value, str):
                assert value.partition(":")[0] in compose_names, f"{doc['kind']}: {value}"


# --- Environment names: settings or compose ----------------------------------------------------


@pytest.mark.parametrize(
    "service, env_lists",
    [
        ("hub", lambda: [hub_env()]),
        (
            "fruit-api",
            lambda: [c.get("env", []) for c in containers(the("Deployment", "fruit-api"))],
        ),
        ("idp", lambda: [c.get("env", []) for c in containers(the("Job", "idp-apply"))]),
        (
            "postgres",
            lambda: [c.get("env", []) for c in containers(the("StatefulSet", "postgres"))],
        ),
        ("keycloak", lambda: [the("Keycloak", "keycloak")["spec"].get("env", [])]),
    ],
    ids=["hub", "fruit-api", "idp", "postgres", "keycloak"],
)
def test_env_names_are_settings_or_the_names_compose_gives_that_service(service, env_lists):
    allowed = names_allowed(service)
    for env in env_lists():
        for item in env:
            assert item["name"] in allowed, (
                f"{service}: {item['name']} is not a setting (src/stackconf/settings.yml) "
                "nor a name in compose's environment of the service"
            )


def test_the_hubs_secret_env_of_compose_is_all_in_values_from_the_same_secrets():
    """Each hub variable compose fills from a generated secret is in hub.extraEnv, filled from
    the same secret's key (directly, or through a $(VAR) that is)."""
    env = {item["name"]: item for item in hub_env()}
    key_of = {n: i["valueFrom"]["secretKeyRef"]["key"] for n, i in env.items() if "valueFrom" in i}
    required = {
        name: compose_refs(value) & set(stack_secrets.SECRET_NAMES)
        for name, value in compose_env("hub").items()
        if compose_refs(value) & set(stack_secrets.SECRET_NAMES)
    }
    assert required, "compose's hub gets no secret? the test lost its reference"
    for name, secrets_used in required.items():
        if name in NOT_IN_K8S:
            assert name not in env
            continue
        assert name in env, f"hub.extraEnv lacks {name} (compose's hub has it)"
        via = (
            {key_of[name]}
            if name in key_of
            else {
                key_of[ref] for ref in re.findall(r"\$\(([A-Z_][A-Z0-9_]*)\)", env[name]["value"])
            }
        )
        assert via == secrets_used, f"{name}: from {via}, compose: {secrets_used}"


def test_env_refers_only_to_variables_listed_before_it():
    for env in [
        hub_env(),
        *(
            c.get("env", [])
            for d in manifests()
            if d["kind"] in ("Deployment", "StatefulSet", "Job")
            for c in containers(d)
        ),
    ]:
        seen: set[str] = set()
        for item in env:
            for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", item.get("value", "")):
                assert ref in seen, f"{item['name']} refers to $({ref}), not listed before it"
            seen.add(item["name"])


def test_extra_config_reads_only_settings_of_the_table():
    for code in values()["hub"]["extraConfig"].values():
        for name in re.findall(
            r"\bconf\.get(?:_int|_float|_bool|_list|_path)?\(\s*\"(\w+)\"", code
        ):
            assert name in settings.VARIABLES, name


# --- Secrets: by reference only ----------------------------------------------------------------

SECRET_KEY = re.compile(r"passw|secret|token|crypt|cookie|api_?key|private", re.IGNORECASE)
#: Keys whose value names a Secret (never holds one).
SECRET_NAME_KEYS = {"secret", "secretName", "existingSecret"}
#: Shapes of the values src/stackconf/secrets.yml generates: hex, token (43 URL-safe).
GENERATED = [
    re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{64}(?![0-9a-fA-F])"),
    re.compile(r"(?<![\w-])(?=[\w-]*[a-z])(?=[\w-]*[A-Z])(?=[\w-]*\d)[\w-]{43}(?![\w-])"),
]


def is_secret_env(name: str) -> bool:
    return bool(SECRET_KEY.search(name)) or name in stack_secrets.SECRET_NAMES


def test_no_secret_value_is_committed():
    trees = [values(), *manifests()]
    for tree in trees:
        for path, key, value in walk(tree):
            where = "/".join(map(str, (*path, key)))
            if isinstance(key, str) and SECRET_KEY.search(key) and isinstance(value, str):
                assert key in SECRET_NAME_KEYS, f"{where}: a literal under a secret's key"
                assert value in SECRET_NAMES, f"{where}: names Secret {value!r}"
            if isinstance(value, dict) and {"name", "value"} <= set(value):
                if is_secret_env(str(value["name"])):
                    raise AssertionError(f"{where}: {value['name']} has a literal value")
    for path in [*K8S.iterdir(), DOC]:
        text = path.read_text()
        for shape in GENERATED:
            found = shape.search(text)
            assert not found, f"{path}: a generated secret's shape at offset {found.start()}"


def test_secret_references_name_our_secrets_and_their_keys():
    keys = set(stack_secrets.KINDS)
    refs = 0
    for tree in [values(), *manifests()]:
        for path, key, value in walk(tree):
            if key in ("secretKeyRef", "passwordSecret", "usernameSecret"):
                refs += 1
                assert value["name"] == STACK_SECRET, f"{path}: {value}"
                assert value["key"] in keys, f"{path}: {value['key']} not in secrets.yml"
            if key == "secretRef":
                assert value["name"] == STACK_SECRET
    assert refs >= 10
    v = values()
    assert v["hub"].get("cookieSecret") is None and v["hub"].get("existingSecret") is None
    assert "CryptKeeper" not in v["hub"]["config"]
    assert "password" not in v["hub"]["db"] and "url" not in v["hub"]["db"]
    assert v.get("proxy", {}).get("secretToken") is None


# --- The hub: the same configuration as hub/jupyterhub_config.py ------------------------------


def test_the_custom_scopes_are_the_scopes_of_their_owners():
    scopes = values()["hub"]["config"]["JupyterHub"]["custom_scopes"]
    assert set(scopes) == {TOKEN_EXCHANGE_SCOPE, ACCESS_REQUESTS_SCOPE}


@pytest.fixture
def both_configs(monkeypatch) -> tuple[Config, Config]:
    """hub/jupyterhub_config.py and the chart's hub (values.yaml: hub.config, hub.loadRoles,
    hub.extraConfig, as z2jh applies them), loaded in the environment hub.extraEnv gives."""
    for name in settings.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # The hub config's branch for containers (compose), the one user pods mirror.
    monkeypatch.setenv("HUB_SPAWNER", "docker")
    for name, value in expand(hub_env()).items():
        monkeypatch.setenv(name, value)
    path = REPO / "hub" / "jupyterhub_config.py"
    ours = PyFileConfigLoader(path.name, str(path.parent)).load_config()

    v = values()
    c = Config()
    # z2jh's jupyterhub_config.py, the parts our values reach: singleuser passthroughs, then
    # hub.loadRoles, hub.config, and hub.extraConfig last.
    c.KubeSpawner.environment = dict(v["singleuser"].get("extraEnv") or {})
    c.JupyterHub.load_roles = [{"name": k, **r} for k, r in v["hub"]["loadRoles"].items()]
    for app, cfg in v["hub"]["config"].items():
        c[app].update(cfg)
    for _, code in sorted(v["hub"]["extraConfig"].items()):
        exec(compile(code, "hub.extraConfig", "exec"), {"c": c})  # noqa: S102 (our own values)
    return ours, c


def test_the_authenticator_is_configured_as_in_the_hub_config(both_configs):
    ours, k8s = both_configs
    assert ours.KeycloakAuthenticator, "the hub config sets nothing on KeycloakAuthenticator?"
    for trait, value in ours.KeycloakAuthenticator.items():
        assert k8s.KeycloakAuthenticator.get(trait) == value, trait
    for trait in (
        "authenticator_class",
        "custom_scopes",
        "db_url",
        "subdomain_host",
        "token_expires_in_max_seconds",
        "shutdown_on_logout",
        "template_vars",
    ):
        assert k8s.JupyterHub.get(trait) == ours.JupyterHub[trait], trait
    assert k8s.Authenticator.blocked_users == ours.Authenticator.blocked_users


def test_the_roles_are_the_hub_configs_but_the_culler_that_z2jh_brings(both_configs):
    ours, k8s = both_configs
    theirs = {r["name"]: r for r in ours.JupyterHub.load_roles if r["name"] != "idle-culler"}
    assert {r["name"]: r for r in k8s.JupyterHub.load_roles} == theirs
    assert values()["cull"]["enabled"] is True
    culler = next(s for s in ours.JupyterHub.services if s["name"] == "idle-culler")
    assert f"--timeout={values()['cull']['timeout']}" in culler["command"]


def test_user_servers_get_what_the_hub_config_gives_them(both_configs):
    ours, k8s = both_configs
    su = values()["singleuser"]
    for name, value in ours.Spawner.environment.items():
        assert k8s.KubeSpawner.environment[name] == value, name
    assert k8s.Spawner.args == ours.Spawner.args
    assert k8s.Spawner.http_timeout == ours.Spawner.http_timeout
    assert su["defaultUrl"] == ours.Spawner.default_url
    assert su["startTimeout"] == ours.Spawner.start_timeout
    # The runtime directory (token files) is the in-memory volume, at the image user's.
    runtime = k8s.KubeSpawner.environment["XDG_RUNTIME_DIR"]
    assert runtime == f"/run/user/{dockerfile_uid('singleuser')}"
    mounts = {m["mountPath"]: m["name"] for m in su["storage"]["extraVolumeMounts"]}
    volume = next(x for x in su["storage"]["extraVolumes"] if x["name"] == mounts[runtime])
    assert volume["emptyDir"]["medium"] == "Memory"


def test_paths_and_commands_are_the_images():
    v = values()
    templates = re.search(r"^COPY hub/templates (\S+)$", dockerfile("hub"), re.M).group(1)
    assert v["hub"]["config"]["JupyterHub"]["template_paths"] == [templates]
    registry = re.search(r"IDP_API_REGISTRY=(\S+)", dockerfile("hub")).group(1)
    mounts = {m["mountPath"]: m["name"] for m in v["hub"]["extraVolumeMounts"]}
    volume = next(
        x for x in v["hub"]["extraVolumes"] if x["name"] == mounts[str(Path(registry).parent)]
    )
    assert volume["configMap"] == {
        "name": "idp",
        "items": [{"key": "apis.yml", "path": "apis.yml"}],
    }
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile("singleuser"), re.M).group(1))
    assert v["singleuser"]["cmd"] == cmd
    job = next(c for c in the("Job", "idp-apply")["spec"]["template"]["spec"]["containers"])
    assert job["args"] == COMPOSE["services"]["idp"]["command"]


# --- Least rights -------------------------------------------------------------------------------


def test_user_pods_have_compose_least_rights():
    v = values()
    su, ks = v["singleuser"], v["hub"]["config"]["KubeSpawner"]
    assert su["uid"] == dockerfile_uid("singleuser") == ks["gid"]
    assert su["allowPrivilegeEscalation"] is False
    assert ks["container_security_context"]["capabilities"] == {"drop": ["ALL"]}
    assert ks["container_security_context"]["runAsNonRoot"] is True
    assert ks["pod_security_context"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert ks["automount_service_account_token"] is False
    assert set(ks) <= KUBESPAWNER_TRAITS, set(ks) - KUBESPAWNER_TRAITS
    assert str(su["memory"]["limit"]) == settings.VARIABLES["USER_MEM_LIMIT"].default
    assert float(su["cpu"]["limit"]) == float(settings.VARIABLES["USER_CPU_LIMIT"].default)
    assert su["cloudMetadata"]["blockWithIptables"] is False  # no privileged init container


def test_our_pods_run_unprivileged_without_capabilities():
    v = values()
    assert v["hub"]["containerSecurityContext"]["runAsUser"] == dockerfile_uid("hub")
    for name, ctx in [
        ("hub", v["hub"]["containerSecurityContext"]),
        ("proxy", v["proxy"]["chp"]["containerSecurityContext"]),
    ]:
        assert ctx["allowPrivilegeEscalation"] is False, name
        assert ctx["capabilities"] == {"drop": ["ALL"]}, name
    for doc in manifests():
        if doc["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        name = doc["metadata"]["name"]
        assert pod_spec(doc)["securityContext"]["runAsNonRoot"] is True, name
        assert pod_spec(doc)["automountServiceAccountToken"] is False, name
        for c in containers(doc):
            ctx = c["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert ctx["capabilities"] == {"drop": ["ALL"]}, (name, c["name"])
            assert "limits" in c["resources"], (name, c["name"])
    fruit = pod_spec(the("Deployment", "fruit-api"))["securityContext"]
    assert fruit["runAsUser"] == dockerfile_uid("fruit-api")
    keycloak = the("Keycloak", "keycloak")["spec"]["unsupported"]["podTemplate"]["spec"]
    assert keycloak["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}


# --- Keys: the chart's, KubeSpawner's, the Keycloak resource's --------------------------------


def unknown_keys(tree: dict, allowed: dict, path: str = "") -> list[str]:
    out = []
    for key, value in tree.items():
        if key not in allowed:
            out.append(f"{path}{key}")
        elif isinstance(allowed[key], dict) and isinstance(value, dict):
            out += unknown_keys(value, allowed[key], f"{path}{key}.")
        elif isinstance(allowed[key], dict) and isinstance(value, list):
            for item in value:
                out += unknown_keys(item, allowed[key], f"{path}{key}[].")
    return out


def test_values_use_only_keys_of_the_chart():
    v = values()
    assert unknown_keys(v, Z2JH_KEYS) == []
    for path, allowed in Z2JH_ENUMS.items():
        node = v
        for key in path:
            node = node[key]
        assert node in allowed, (path, node)


def test_hub_config_sets_only_traits_that_exist():
    classes = {
        "JupyterHub": JupyterHub,
        "Spawner": Spawner,
        "KeycloakAuthenticator": KeycloakAuthenticator,
    }
    for app, cfg in values()["hub"]["config"].items():
        if app == "KubeSpawner":
            continue  # not installed here: test_user_pods_have_compose_least_rights
        traits = classes[app].class_traits(config=True)
        assert set(cfg) <= set(traits), (app, set(cfg) - set(traits))


def test_the_keycloak_resource_uses_only_its_fields():
    kc = the("Keycloak", "keycloak")
    assert kc["apiVersion"] in ("k8s.keycloak.org/v2alpha1", "k8s.keycloak.org/v2beta1")
    assert unknown_keys(kc["spec"], KEYCLOAK_SPEC) == []


# --- Keycloak and the URLs: one place each -----------------------------------------------------


def test_keycloak_runs_as_compose_and_the_image_say():
    spec = the("Keycloak", "keycloak")["spec"]
    env = expand(hub_env())
    options = {o["name"]: o.get("value") for o in spec["additionalOptions"]}
    assert spec["instances"] == 2
    assert spec["hostname"]["hostname"] == env["KEYCLOAK_PUBLIC_URL"]
    assert spec["hostname"]["backchannelDynamic"] is True
    assert spec["http"]["httpEnabled"] is True
    assert spec["ingress"]["enabled"] is False  # k8s/ingress.yaml publishes the public paths
    relative = re.search(r"KC_HTTP_RELATIVE_PATH=(\S+)", dockerfile("keycloak")).group(1)
    assert options["http-relative-path"] == relative == urlsplit(env["KEYCLOAK_PUBLIC_URL"]).path
    init = (REPO / "compose" / "postgres" / "init-databases.sh").read_text()
    assert f"CREATE USER {options['db-username']} " in init
    assert f"CREATE DATABASE {spec['db']['database']} OWNER {options['db-username']}" in init
    assert spec["db"]["host"] == the("Service", "postgres")["metadata"]["name"]
    assert spec["db"]["passwordSecret"]["key"] in compose_refs(
        compose_env("keycloak")["KC_DB_PASSWORD"]
    )


def test_every_url_names_the_service_that_answers_it():
    env = expand(hub_env())
    keycloak = f"http://{the('Keycloak', 'keycloak')['metadata']['name']}-service:8080"
    relative = urlsplit(env["KEYCLOAK_PUBLIC_URL"]).path
    realm = env["KEYCLOAK_REALM"]
    fruit = {e["name"]: e["value"] for e in containers(the("Deployment", "fruit-api"))[0]["env"]}
    job = {e["name"]: e["value"] for e in containers(the("Job", "idp-apply"))[-1]["env"]}
    assert env["KEYCLOAK_INTERNAL_URL"] == job["KEYCLOAK_ADMIN_URL"] == keycloak + relative
    assert fruit["FRUIT_API_ISSUER"] == f"{env['KEYCLOAK_PUBLIC_URL']}/realms/{realm}"
    assert fruit["FRUIT_API_JWKS_URL"] == (
        f"{keycloak}{relative}/realms/{realm}/protocol/openid-connect/certs"
    )
    service = the("Service", "fruit-api")
    assert env["FRUIT_API_PUBLIC_URL"] == (
        f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    )
    assert urlsplit(env["HUB_DB_URL"]).hostname == the("Service", "postgres")["metadata"]["name"]
    assert job["HUB_PUBLIC_URL"] == env["HUB_PUBLIC_URL"]
    assert realm in job["IDP_REALMS"].split(",")
    # The public host names: the chart's ingress, k8s/ingress.yaml's.
    hub_host = urlsplit(env["HUB_PUBLIC_URL"]).hostname
    assert values()["ingress"]["hosts"] == [hub_host, f"*.{hub_host}"]
    rules = the("Ingress", "keycloak-public")["spec"]["rules"]
    assert [r["host"] for r in rules] == [urlsplit(env["KEYCLOAK_PUBLIC_URL"]).hostname]
    hosts = [r["host"] for r in the("Ingress", "hub-inside-only")["spec"]["rules"]]
    assert hosts == values()["ingress"]["hosts"]


def routes_yml() -> str:
    return (REPO / "compose" / "traefik" / "routes.yml").read_text()


def ingress_paths(name: str) -> dict[str, str]:
    rules = the("Ingress", name)["spec"]["rules"]
    return {p["path"]: p["backend"]["service"]["name"] for r in rules for p in r["http"]["paths"]}


def test_public_routes_are_compose_traefiks():
    routes = routes_yml()
    keycloak_rule = re.search(r"^    keycloak:\n      rule: >-\n((?:        .*\n)+)", routes, re.M)
    public = set(re.findall(r"(?<!!)PathPrefix\(`([^`]+)`\)", keycloak_rule.group(1)))
    hidden = set(re.findall(r"!PathPrefix\(`([^`]+)`\)", keycloak_rule.group(1)))
    paths = ingress_paths("keycloak-public")
    assert {p for p, s in paths.items() if s == "keycloak-service"} == public
    assert {p for p, s in paths.items() if s == "refused"} == hidden
    inside = re.search(r"PathRegexp\(`/hub/\(([^)]+)\)`\)", routes).group(1).split("|")
    assert set(ingress_paths("hub-inside-only")) == {f"/hub/{p}" for p in inside}
    assert set(ingress_paths("hub-inside-only").values()) == {"refused"}
    assert the("Service", "refused")["spec"]["selector"]  # selects no pod: nothing answers


# --- Network policies: deny by default, allow what is listed ----------------------------------

FORBIDDEN_FOR_USERS = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
]


def our_pods() -> dict[str, dict]:
    """Labels of every pod k8s/ and the chart make, by name."""
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in manifests()
        if d["kind"] in ("Deployment", "StatefulSet", "Job")
    }
    return {**pods, "hub": HUB_POD, "proxy": PROXY_POD, "user": USER_POD, "keycloak": KEYCLOAK_POD}


def selects(selector: dict, labels: dict) -> bool:
    match = selector.get("matchLabels", {})
    return bool(match) and match.items() <= labels.items()


def network_policies() -> list[dict]:
    return [d for d in manifests() if d["kind"] == "NetworkPolicy"]


def test_every_pod_of_ours_is_denied_by_default_both_ways():
    for name, labels in our_pods().items():
        if name in ("hub", "proxy", "user"):
            continue  # the chart's: test_the_charts_policies_are_on
        types = {
            t
            for np in network_policies()
            if selects(np["spec"]["podSelector"], labels)
            for t in np["spec"]["policyTypes"]
        }
        if name == "keycloak":
            assert the("Keycloak", "keycloak")["spec"]["networkPolicy"]["enabled"] is True
            types.add("Ingress")  # the operator's policy
        assert types == {"Ingress", "Egress"}, f"{name}: {types}"


def test_every_rule_names_its_peers_and_ports():
    pods = our_pods()
    for np in network_policies():
        spec, name = np["spec"], np["metadata"]["name"]
        assert spec["podSelector"].get("matchLabels"), f"{name}: selects every pod"
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            for rule in spec.get(direction, []):
                assert rule.get(peers_key), f"{name}: a {direction} rule open to all peers"
                assert rule.get("ports"), f"{name}: a {direction} rule on every port"
                for peer in rule[peers_key]:
                    assert "ipBlock" not in peer, f"{name}: {peer}"
                    if "podSelector" in peer:
                        assert any(selects(peer["podSelector"], p) for p in pods.values()), (
                            f"{name}: {peer} selects none of our pods (a typo?)"
                        )
                    else:  # only DNS in kube-system
                        ns = peer["namespaceSelector"]["matchLabels"]
                        assert ns == {"kubernetes.io/metadata.name": "kube-system"}, name
                        assert {p["port"] for p in rule["ports"]} == {53}, name


def test_user_servers_reach_only_the_fruit_api_among_our_pods():
    pods = our_pods()
    reached = set()
    for np in network_policies():
        for rule in np["spec"].get("ingress", []):
            if any(selects(p.get("podSelector", {}), USER_POD) for p in rule["from"]):
                reached |= {n for n, lab in pods.items() if selects(np["spec"]["podSelector"], lab)}
    assert reached == {"fruit-api"}
    kc = the("Keycloak", "keycloak")["spec"]["networkPolicy"]
    for port in ("http", "management"):
        assert kc[port], f"Keycloak's {port} list is empty: every source is admitted"
        assert not any(selects(p.get("podSelector", {}), USER_POD) for p in kc[port])
        for peer in kc[port]:
            assert "podSelector" in peer or "namespaceSelector" in peer, peer


def test_the_charts_policies_are_on_and_closed_to_the_metadata_server():
    v = values()
    for name, np in [
        ("hub", v["hub"]["networkPolicy"]),
        ("proxy", v["proxy"]["chp"]["networkPolicy"]),
        ("singleuser", v["singleuser"]["networkPolicy"]),
    ]:
        assert np["enabled"] is True, name
        assert np["egressAllowRules"]["cloudMetadataServer"] is False, name
        assert np["egressAllowRules"]["dnsPortsCloudMetadataServer"] is False, name
    # The hub's one extra ingress: Keycloak's back-channel logout.
    (rule,) = v["hub"]["networkPolicy"]["ingress"]
    assert [p["podSelector"]["matchLabels"] for p in rule["from"]] == [KEYCLOAK_POD]


def test_user_servers_egress_is_the_listed_pods_and_the_internet_only():
    np = values()["singleuser"]["networkPolicy"]
    allow = np["egressAllowRules"]
    assert allow["privateIPs"] is False and allow["nonPrivateIPs"] is False
    assert not np.get("ingress")  # only the chart's: the hub and the proxy
    fruit = the("Deployment", "fruit-api")
    fruit_port = containers(fruit)[0]["ports"][0]["containerPort"]
    expected = {
        json.dumps(fruit["spec"]["template"]["metadata"]["labels"], sort_keys=True): fruit_port,
        json.dumps(PROXY_POD, sort_keys=True): 8000,
    }
    metadata = ipaddress.ip_network(f"{values()['singleuser']['cloudMetadata']['ip']}/32")
    seen = {}
    for rule in np["egress"]:
        assert rule.get("to"), "a rule to every destination"
        for peer in rule["to"]:
            if "ipBlock" in peer:
                excepted = [ipaddress.ip_network(n) for n in peer["ipBlock"].get("except", [])]
                for net in [*map(ipaddress.ip_network, FORBIDDEN_FOR_USERS), metadata]:
                    assert any(net.subnet_of(e) for e in excepted), f"{net} is reachable"
                continue
            assert set(peer) == {"podSelector"}, peer
            key = json.dumps(peer["podSelector"]["matchLabels"], sort_keys=True)
            seen[key] = [p["port"] for p in rule["ports"]]
    assert seen == {k: [port] for k, port in expected.items()}


# --- The doc: how to install, and what was run ---------------------------------------------------


def test_the_doc_creates_every_secret_and_configmap_the_files_use():
    doc = DOC.read_text()
    created_secrets = set(re.findall(r"kubectl create secret generic ([\w-]+)", doc))
    created_maps = set(re.findall(r"kubectl create configmap ([\w-]+)", doc))
    used_maps = {
        value["name"]
        for tree in [values(), *manifests()]
        for _, key, value in walk(tree)
        if key == "configMap"
    }
    assert created_secrets == SECRET_NAMES
    assert created_maps == used_maps == {"idp", "postgres-init"}
    # The ConfigMap `idp` holds the keys its users mount.
    idp_command = re.search(r"kubectl create configmap idp(?:[^\n]*\\\n)*[^\n]*", doc).group(0)
    assert "apis.yml=idp/apis.yml" in idp_command and "idp.tgz=" in idp_command
    assert "--from-file=compose/postgres/init-databases.sh" in doc


def test_the_doc_pins_the_chart_once_and_keycloak_as_the_image():
    doc = DOC.read_text()
    assert (
        re.findall(r"^Z2JH_VERSION=(4\.\d+\.\d+)$", doc, re.M) and doc.count("Z2JH_VERSION=") == 1
    )
    keycloak = re.search(r"^FROM quay.io/keycloak/keycloak:(\S+)$", dockerfile("keycloak"), re.M)
    assert re.findall(r"^KEYCLOAK_VERSION=(\S+)", doc, re.M) == [keycloak.group(1)]
    assert "## What was run and what was not" in doc
