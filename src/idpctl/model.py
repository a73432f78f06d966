"""The desired state of one realm: its files in idp/realms/<realm>/ plus what the API
registry derives, with ${VAR} placeholders resolved."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apiregistry import ApiSpec, ConfigError, Problem, ScopeSpec
from idpctl import fields, flows, permissions, profile
from idpctl.templates import expand, read_yaml_file
from stackconf import settings as conf

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MANAGED_MARK = "idpctl"
#: The realm attribute where idpctl records what it manages (idpctl.live): never in a file.
TRACKING_ATTRIBUTE = "idpctl.managed"
#: Clients Keycloak creates in every realm: never redefined by an API, never deleted.
BUILTIN_CLIENTS = {
    "account",
    "account-console",
    "admin-cli",
    "broker",
    "realm-management",
    "security-admin-console",
}
#: Client scopes Keycloak creates in every realm; files may reference them.
BUILTIN_SCOPES = {
    "acr",
    "address",
    "basic",
    "email",
    "microprofile-jwt",
    "offline_access",
    "organization",
    "phone",
    "profile",
    "role_list",
    "roles",
    "saml_organization",
    "service_account",
    "web-origins",
}


def builtin_roles(realm: str) -> set[str]:
    """Realm roles Keycloak creates in every realm; files may reference them."""
    return {"offline_access", "uma_authorization", f"default-roles-{realm}"}


@dataclass
class Desired:
    """Objects keyed by their name (clientId, scope name, role name, group name, username).
    Sub-resources live under keys starting with ``_`` and are applied through their own
    endpoints: ``_protocolMappers``, ``_defaultScopes``, ``_optionalScopes``, ``_roles``,
    ``_groups``. ``default_groups`` are realm.yml's defaultGroups (by group name),
    ``admin_permissions`` come from admin-permissions.yml (idpctl.permissions),
    ``authentication_flows`` from authentication-flows/ (idpctl.flows), ``user_profile``
    (attributes by name; None: no file) from user-profile.yml (idpctl.profile)."""

    realm: str
    settings: dict[str, Any]
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    client_scopes: dict[str, dict[str, Any]] = field(default_factory=dict)
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    admin_permissions: dict[str, dict[str, Any]] = field(default_factory=dict)
    authentication_flows: dict[str, dict[str, Any]] = field(default_factory=dict)
    user_profile: dict[str, dict[str, Any]] | None = None


def substitute(value: Any, variables: dict[str, str], missing: dict[str, str]) -> Any:
    """``value`` with every ``${VAR}`` replaced; each unset name is left, and added to
    ``missing`` with the key path where it is first used."""

    def walk(value: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if not isinstance(value, str):
            return value

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in variables:
                missing.setdefault(name, fields.key_path(path))
                return match.group(0)
            return variables[name]

        return PLACEHOLDER.sub(repl, value)

    return walk(value, ())


def read_file(path: Path, problems: list[Problem], kind: type) -> Any:
    """The parsed file, or an empty ``kind`` when it is absent, empty or invalid."""
    if not path.exists() and not path.is_symlink():
        return kind()
    data = read_yaml_file(path, problems)
    if data is None:
        return kind()
    if not isinstance(data, kind):
        problems.append(Problem(str(path), "file", f"expected a {kind.__name__} of objects"))
        return kind()
    return data


def resolve_variables(
    data: Any, variables: dict[str, str], file: str, problems: list[Problem]
) -> Any:
    """``data`` with every ${VAR} replaced; each unset variable is a problem of ``file``."""
    missing: dict[str, str] = {}
    data = substitute(data, variables, missing)
    for name, where in sorted(missing.items()):
        problems.append(
            Problem(
                file,
                "file",
                f"${{{name}}} is not set (in {where}): add it to the "
                "secrets file (.state/secrets.env) or the environment",
            )
        )
    return data


def _load(path: Path, variables: dict[str, str], problems: list[Problem], kind: type) -> Any:
    return resolve_variables(read_file(path, problems, kind), variables, str(path), problems)


def audience_mapper(api: str) -> dict[str, Any]:
    """Puts ``aud=<api>`` in the access token, also in a lightweight one (the exchange client
    issues lightweight tokens: claims only from mappers that ask for it)."""
    return {
        "name": f"audience {api}",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-audience-mapper",
        "consentRequired": False,
        "config": {
            "included.client.audience": api,
            "access.token.claim": "true",
            "id.token.claim": "false",
            "introspection.token.claim": "true",
            "lightweight.claim": "true",
        },
    }


def _names(
    obj: dict[str, Any], key: str, file: str, what: str, problems: list[Problem]
) -> list[str] | None:
    """A list of names from ``obj[key]`` (removed from obj); None when the key is absent."""
    if key not in obj:
        return None
    value = obj.pop(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(Problem(file, what, f"{key} must be a list of names"))
        return []
    return list(value)


def add_object(
    kind: dict[str, dict[str, Any]],
    key: str,
    obj: Any,
    file: str,
    what: str,
    problems: list[Problem],
    builtin: set[str] | frozenset[str] = frozenset(),
) -> None:
    """Add ``obj`` to ``kind`` under ``obj[key]``, remembering its file; a missing or
    duplicate name is a problem, and so is the name of an object Keycloak creates itself
    (``builtin``: a new realm has it already, so creating it would fail half-way)."""
    if not isinstance(obj, dict):
        problems.append(Problem(file, what, f"expected a mapping, got {obj!r}"))
        return
    name = obj.get(key)
    if not name:
        problems.append(Problem(file, what, f"{key} is required"))
    elif not fields.is_name(name):
        problems.append(
            Problem(
                file,
                what,
                f"{key} must be a name (text on one line, not blank, not . or ..), got {name!r}",
            )
        )
    elif name in builtin:
        problems.append(
            Problem(
                file,
                f"{what} {name}",
                f"{key} {name!r} is the name of a Keycloak built-in {what} (every realm has "
                "it): choose another name",
            )
        )
    elif name in kind:
        problems.append(Problem(file, f"{what} {name}", f"duplicate {what} {name!r}"))
    else:
        obj["_file"] = file
        kind[name] = obj


def protocol_mappers(
    obj: dict[str, Any], file: str, what: str, problems: list[Problem]
) -> list[dict[str, Any]]:
    """``obj``'s protocolMappers (removed from obj): each needs a name of its own, the key
    idpctl and Keycloak know it by. Their fields are checked with the object's."""
    mappers = obj.pop("protocolMappers", None)
    if not isinstance(mappers, list) or not all(isinstance(m, dict) for m in mappers):
        return []  # None, or a problem fields.check reports
    seen: set[str] = set()
    for i, mapper in enumerate(mappers):
        name = mapper.get("name")
        if not fields.is_name(name):
            problems.append(
                Problem(
                    file,
                    what,
                    f"protocolMappers[{i}].name must be a name (text on one line), got {name!r}",
                )
            )
        elif name in seen:
            problems.append(
                Problem(file, what, f"protocolMappers[{i}]: a second protocol mapper {name!r}")
            )
        else:
            seen.add(name)
    return mappers


