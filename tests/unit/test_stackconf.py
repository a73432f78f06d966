"""stackconf: one table of settings, one list of secrets, one banner."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from stackconf import secrets, settings
from stackconf.banner import banner, demo_totp_keys, demo_users

REPO = settings.REPO
#: Where our programs read settings: every name they read must be in the table.
READERS = [*sorted((REPO / "src").rglob("*.py")), REPO / "hub" / "jupyterhub_config.py"]
GET_CALL = re.compile(r"\bconf\.get(?:_int|_float|_bool|_list|_path)?\(\s*\"([A-Z][A-Z0-9_]*)\"")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def test_a_default_may_name_other_settings() -> None:
    env = {"PUBLIC_PORT": "9000"}
    assert settings.get("HUB_PUBLIC_URL", env) == "http://localhost:9000"
    assert settings.get("KEYCLOAK_INTERNAL_URL", env) == "http://auth.localhost:9000/auth"
    env["KEYCLOAK_PUBLIC_URL"] = "https://id.example.org/auth"
    assert settings.get("KEYCLOAK_INTERNAL_URL", env) == "https://id.example.org/auth"


def test_an_empty_value_means_the_default() -> None:
    assert settings.get("KEYCLOAK_REALM", {"KEYCLOAK_REALM": ""}) == "demo"


def test_typed_values_name_the_variable_when_wrong() -> None:
    assert settings.get_int("PUBLIC_PORT", {"PUBLIC_PORT": "8443"}) == 8443
    assert settings.get_list("HUB_ALLOWED_GROUPS", {"HUB_ALLOWED_GROUPS": "a, b,,"}) == ["a", "b"]
    assert settings.get_bool("KEYCLOAK_ADMIN_CONSOLE", {"KEYCLOAK_ADMIN_CONSOLE": "1"}) is True
    with pytest.raises(settings.SettingError, match="PUBLIC_PORT must be an integer, got 'x'"):
        settings.get_int("PUBLIC_PORT", {"PUBLIC_PORT": "x"})
    with pytest.raises(settings.SettingError, match="KEYCLOAK_ADMIN_CONSOLE must be true or false"):
        settings.get_bool("KEYCLOAK_ADMIN_CONSOLE", {"KEYCLOAK_ADMIN_CONSOLE": "maybe"})


def test_every_name_our_programs_read_is_in_the_table() -> None:
    read = {name for path in READERS for name in GET_CALL.findall(path.read_text())}
    assert read, "the scan found no conf.get calls: the pattern is stale"
    assert sorted(read - set(settings.VARIABLES)) == []


def test_no_program_reads_a_stack_setting_around_the_table() -> None:
    """A default written next to os.environ would be a second owner of that fact."""
    bypass = re.compile(r"os\.environ(?:\.get\(|\[)\s*[\"']([A-Z][A-Z0-9_]*)")
    found = {
        f"{path.relative_to(REPO)}: {name}"
        for path in READERS
        for name in bypass.findall(path.read_text())
        if name in settings.VARIABLES
    }
    assert sorted(found) == []


def test_the_docs_carry_the_table() -> None:
    """docs/configuration.md holds `python -m stackconf.settings` verbatim between markers."""
    docs = (REPO / "docs" / "configuration.md").read_text()
    begin, end = "<!-- stackconf.settings: begin -->\n", "<!-- stackconf.settings: end -->"
    assert begin in docs and end in docs
    assert docs.split(begin)[1].split(end)[0] == settings.markdown(), (
        "docs/configuration.md is stale: paste the output of `python -m stackconf.settings`"
    )


def test_every_placeholder_in_idp_is_a_secret_or_a_setting() -> None:
    used = {
        name
        for path in (REPO / "idp").rglob("*.yml")
        for line in path.read_text().splitlines()
        for name in PLACEHOLDER.findall(line.split("#")[0])  # comments may show ${VAR}
    }
    assert used, "the scan found no placeholders in idp/: the pattern is stale"
    assert sorted(used - set(secrets.KINDS) - set(settings.VARIABLES)) == []
    demo_passwords = {n for n in used if n.startswith("DEMO_PASSWORD_")}
    passwords = {n for n, kind in secrets.KINDS.items() if kind == "password"}
    assert demo_passwords == passwords  # one password per demo user, no stale names


def test_secret_values_have_their_kind() -> None:
    values = secrets.generate()
    assert list(values) == list(secrets.KINDS)
    assert re.fullmatch(r"[0-9a-f]{64}", values["JUPYTERHUB_CRYPT_KEY"])
    assert values["KC_BOOTSTRAP_ADMIN_USERNAME"] == "admin"
    assert "KC_BOOTSTRAP_ADMIN_USERNAME" not in secrets.SECRET_NAMES
    for name, kind in secrets.KINDS.items():
        if kind == "password":
            value = values[name]
            assert len(value) >= 12 and re.search("[a-z]", value) and re.search("[A-Z]", value)
            assert re.search("[0-9]", value)
    with pytest.raises(ValueError, match="unknown kind 'pin'"):
        secrets.new_value("pin")


def test_ensure_adds_missing_names_and_keeps_values(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_text("JUPYTERHUB_CRYPT_KEY=kept\n")
    values = secrets.ensure(path)
    assert values["JUPYTERHUB_CRYPT_KEY"] == "kept"
    assert set(values) == set(secrets.KINDS)
    assert secrets.read(path) == values
    assert secrets.ensure(path) == values  # a second run changes nothing
    fresh = tmp_path / "new" / "secrets.env"
    secrets.ensure(fresh)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


def test_read_names_the_line_it_cannot_parse(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_text("# comment\n\nA=1\nnot a line\n")
    with pytest.raises(ValueError, match=r"secrets.env:4: expected NAME=value"):
        secrets.read(path)


def test_banner_lists_the_realms_demo_users_with_their_passwords() -> None:
    users = {name: (secret, groups) for name, secret, groups in demo_users(REPO / "idp", "demo")}
    assert users["reader"] == ("DEMO_PASSWORD_READER", ["hub-users", "fruit-readers"])
    assert users["visitor"] == ("DEMO_PASSWORD_VISITOR", [])
    shared = settings.StackSettings.from_env()
    text = banner(shared, {"DEMO_PASSWORD_READER": "Pw-of-reader-1"}, runtime="test", seconds=3)
    assert "reader      Pw-of-reader-1" in text
    assert "not approved for the hub" in text  # the visitor
    assert "KEYCLOAK_ADMIN_CONSOLE=true" in text
    assert f"(not in {shared.secrets_file})" in text  # a missing password says where to look


def test_banner_gives_the_demo_hub_admins_totp_key_and_the_sign_up_path() -> None:
    assert demo_totp_keys(REPO / "idp", "demo") == [("hubadmin", "DEMO_TOTP_HUBADMIN")]
    shared = settings.StackSettings.from_env()
    text = banner(shared, {"DEMO_TOTP_HUBADMIN": "KEYKEYKEY234"}, runtime="test", seconds=3)
    # Keycloak keys the HMAC with the secret's bytes: the app gets them in base32.
    assert (
        "hubadmin also gives a one-time code: add the time-based key JNCVSS2FLFFUKWJSGM2A" in text
    )
    assert f"{shared.public_url}/hub/access-requests" in text


def test_the_table_names_only_known_readers(tmp_path: Path, monkeypatch) -> None:
    table = tmp_path / "settings.yml"
    table.write_text("gateway: {A: {default: x, help: y}}\n")
    monkeypatch.setattr(settings, "TABLE_FILE", table)
    with pytest.raises(ValueError, match=r"unknown reader\(s\) \['gateway'\]"):
        settings._load_table()


def test_compose_defaults_are_the_settings_defaults() -> None:
    """compose/*.yml repeats a setting's default in ``${NAME:-default}`` (for a plain
    `docker compose`); each must be settings.yml's own, so that the table stays its one owner."""
    import re
    from pathlib import Path

    compose_dir = Path(__file__).resolve().parents[2] / "compose"
    found = {
        (path.name, name, default)
        for path in sorted(compose_dir.glob("*.yml"))
        for name, default in re.findall(r"\$\{([A-Z0-9_]+):-([^}]*)\}", path.read_text())
        if name in settings.VARIABLES and "{" not in settings.VARIABLES[name].default
    }
    # Files: the compose file names them relative to itself, and "no extra CA" by an empty one.
    paths = {"EXTRA_CA_BUNDLE": "./ca/none.pem", "SECRETS_FILE": "../.state/secrets.env"}
    assert len(found) >= 10
    wrong = [
        f"{file}: ${{{name}:-{default}}} but settings.yml says {settings.VARIABLES[name].default!r}"
        for file, name, default in found
        if default not in (settings.VARIABLES[name].default, paths.get(name))
    ]
    assert wrong == []
