"""compose_runtime.backup and .manifest: the pure parts of `make backup` / `make restore`.

The layout and manifest a backup writes, the check that refuses a damaged or partial backup
before anything is changed, the commands run in the stack's containers, and the refusal to
replace existing data without --force. tests/chaos/test_backup_restore.py runs the real thing.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compose_runtime import backup, cli, engine
from compose_runtime.engine import DockerError, Project
from compose_runtime.manifest import (
    MANIFEST,
    BackupError,
    Manifest,
    Recorder,
    private_folder,
    sha256_of,
    verify,
)
from stackconf import settings as conf

#: What `docker compose config --format json` says of compose.yml, cut to what a backup reads.
CONFIG: dict[str, Any] = {
    "name": "jupyterhub-keycloak",
    "services": {
        "postgres": {
            "image": "postgres:15-bookworm",
            "environment": {"POSTGRES_USER": "postgres", "POSTGRES_DB": "postgres"},
            "volumes": [
                {"type": "volume", "source": "postgres", "target": "/var/lib/postgresql/data"},
                {"type": "bind", "source": "/repo/compose/postgres/init-databases.sh"},
            ],
        },
        "fruit-api": {
            "image": "jupyterhub-keycloak/fruit-api:dev",
            "volumes": [
                {"type": "volume", "source": "fruits", "target": "/data"},
                {"type": "bind", "source": "/repo/compose/ca/none.pem"},
            ],
        },
        "hub": {
            "image": "jupyterhub-keycloak/hub:dev",
            "environment": {"USERS_NETWORK": "jupyterhub-keycloak-users", "HUB_SPAWNER": "docker"},
            "volumes": [{"type": "volume", "source": "traefik-dynamic", "target": "/srv/t"}],
        },
        "traefik": {"image": "traefik:v3.7"},
    },
    "volumes": {
        "postgres": {"name": "jupyterhub-keycloak_postgres"},
        "fruits": {"name": "jupyterhub-keycloak_fruits"},
        "traefik-dynamic": {"name": "jupyterhub-keycloak_traefik-dynamic"},
    },
}


def project(config: dict[str, Any] = CONFIG) -> Project:
    return Project.from_config(config)


# --- What compose says ------------------------------------------------------------------------


def test_names_come_from_the_compose_config() -> None:
    p = project()
    assert p.name == "jupyterhub-keycloak"
    assert p.volume("postgres") == "jupyterhub-keycloak_postgres"
    assert p.volume("fruit-api") == "jupyterhub-keycloak_fruits"
    assert p.image("hub") == "jupyterhub-keycloak/hub:dev"
    assert p.image_tag("hub") == "dev"
    with pytest.raises(DockerError, match="'traefik' of the compose file mounts no single named"):
        p.volume("traefik")


def test_another_project_and_tag_change_every_name() -> None:
    """A deployment (its own project name and IMAGE_TAG) gets its own names, nothing typed."""
    text = json.dumps(CONFIG).replace("jupyterhub-keycloak_", "site2_").replace(":dev", ":v7")
    p = project({**json.loads(text), "name": "site2"})
    assert (p.volume("postgres"), p.image_tag("hub")) == ("site2_postgres", "v7")


def test_user_settings_are_read_as_the_hub_sees_them() -> None:
    """The hub's environment in compose, else settings.yml's default: the hub's own values."""
    p = project()
    assert p.setting("hub", "USER_VOLUME_NAME") == "jupyterhub-user-{username}"
    assert (
        p.setting("hub", "DOCKER_API_STACK_LABEL")
        == "org.jupyterhub-keycloak.users-network=jupyterhub-keycloak-users"
    )