# -- the realm's own files ------------------------------------------------------------------


def read_settings(realm_dir: Path, variables: dict[str, str], problems: list[Problem]) -> dict:
    """realm.yml; its ``realm`` must be the folder's name."""
    realm = realm_dir.name
    file = str(realm_dir / "realm.yml")
    settings = _load(realm_dir / "realm.yml", variables, problems, dict)
    if settings.get("realm", realm) != realm:
        problems.append(
            Problem(
                file,
                f"realm {realm}",
                f"realm is {settings.get('realm')!r} but the folder is {realm!r}",
            )
        )
    fields.check(settings, fields.REALM, file, f"realm {realm}", problems)
    attributes = settings.get("attributes")
    if isinstance(attributes, dict) and TRACKING_ATTRIBUTE in attributes:
        problems.append(
            Problem(
                file,
                f"realm {realm}",
                f"attributes.{TRACKING_ATTRIBUTE} is idpctl's record of what it manages: "
                "remove it from the file",
            )
        )
    settings["realm"] = realm
    return settings


def report_single_files_for_folders(realm_dir: Path, problems: list[Problem]) -> None:
    """clients.yml, client-scopes.yml, roles.yml: these kinds take one file per object."""
    for name in ("clients", "client-scopes", "roles"):
        if (realm_dir / f"{name}.yml").exists():
            problems.append(
                Problem(
                    str(realm_dir / f"{name}.yml"),
                    "file",
                    f"put {name} in the folder {name}/ (one file per object)",
                )
            )


def templates_folder(realm_dir: Path) -> Path:
    """idp/templates/ for idp/realms/<realm>/ (see idpctl.templates)."""
    return realm_dir.parent.parent / "templates"


