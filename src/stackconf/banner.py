"""What `make up` prints when the stack is ready, the same for every runtime."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from stackconf.secrets import totp_app_key
from stackconf.settings import StackSettings


def demo_users(idp_dir: Path, realm: str) -> list[tuple[str, str, list[str]]]:
    """``(username, secret name of the password, groups)`` of each user in the realm's
    users.yml whose password is a ``${NAME}`` placeholder (the demo users)."""
    users_file = idp_dir / "realms" / realm / "users.yml"
    users = yaml.safe_load(users_file.read_text()) if users_file.exists() else None
    found = []
    for user in users or []:
        for credential in user.get("credentials") or []:
            value = str(credential.get("value", ""))
            if credential.get("type") == "password" and value.startswith("${"):
                found.append((user["username"], value[2:-1], list(user.get("groups") or [])))
    return found


def demo_totp_keys(idp_dir: Path, realm: str) -> list[tuple[str, str]]:
    """``(username, secret name of the TOTP key)`` of each demo user created with a one-time
    code credential whose key is a ``${NAME}`` placeholder (the demo hub admin)."""
    users_file = idp_dir / "realms" / realm / "users.yml"
    users = yaml.safe_load(users_file.read_text()) if users_file.exists() else None
    found = []
    for user in users or []:
        for credential in user.get("credentials") or []:
            match = re.search(r"\$\{([A-Z0-9_]+)\}", str(credential.get("secretData", "")))
            if credential.get("type") == "otp" and match:
                found.append((user["username"], match.group(1)))
    return found


#: How `make up`'s runtimes are looked after (the swarm runtime has commands of its own).
MAKE_COMMANDS = "Logs: make logs    Status: make ps    Stop: make down"


def banner(
    s: StackSettings,
    secrets: dict[str, str],
    *,
    runtime: str,
    seconds: float,
    commands: str = MAKE_COMMANDS,
) -> str:
    """The URL, the demo users with their passwords and groups, and where to go next."""
    rows = "\n".join(
        f"    {name:<11} {secrets.get(secret, '(not in ' + str(s.secrets_file) + ')'):<18} "
        f"{', '.join(groups) or 'no groups: not approved for the hub'}"
        for name, secret, groups in demo_users(s.idp_dir, s.realm)
    )
    missing = f"(not in {s.secrets_file})"
    codes = "".join(
        f"    {name} also gives a one-time code: add the time-based key "
        f"{totp_app_key(secrets[secret]) if secret in secrets else missing} "
        "to an authenticator app\n"
        for name, secret in demo_totp_keys(s.idp_dir, s.realm)
    )
    console = (
        f"{s.keycloak_public_url}/admin/ (user and password in {s.secrets_file})"
        if s.admin_console_routed
        else "not routed (`make up KEYCLOAK_ADMIN_CONSOLE=true` routes it)"
    )
    return (
        f"\nThe demo is up ({runtime}).\n\n"
        f"  Open {s.public_url}/ and log in as one of the demo users (realm {s.realm}):\n"
        f"    {'user':<11} {'password':<18} groups\n{rows}\n{codes}"
        f"  New users sign up on Keycloak's login page (Register); hub admins approve them at "
        f"{s.public_url}/hub/access-requests\n\n"
        f"  Each user's server: {s.server_url('<user>')}/ (a host of its own)\n"
        f"  Keycloak (its own host): {s.keycloak_public_url}/realms/{s.realm}/account/\n"
        f"  Keycloak admin console: {console}\n"
        f"  Fruit API docs: {s.fruit_api_public_url}/docs\n"
        f"  {commands}\n"
        f"  (up in {seconds:.0f}s)"
    )