def test_user_volumes_are_found_by_the_settings_template() -> None:
    names = ["jupyterhub-user-reader", "jupyterhub-user-", "other", "jupyterhub-user-a-b", "x"]
    found = engine.user_volume_names(names, "jupyterhub-user-{username}")
    assert found == {"reader": "jupyterhub-user-reader", "a-b": "jupyterhub-user-a-b"}
    suffixed = engine.user_volume_names(["home-ann-v2", "home-ann"], "home-{username}-v2")
    assert suffixed == {"ann": "home-ann-v2"}
    assert engine.user_volume_name("home-{username}-v2", "ann") == "home-ann-v2"
    with pytest.raises(ValueError, match="USER_VOLUME_NAME must contain"):
        engine.user_volume_names(names, "fixed-name")


# --- The commands -----------------------------------------------------------------------------


def test_postgres_commands_run_the_servers_own_tools_in_its_container() -> None:
    assert backup.PG_GLOBALS[:5] == ["exec", "-T", "--user", "postgres", "postgres"]
    assert "pg_dumpall --globals-only" in backup.PG_GLOBALS[-1]
    dump = backup.pg_dump("keycloak")
    # The database's name is an argument of sh, never part of the shell text.
    assert dump[-2:] == ["pg_dump", "keycloak"] and "keycloak" not in dump[-3]
    assert "--format=custom" in dump[-3] and '--dbname="$1"' in dump[-3]
    assert "--exit-on-error" in backup.PG_RESTORE[-1] and "--create" in backup.PG_RESTORE[-1]
    assert "ON_ERROR_STOP=1" in backup.PG_RESTORE_GLOBALS[-1]
    assert "--host=127.0.0.1" in backup.PG_READY[-1]  # the final server, not the init one


def test_the_fruit_database_is_copied_with_sqlites_backup_api_in_the_fruit_api_service() -> None:
    run = ["run", "--rm", "--no-deps", "-T", "--entrypoint", "python", "fruit-api", "-c"]
    assert backup.FRUITS_BACKUP[:8] == run and backup.FRUITS_RESTORE[:8] == run
    assert ".backup(" in backup.FRUITS_BACKUP[-1]
    assert "integrity_check" in backup.FRUITS_RESTORE[-1]
    assert "os.replace" in backup.FRUITS_RESTORE[-1]
    compile(backup.SQLITE_BACKUP, "backup", "exec")
    compile(backup.SQLITE_RESTORE, "restore", "exec")


def test_the_sqlite_snippets_copy_and_restore_a_database(tmp_path: Path, monkeypatch) -> None:
    import sqlite3
    import subprocess
    import sys

    live = tmp_path / "fruits.sqlite"
    with sqlite3.connect(live) as db:
        db.execute("CREATE TABLE fruits (name TEXT)")
        db.execute("INSERT INTO fruits VALUES ('persimmon')")
    env = {"FRUIT_API_DATABASE_URL": f"sqlite:///{live}", "PATH": "/usr/bin:/bin"}
    copy = subprocess.run(
        [sys.executable, "-c", backup.SQLITE_BACKUP], env=env, capture_output=True, check=True
    ).stdout
    live.unlink()
    subprocess.run([sys.executable, "-c", backup.SQLITE_RESTORE], env=env, input=copy, check=True)
    with sqlite3.connect(live) as db:
        assert db.execute("SELECT name FROM fruits").fetchall() == [("persimmon",)]
    refused = subprocess.run(
        [sys.executable, "-c", backup.SQLITE_RESTORE], env=env, input=b"not a database" * 100,
        capture_output=True,
    )  # fmt: skip
    assert refused.returncode != 0 and live.exists()  # the database in place is kept