def read_clients(
    desired: Desired, realm_dir: Path, variables: dict[str, str], problems: list[Problem]
) -> None:
    templates = templates_folder(realm_dir) / "clients"
    for path in sorted((realm_dir / "clients").glob("*.yml")):
        file = str(path)
        client = expand(
            read_file(path, problems, dict), templates, file, "client", "clientId", problems
        )
        if client is None:
            continue
        client = resolve_variables(client, variables, file, problems)
        what = f"client {client.get('clientId')}"
        fields.check(client, fields.CLIENT, file, what, problems)
        # Absent lists are left as Keycloak has them; listed ones are managed exactly.
        client["_optionalScopes"] = _names(client, "optionalClientScopes", file, what, problems)
        client["_defaultScopes"] = _names(client, "defaultClientScopes", file, what, problems)
        client["_protocolMappers"] = protocol_mappers(client, file, what, problems)
        add_object(desired.clients, "clientId", client, file, "client", problems, BUILTIN_CLIENTS)


def read_client_scopes(
    desired: Desired, realm_dir: Path, variables: dict[str, str], problems: list[Problem]
) -> None:
    for path in sorted((realm_dir / "client-scopes").glob("*.yml")):
        scope, file = _load(path, variables, problems, dict), str(path)
        what = f"client scope {scope.get('name')}"
        fields.check(scope, fields.CLIENT_SCOPE, file, what, problems)
        scope["_protocolMappers"] = protocol_mappers(scope, file, what, problems)
        scope["_roles"] = _names(scope, "roles", file, what, problems) or []
        add_object(
            desired.client_scopes, "name", scope, file, "client scope", problems, BUILTIN_SCOPES
        )


def read_roles(
    desired: Desired, realm_dir: Path, variables: dict[str, str], problems: list[Problem]
) -> None:
    for path in sorted((realm_dir / "roles").glob("*.yml")):
        role, file = _load(path, variables, problems, dict), str(path)
        fields.check(role, fields.ROLE, file, f"role {role.get('name')}", problems)
        add_object(
            desired.roles, "name", role, file, "role", problems, builtin_roles(desired.realm)
        )


def read_groups(
    desired: Desired, realm_dir: Path, variables: dict[str, str], problems: list[Problem]
) -> None:
    file = realm_dir / "groups.yml"
    for group in _load(file, variables, problems, list):
        if isinstance(group, dict):
            what = f"group {group.get('name')}"
            fields.check(group, fields.GROUP, str(file), what, problems)
            group["_roles"] = _names(group, "realmRoles", str(file), what, problems) or []
        add_object(desired.groups, "name", group, str(file), "group", problems)


def read_users(
    desired: Desired, realm_dir: Path, variables: dict[str, str], problems: list[Problem]
) -> None:
    file = realm_dir / "users.yml"
    for user in _load(file, variables, problems, list):
        if isinstance(user, dict):
            what = f"user {user.get('username')}"
            fields.check(user, fields.USER, str(file), what, problems)
            groups = _names(user, "groups", str(file), what, problems) or []
            user["_groups"] = [g.lstrip("/") for g in groups]
        add_object(desired.users, "username", user, str(file), "user", problems)


def read_default_groups(desired: Desired, realm_dir: Path, problems: list[Problem]) -> None:
    """realm.yml's defaultGroups (removed from the settings: Keycloak takes them through
    their own endpoint, by group id): every new user, self-registered ones too, joins them."""
    file = str(realm_dir / "realm.yml")
    names = desired.settings.pop("defaultGroups", None)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return  # absent, or not a list of names: fields.check (read_settings) reports it
    for name in names:
        desired.default_groups[name.lstrip("/")] = {"name": name.lstrip("/"), "_file": file}


def read_admin_permissions(
    desired: Desired, realm_dir: Path, variables: dict[str, str], problems: list[Problem]
) -> None:
    def load(path: Path, kind: type) -> Any:
        return _load(path, variables, problems, kind)

    for permission in permissions.read_file(realm_dir, problems, load):
        file = str(realm_dir / permissions.FILE)
        add_object(
            desired.admin_permissions, "name", permission, file, "admin permission", problems
        )


def read_flows_and_profile(
    desired: Desired, realm_dir: Path, variables: dict[str, str], problems: list[Problem]
) -> None:
    def load(path: Path, kind: type) -> Any:
        return _load(path, variables, problems, kind)

    desired.authentication_flows = flows.read_folder(realm_dir, problems, load)
    realm_file = str(realm_dir / "realm.yml")
    problems += flows.check_bindings(
        desired.settings, desired.authentication_flows, realm_file, desired.realm
    )
    desired.user_profile = profile.read_file(realm_dir, problems, load)