def test_user_homes_are_read_by_a_one_off_container_without_network_or_rights(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "homes" / "jupyterhub-user-reader.tar"
    tar = backup.tar_create("jupyterhub-keycloak/hub:dev", "jupyterhub-user-reader", archive)
    assert tar[1:3] == ["run", "--rm"]
    joined = " ".join(tar)
    assert "--network none" in joined and "--cap-drop ALL" in joined and "--read-only" in joined
    assert "source=jupyterhub-user-reader,target=/volume,readonly" in joined
    assert f"type=bind,source={archive},target=/backup.tar " in joined  # written there
    assert "--cap-add DAC_OVERRIDE" in joined and "--cap-add CHOWN" not in joined
    assert tar[-5:-1] == [
        "--create",
        "--file=/backup.tar",
        "--numeric-owner",
        "--directory=/volume",
    ]
    assert tar[-1] == "."
    untar = " ".join(
        backup.tar_extract("jupyterhub-keycloak/hub:dev", "jupyterhub-user-reader", archive)
    )
    assert "source=jupyterhub-user-reader,target=/volume,volume-nocopy" in untar
    assert f"type=bind,source={archive},target=/backup.tar,readonly" in untar
    assert "--same-owner" in untar and "--cap-add CHOWN" in untar
    with pytest.raises(BackupError, match="may not contain a comma"):
        backup.tar_create("hub", "v", tmp_path / "a,b.tar")


def test_roles_apply_to_a_server_that_has_some_of_them() -> None:
    dumped = (
        "CREATE ROLE jupyterhub;\n"
        "ALTER ROLE jupyterhub WITH NOSUPERUSER LOGIN PASSWORD 'SCRAM-SHA-256$4096:x';\n"
        'CREATE ROLE "odd ""name""";\n'
        "CREATE ROLE postgres;\n"
        "-- CREATE ROLE comment;\n"
    )
    sql = backup.idempotent_roles(dumped)
    assert "\nCREATE ROLE" not in "\n" + sql.replace("BEGIN CREATE ROLE", "")
    assert "DO $do$ BEGIN CREATE ROLE jupyterhub; EXCEPTION WHEN duplicate_object" in sql
    assert 'BEGIN CREATE ROLE "odd ""name"""; EXCEPTION' in sql
    assert "ALTER ROLE jupyterhub WITH NOSUPERUSER LOGIN PASSWORD" in sql
    assert "-- CREATE ROLE comment;" in sql


def test_what_would_be_lost_names_every_part() -> None:
    assert backup.what_would_be_lost([], [], False) == []
    lost = backup.what_would_be_lost(
        ["jupyterhub-keycloak_postgres"], ["jupyterhub-user-b", "jupyterhub-user-a"], True
    )
    assert lost == [
        "volume jupyterhub-keycloak_postgres",
        "2 user home volume(s) (jupyterhub-user-a, jupyterhub-user-b)",
        "the current secrets file (other passwords and keys)",
    ]


# --- A backup's folder and manifest -------------------------------------------------------------


def make_backup(folder: Path, files: dict[str, tuple[str, bytes]] | None = None) -> Manifest:
    files = files or {
        "secrets.env": ("secrets", b"POSTGRES_PASSWORD=x\n"),
        "postgres/globals.sql": ("postgres-globals", b"CREATE ROLE keycloak;\n"),
        "postgres/keycloak.dump": ("postgres-database", b"PGDMP keycloak"),
        "fruits/fruits.sqlite": ("sqlite", b"SQLite format 3\0"),
        "homes/jupyterhub-user-reader.tar": ("user-home", b"tar" * 1000),
    }
    private_folder(folder)
    record = Recorder(folder)
    for path, (kind, data) in files.items():
        source = "keycloak" if kind == "postgres-database" else "somewhere"
        user = "reader" if kind == "user-home" else ""
        record.write(path, kind, source, iter([data[:7], data[7:]]), user=user)
    manifest = Manifest(created="2025-01-01T00:00:00Z", project="p", image_tag="dev", images={})
    record.finish(manifest)
    return manifest


def test_a_backup_is_private_and_its_manifest_lists_every_file(tmp_path: Path) -> None:
    folder = tmp_path / "b"
    make_backup(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*") if p.is_dir()} == {0o700}
    data = json.loads((folder / MANIFEST).read_text())
    assert data["format"] == 1 and data["image_tag"] == "dev"
    listed = {e["path"]: e for e in data["entries"]}
    assert sorted(listed) == sorted(str(p.relative_to(folder)) for p in files if p.name != MANIFEST)
    reader = listed["homes/jupyterhub-user-reader.tar"]
    assert reader["size"] == 3000 and reader["user"] == "reader"
    assert reader["sha256"] == sha256_of(folder / "homes/jupyterhub-user-reader.tar")
    manifest = verify(folder)
    assert manifest.size == sum(e["size"] for e in data["entries"])


def test_a_backup_never_writes_into_a_folder_with_files(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "x").write_text("x")
    with pytest.raises(BackupError, match="exists and is not an empty folder"):
        private_folder(tmp_path / "old")


def test_backups_go_to_a_new_folder_under_backup_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "new" / "backups"))
    folder = backup.default_folder()
    assert folder.parent == tmp_path / "new" / "backups" and folder.name.endswith("Z")
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    monkeypatch.setenv("BACKUP_DIR", str(shared))
    assert backup.default_folder().parent == shared
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # an existing folder is left as it is


def damage(folder: Path, how: str) -> str:
    """Damage a good backup; the text the refusal must contain."""
    dump = folder / "postgres/keycloak.dump"
    manifest = folder / MANIFEST
    if how == "flipped byte":
        data = bytearray(dump.read_bytes())
        data[3] ^= 1
        dump.write_bytes(bytes(data))
        return f"{dump}: its SHA-256 differs"
    if how == "cut short":
        dump.write_bytes(dump.read_bytes()[:-1])
        return f"{dump} has 13 bytes, {MANIFEST} says 14"
    if how == "file missing":
        dump.unlink()
        return f"{dump} is missing"
    if how == "no manifest (unfinished)":
        manifest.unlink()
        return f"{manifest} is missing: not a backup, or one that did not finish"
    if how == "manifest not JSON":
        manifest.write_text('{"format": 1,')
        return f"{manifest} is not valid JSON"
    data = json.loads(manifest.read_text())
    if how == "other format":
        data["format"] = 99
        expected = "format 99, this version reads format 1"
    elif how == "path outside":
        data["entries"][1]["path"] = "../../etc/passwd"
        expected = "'../../etc/passwd' is outside the backup"
    elif how == "bad database name":
        data["entries"][2]["source"] = "x; DROP"
        expected = "database name 'x; DROP' refused"
    elif how == "no secrets":
        data["entries"] = [e for e in data["entries"] if e["kind"] != "secrets"]
        expected = "lists no secrets file"
    else:
        raise AssertionError(how)
    manifest.write_text(json.dumps(data))
    return expected


DAMAGES = [
    "flipped byte",
    "cut short",
    "file missing",
    "no manifest (unfinished)",
    "manifest not JSON",
    "other format",
    "path outside",
    "bad database name",
    "no secrets",
]


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_or_partial_backup_is_refused_naming_the_file(tmp_path: Path, how: str) -> None:
    folder = tmp_path / "b"
    make_backup(folder)
    expected = damage(folder, how)
    with pytest.raises(BackupError) as refused:
        verify(folder)
    assert expected in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no backup folder at .*nothing"):
        verify(tmp_path / "nothing")


# --- backup() and restore() around the docker calls ---------------------------------------------