def read_realm_files(
    realm_dir: Path, variables: dict[str, str], problems: list[Problem]
) -> Desired:
    """Everything idp/realms/<realm>/ defines itself, with ${VAR} resolved."""
    desired = Desired(realm=realm_dir.name, settings=read_settings(realm_dir, variables, problems))
    read_default_groups(desired, realm_dir, problems)
    report_single_files_for_folders(realm_dir, problems)
    for read in (read_clients, read_client_scopes, read_roles, read_groups):
        read(desired, realm_dir, variables, problems)
    read_admin_permissions(desired, realm_dir, variables, problems)
    read_flows_and_profile(desired, realm_dir, variables, problems)
    # The demo users only where asked for (IDP_DEMO_USERS): a deployment creates none, and
    # removes those an earlier apply created.
    if conf.get_bool("IDP_DEMO_USERS", variables):
        read_users(desired, realm_dir, variables, problems)
    return desired


# -- what the API registry derives ----------------------------------------------------------


def api_client(api: ApiSpec) -> dict[str, Any]:
    """The API's own client: an audience only, with no login flows."""
    return {
        "clientId": api.name,
        "name": api.name,
        "description": api.description or f"Protected API {api.name}",
        "protocol": "openid-connect",
        "publicClient": False,
        "bearerOnly": True,
        "standardFlowEnabled": False,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "fullScopeAllowed": False,
        "_protocolMappers": [],
        "_defaultScopes": [],
        "_optionalScopes": [],
    }


def api_scope(api: ApiSpec, scope: ScopeSpec) -> dict[str, Any]:
    """The client scope that puts aud=<api> in a token, granted to holders of its role."""
    return {
        "name": scope.name,
        "description": scope.description or f"{api.name} scope {scope.name}",
        "protocol": "openid-connect",
        "attributes": {
            "include.in.token.scope": "true",
            "display.on.consent.screen": "false",
        },
        "_protocolMappers": [audience_mapper(api.name)],
        "_roles": [scope.role],
    }


def find_requesters(
    desired: Desired, api: ApiSpec, realm_dir: Path, registry_file: str, problems: list[Problem]
) -> list[dict[str, Any]]:
    """The clients that ask for the API's scopes, now managing their optional scopes."""
    found = []
    for name in api.requesters:
        requester = desired.clients.get(name)
        if requester is None:
            problems.append(
                Problem(
                    registry_file,
                    f"api {api.name}",
                    f"requester client {name!r} is not defined in {realm_dir / 'clients'}",
                )
            )
            continue
        if requester["_optionalScopes"] is None:
            requester["_optionalScopes"] = []
        found.append(requester)
    return found


def grant_scope_role_to_groups(
    desired: Desired,
    api: ApiSpec,
    scope: ScopeSpec,
    groups_file: Path,
    registry_file: str,
    problems: list[Problem],
) -> None:
    for group in scope.groups:
        if group not in desired.groups:
            problems.append(
                Problem(
                    registry_file,
                    f"api {api.name}, scope {scope.name}",
                    f"group {group!r} is not defined in {groups_file}",
                )
            )
        elif scope.role not in desired.groups[group]["_roles"]:
            desired.groups[group]["_roles"].append(scope.role)


def add_api_scope(
    desired: Desired,
    api: ApiSpec,
    scope: ScopeSpec,
    requesters: list[dict[str, Any]],
    realm_dir: Path,
    registry_file: str,
    problems: list[Problem],
) -> None:
    """One scope of an API: its client scope, its gate role, the role for its groups, and
    the scope as an optional scope of each requester."""
    if scope.name in BUILTIN_SCOPES:
        problems.append(
            Problem(
                registry_file,
                f"api {api.name}, scope {scope.name}",
                "this is the name of a Keycloak built-in client scope: choose another name",
            )
        )
        return
    add_object(
        desired.client_scopes,
        "name",
        api_scope(api, scope),
        registry_file,
        "client scope",
        problems,
    )
    if scope.role in builtin_roles(desired.realm):
        problems.append(
            Problem(
                registry_file,
                f"api {api.name}, scope {scope.name}",
                f"role {scope.role!r} is a Keycloak built-in role that other things grant: "
                "give the scope a role of its own",
            )
        )
    elif scope.role not in desired.roles:
        desired.roles[scope.role] = {
            "name": scope.role,
            "description": f"May obtain scope {scope.name} of {api.name}",
            "_file": registry_file,
        }
    grant_scope_role_to_groups(
        desired, api, scope, realm_dir / "groups.yml", registry_file, problems
    )
    for requester in requesters:
        if scope.name not in requester["_optionalScopes"]:
            requester["_optionalScopes"].append(scope.name)


def add_api(
    desired: Desired, api: ApiSpec, realm_dir: Path, registry_file: str, problems: list[Problem]
) -> None:
    """Every object one API of the registry derives in its realm."""
    if api.name in BUILTIN_CLIENTS:
        problems.append(
            Problem(
                registry_file,
                f"api {api.name}",
                "this is the name of a Keycloak built-in client: choose another name",
            )
        )
        return
    requesters = find_requesters(desired, api, realm_dir, registry_file, problems)
    add_object(desired.clients, "clientId", api_client(api), registry_file, "client", problems)
    for scope in api.scopes.values():
        add_api_scope(desired, api, scope, requesters, realm_dir, registry_file, problems)


def load_realm(
    realm_dir: Path,
    apis: dict[str, ApiSpec],
    variables: dict[str, str],
    registry_file: str = "idp/apis.yml",
) -> Desired:
    """Read one realm folder and derive the API objects; raises ConfigError."""
    problems: list[Problem] = []
    desired = read_realm_files(realm_dir, variables, problems)
    for api in apis.values():
        if api.realm == desired.realm:
            add_api(desired, api, realm_dir, registry_file, problems)
    problems += cross_check(desired)
    if problems:
        raise ConfigError(problems)
    return desired


UNDEFINED_ROLE = "is not defined (in roles/, or as an API scope's role in apis.yml)"


def cross_check(d: Desired) -> list[Problem]:
    """References between objects, and values Keycloak would reject or misuse."""
    problems: list[Problem] = []
    scopes = BUILTIN_SCOPES | set(d.client_scopes)
    roles = builtin_roles(d.realm) | set(d.roles)
    for client_id, client in d.clients.items():
        file, what = client["_file"], f"client {client_id}"
        default, optional = client["_defaultScopes"] or [], client["_optionalScopes"] or []
        for scope in sorted(set(default) | set(optional)):
            if scope not in scopes:
                fields = [
                    name
                    for name, listed in (
                        ("defaultClientScopes", default),
                        ("optionalClientScopes", optional),
                    )
                    if scope in listed
                ]
                problems.append(
                    Problem(
                        file,
                        what,
                        f"{' and '.join(fields)} references undefined client scope {scope!r} "
                        "(define it in client-scopes/, as an API scope in apis.yml, or use a "
                        "built-in)",
                    )
                )
        for scope in sorted(set(default) & set(optional)):
            problems.append(
                Problem(
                    file,
                    what,
                    f"client scope {scope!r} is both a default and an optional scope "
                    "(Keycloak links it one way only)",
                )
            )
        uris = client.get("redirectUris")
        for uri in uris if isinstance(uris, list) else []:
            if isinstance(uri, str) and not re.match(r"^https?://[^/]+", uri):
                problems.append(
                    Problem(
                        file, what, f"redirect URI {uri!r} is not absolute (use https://host/path)"
                    )
                )
    for name, group in d.groups.items():
        for role in group["_roles"]:
            if role not in roles:
                problems.append(
                    Problem(
                        group["_file"], f"group {name}", f"realm role {role!r} {UNDEFINED_ROLE}"
                    )
                )
    for name, user in d.users.items():
        for group in user["_groups"]:
            if group not in d.groups:
                groups_file = Path(user["_file"]).with_name("groups.yml")
                problems.append(
                    Problem(
                        user["_file"],
                        f"user {name}",
                        f"group {group!r} is not defined in {groups_file}",
                    )
                )
    for name, scope in d.client_scopes.items():
        for role in scope["_roles"]:
            if role not in roles:
                problems.append(
                    Problem(
                        scope["_file"],
                        f"client scope {name}",
                        f"realm role {role!r} {UNDEFINED_ROLE}",
                    )
                )
    for name, default in d.default_groups.items():
        if name not in d.groups:
            problems.append(
                Problem(
                    default["_file"],
                    f"realm {d.realm}",
                    f"defaultGroups: group {name!r} is not defined in "
                    f"{Path(default['_file']).with_name('groups.yml')}",
                )
            )
    problems += permissions.cross_check(d)
    return problems