class FakeCompose:
    """Stands for engine.Compose: records every compose call; the project is CONFIG's."""

    def __init__(self, running: set[str] | None = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.env: dict[str, str] = {}
        self.running = {"postgres", "fruit-api", "hub"} if running is None else running

    def project(self) -> Project:
        return project()

    def running_services(self) -> set[str]:
        return self.running

    def command(self, *args: str) -> list[str]:
        return ["compose", *args]

    def run(self, *args: str, **kwargs: Any) -> Any:
        self.calls.append(args)
        return type("Done", (), {"stdout": "jupyterhub\nkeycloak\n"})()


@pytest.fixture
def engine_calls(monkeypatch) -> list[list[str]]:
    """The Docker engine, faked: every image present, two user volumes; docker argv recorded."""
    calls: list[list[str]] = []
    monkeypatch.setattr(backup, "check_engine", lambda: None)
    monkeypatch.setattr(backup, "image_id", lambda image: f"sha256:{image}")
    monkeypatch.setattr(
        backup, "volume_names", lambda: ["jupyterhub-user-reader", "jupyterhub-user-curator"]
    )
    monkeypatch.setattr(backup, "volume_exists", lambda name: True)

    def run(argv: list[str], **kwargs: Any) -> None:
        calls.append(argv)

    def tar(argv: list[str], ok: Any) -> None:  # writes the archive it is given, as tar would
        calls.append(argv)
        bind = next(a for a in argv if a.startswith("type=bind,"))
        Path(bind.split("source=")[1].split(",")[0]).write_bytes(b"tar of " + argv[-6].encode())

    monkeypatch.setattr(backup, "run", run)
    monkeypatch.setattr(backup, "run_tolerating", tar)
    monkeypatch.setattr(backup, "remove_user_containers", lambda label: calls.append([label]))
    return calls


def fake_stream(argv: list[str], env: Any = None) -> Iterator[bytes]:
    yield f"output of {' '.join(argv[:8])}".encode()


def test_backup_writes_the_layout(tmp_path: Path, monkeypatch, engine_calls) -> None:
    monkeypatch.setattr(backup, "stream", fake_stream)
    secrets = tmp_path / "secrets.env"
    secrets.write_text("POSTGRES_PASSWORD=x\n")
    folder = tmp_path / "b"
    manifest = backup.backup(FakeCompose(), secrets, folder, log=lambda line: None)
    assert sorted(e.path for e in manifest.entries) == [
        "fruits/fruits.sqlite",
        "homes/jupyterhub-user-curator.tar",
        "homes/jupyterhub-user-reader.tar",
        "postgres/globals.sql",
        "postgres/jupyterhub.dump",
        "postgres/keycloak.dump",
        "secrets.env",
    ]
    assert (folder / "secrets.env").read_text() == "POSTGRES_PASSWORD=x\n"
    reader = folder / "homes/jupyterhub-user-reader.tar"
    assert reader.read_bytes() == b"tar of jupyterhub-keycloak/hub:dev"
    assert stat.S_IMODE(reader.stat().st_mode) == 0o600
    assert manifest.project == "jupyterhub-keycloak" and manifest.image_tag == "dev"
    assert manifest.images["hub"] == "sha256:jupyterhub-keycloak/hub:dev"
    assert verify(folder).entries == manifest.entries


def test_a_failed_backup_leaves_no_half_backup(tmp_path: Path, monkeypatch, engine_calls) -> None:
    def failing(argv: list[str], env: Any = None) -> Iterator[bytes]:
        yield b"partial"
        if "fruit-api" in argv:
            raise DockerError("`docker compose run` failed (exit 1): disk full.")

    monkeypatch.setattr(backup, "stream", failing)
    secrets = tmp_path / "secrets.env"
    secrets.write_text("X=1\n")
    with pytest.raises(DockerError, match="disk full"):
        backup.backup(FakeCompose(), secrets, tmp_path / "b", log=lambda line: None)
    assert not (tmp_path / "b").exists()  # nor its copy of the secrets


def test_backup_needs_the_running_stack(tmp_path: Path, engine_calls) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text("X=1\n")
    with pytest.raises(BackupError, match="the stack is not running .* `make up`"):
        backup.backup(FakeCompose(running=set()), secrets, tmp_path / "b")
    with pytest.raises(BackupError, match="none.env is missing: nothing to back up"):
        backup.backup(FakeCompose(), tmp_path / "none.env", tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_backup_and_restore_need_the_built_stack(tmp_path: Path, monkeypatch, engine_calls):
    monkeypatch.setattr(backup, "image_id", lambda image: None if "hub" in image else "sha256:1")
    secrets = tmp_path / "secrets.env"
    secrets.write_text("X=1\n")
    message = "the stack is not built: image jupyterhub-keycloak/hub:dev is missing"
    with pytest.raises(BackupError, match=message):
        backup.backup(FakeCompose(), secrets, tmp_path / "b")
    make_backup(tmp_path / "good")
    with pytest.raises(BackupError, match=message):
        backup.restore(FakeCompose(), secrets, tmp_path / "good", force=True, start=lambda: 0)


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_backup_is_refused_before_docker_is_asked(
    tmp_path: Path, monkeypatch, how: str
) -> None:
    def untouchable(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("docker was called for a damaged backup")

    for name in ("check_engine", "run", "remove_user_containers", "feed", "volume_names"):
        monkeypatch.setattr(backup, name, untouchable)
    folder = tmp_path / "b"
    make_backup(folder)
    damage(folder, how)
    compose = FakeCompose()
    secrets = tmp_path / "secrets.env"
    secrets.write_text("current\n")
    with pytest.raises(BackupError):
        backup.restore(compose, secrets, folder, force=True, start=lambda: 0)
    assert compose.calls == [] and secrets.read_text() == "current\n"


def test_restore_refuses_to_replace_data_without_force(tmp_path: Path, engine_calls) -> None:
    folder = tmp_path / "b"
    make_backup(folder)
    compose = FakeCompose()
    secrets = tmp_path / "secrets.env"
    secrets.write_text("other\n")
    with pytest.raises(BackupError) as refused:
        backup.restore(compose, secrets, folder, force=False, start=lambda: 0)
    message = str(refused.value)
    assert message.startswith("restoring would replace existing data: volume jupyterhub-keycloak_")
    assert "2 user home volume(s) (jupyterhub-user-curator, jupyterhub-user-reader)" in message
    assert "the current secrets file" in message and "--force" in message
    assert compose.calls == [] and engine_calls == [] and secrets.read_text() == "other\n"


def test_restore_replaces_everything_in_order(tmp_path: Path, monkeypatch, engine_calls) -> None:
    fed: list[tuple[list[str], Any]] = []
    monkeypatch.setattr(backup, "feed", lambda argv, data, env=None: fed.append((argv, data)))
    monkeypatch.setattr(backup, "_wait_for_postgres", lambda compose: None)
    folder = tmp_path / "b"
    make_backup(folder)
    compose = FakeCompose()
    secrets = tmp_path / "state" / "secrets.env"
    started = []
    status = backup.restore(
        compose, secrets, folder, force=True, start=lambda: started.append(1) or 0, log=print
    )
    assert status == 0 and started == [1]
    label = "org.jupyterhub-keycloak.users-network=jupyterhub-keycloak-users"
    assert engine_calls[0] == [label]  # user containers first, then their volumes
    assert compose.calls[:2] == [
        ("down", "--remove-orphans"),  # not --volumes: only those it replaces go
        ("up", "--detach", "--wait", "postgres"),
    ]
    assert engine_calls[1][1:] == [
        "volume",
        "rm",
        "jupyterhub-keycloak_postgres",
        "jupyterhub-keycloak_fruits",
        "jupyterhub-user-curator",
        "jupyterhub-user-reader",
    ]
    assert engine_calls[2][-3:] == ["volume", "create", "jupyterhub-user-reader"]
    assert secrets.read_bytes() == (folder / "secrets.env").read_bytes()
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets.parent.stat().st_mode) == 0o700
    assert [argv[1] for argv, _ in fed] == ["exec", "exec", "run"]  # roles, keycloak, fruits
    assert b"DO $do$ BEGIN CREATE ROLE keycloak;" in fed[0][1]
    assert fed[1][1] == folder / "postgres/keycloak.dump"
    assert fed[2][1] == folder / "fruits/fruits.sqlite"
    untar = " ".join(engine_calls[3])  # the reader's home, into the volume just made
    assert "source=jupyterhub-user-reader,target=/volume,volume-nocopy" in untar
    assert f"source={folder}/homes/jupyterhub-user-reader.tar,target=/backup.tar,readonly" in untar
    assert len(engine_calls) == 4


def test_a_home_that_fails_to_restore_leaves_no_empty_volume(
    tmp_path: Path, monkeypatch, engine_calls
) -> None:
    """An empty volume would become the user's home, root's and unwritable."""
    monkeypatch.setattr(backup, "feed", lambda argv, data, env=None: None)
    monkeypatch.setattr(backup, "_wait_for_postgres", lambda compose: None)

    def run(argv: list[str], **kwargs: Any) -> None:
        engine_calls.append(argv)
        if "--extract" in argv:
            raise DockerError("`docker run` failed (exit 2): tar: Unexpected EOF in archive.")

    removed: list[list[str]] = []
    monkeypatch.setattr(backup, "run", run)
    monkeypatch.setattr(backup.subprocess, "run", lambda argv, **kw: removed.append(argv))
    make_backup(tmp_path / "b")
    with pytest.raises(DockerError, match="Unexpected EOF.* stopped half-way .* --force"):
        backup.restore(
            FakeCompose(), tmp_path / "s.env", tmp_path / "b", force=True, start=lambda: 0
        )
    assert removed[-1][-3:] == ["volume", "rm", "jupyterhub-user-reader"]


def test_clean_removes_the_user_volumes_the_setting_names(monkeypatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(cli, "remove_user_containers", lambda label: calls.append(label))
    monkeypatch.setattr(cli, "compose", lambda s, *args, check=True: calls.append(args) or 0)
    monkeypatch.setattr(
        cli, "volume_names", lambda: ["jupyterhub-user-ann", "jupyterhub-keycloak_x", "other"]
    )
    monkeypatch.setattr(cli, "run", lambda argv, **kw: calls.append(argv[1:]))
    monkeypatch.delenv("USER_VOLUME_NAME", raising=False)
    assert cli.clean(cli.Settings.from_env()) == 0
    assert calls == [
        conf.get("DOCKER_API_STACK_LABEL"),
        ("down", "--volumes"),
        ["volume", "rm", "jupyterhub-user-ann"],
    ]


# --- Running commands ----------------------------------------------------------------------------


def test_a_failing_command_gives_one_line_naming_it_and_its_error() -> None:
    script = "printf partial; echo first >&2; echo 'pg_dump: error: no such db' >&2; exit 3"
    argv = ["sh", "-c", script]
    with pytest.raises(DockerError) as failed:
        b"".join(backup.stream(argv))
    message = str(failed.value)
    assert message.startswith("`sh -c printf partial;")
    assert "failed (exit 3): pg_dump: error: no such db. Check that Docker runs" in message
    assert "\n" not in message
    backup.run_tolerating(["sh", "-c", "echo changed >&2; exit 1"], ok=(0, 1))
    with pytest.raises(DockerError, match="exit 2"):
        backup.run_tolerating(["sh", "-c", "exit 2"], ok=(0, 1))


def test_the_command_lines_say_what_went_wrong(tmp_path: Path, capsys) -> None:
    assert cli.main(["restore", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no backup folder at ") and err.count("\n") == 1
    make_backup(tmp_path / "b")
    assert backup.main(["verify", str(tmp_path / "b")]) == 0
    assert "whole (5 files" in capsys.readouterr().out
    damage(tmp_path / "b", "flipped byte")
    assert backup.main(["verify", str(tmp_path / "b")]) == 1
    assert "keycloak.dump: its SHA-256 differs" in capsys.readouterr().err
