"""Back up the compose stack's data while it runs, and restore it: `make backup`, `make restore`.

A backup is one folder (mode 0700, files 0600; manifest.json, written last, lists every file
with its size and SHA-256):

    secrets.env                   the secrets file: DB passwords, the hub's crypt key, ...
    postgres/globals.sql          pg_dumpall --globals-only (the roles and their passwords)
    postgres/<database>.dump      pg_dump --format=custom of each database (keycloak, jupyterhub)
    fruits/fruits.sqlite          the fruit API's SQLite database (sqlite3's backup API)
    homes/<volume>.tar            each user's home volume (tar, numeric owners)
    manifest.json

Each dump is taken inside the stack's own containers: pg_dump in the postgres service (one
snapshot per database), the SQLite copy in a one-off container of the fruit-api service, the
tars in one-off containers of the hub's image with the volume mounted read-only and no network.
A restore checks the manifest and every checksum before it changes anything, refuses to
replace existing data without ``force``, then stops the stack, recreates the volumes from the
backup, puts the secrets file back and starts the stack. docs/compose.md#backups says what is
consistent with what.

`compose-runtime backup|restore` calls this for `make up`'s stack; ``python -m
compose_runtime.backup`` takes any stack's `docker compose` command (the Ansible playbook
playbooks/backup.yml runs it on a server).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from compose_runtime.engine import (
    Compose,
    DockerError,
    Project,
    check_engine,
    docker,
    failure,
    image_id,
    remove_user_containers,
    run,
    user_volume_name,
    user_volume_names,
    volume_exists,
    volume_names,
)
from compose_runtime.manifest import (
    MANIFEST,
    BackupError,
    Manifest,
    Recorder,
    human,
    private_file,
    private_folder,
    verify,
)
from stackconf import secrets as secrets_file
from stackconf import settings as conf

#: datetime.UTC is Python 3.11+; the playbook runs this module with a host's Python (3.10 on
#: Ubuntu 22.04).
_UTC = timezone.utc  # noqa: UP017

#: The compose services whose data a backup holds, and the hub (its image makes the tars; its
#: environment names the user volumes and the user containers' label).
POSTGRES, FRUITS, HUB = "postgres", "fruit-api", "hub"
#: Seconds a restore waits for the new Postgres to finish its first start (init scripts).
POSTGRES_READY_SECONDS = 120

# --- The commands (compose arguments, or docker argv), built here and unit-tested -------------

#: In the postgres service, as its OS user: the server's own tools and the image's variables.
_PG = ("exec", "-T", "--user", "postgres", POSTGRES, "sh", "-c")

PG_GLOBALS = [*_PG, 'exec pg_dumpall --globals-only --no-password --username="$POSTGRES_USER"']
PG_DATABASES = [
    *_PG,
    'exec psql -AtX --no-password --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" -c '
    '"SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate '
    'AND datname <> current_database() ORDER BY 1"',
]
#: The final server listens on TCP; the entrypoint's temporary one (init scripts) does not.
PG_READY = [*_PG, 'exec pg_isready --quiet --host=127.0.0.1 --username="$POSTGRES_USER"']
PG_RESTORE_GLOBALS = [
    *_PG,
    'exec psql -X -q -v ON_ERROR_STOP=1 --no-password --username="$POSTGRES_USER" '
    '--dbname="$POSTGRES_DB"',
]
#: Drops the database the init script made and creates it as the dump says (owner, encoding).
PG_RESTORE = [
    *_PG,
    "exec pg_restore --clean --if-exists --create --exit-on-error --no-password "
    '--username="$POSTGRES_USER" --dbname="$POSTGRES_DB"',
]


def pg_dump(database: str) -> list[str]:
    return [
        *_PG,
        'exec pg_dump --format=custom --no-password --username="$POSTGRES_USER" --dbname="$1"',
        "pg_dump",
        database,
    ]


# In a one-off container of the fruit-api service (its image, user, volume and environment):
# the database's path is the image's FRUIT_API_DATABASE_URL.
_SQLITE_PATH = """
import os, sqlite3, sys, tempfile
url = os.environ["FRUIT_API_DATABASE_URL"]
if not url.startswith("sqlite:///"):
    sys.exit(f"FRUIT_API_DATABASE_URL is not a SQLite file: {url}")
path = url.removeprefix("sqlite:///")
def check(db):
    result = db.execute("PRAGMA integrity_check").fetchone()[0]
    if result != "ok":
        sys.exit(f"integrity_check: {result}")
"""
SQLITE_BACKUP = (
    _SQLITE_PATH
    + """
if not os.path.exists(path):
    sys.exit(f"{path} does not exist: the fruit API has not started yet")
with tempfile.TemporaryDirectory() as tmp:
    copy = os.path.join(tmp, "copy.sqlite")
    source, target = sqlite3.connect(path), sqlite3.connect(copy)
    source.backup(target)  # a consistent copy, even while the API writes
    check(target)
    source.close(); target.close()
    with open(copy, "rb") as f:
        while chunk := f.read(1 << 20):
            sys.stdout.buffer.write(chunk)
"""
)
SQLITE_RESTORE = (
    _SQLITE_PATH
    + """
partial = path + ".restoring"
with open(partial, "wb") as f:
    while chunk := sys.stdin.buffer.read(1 << 20):
        f.write(chunk)
db = sqlite3.connect(partial); check(db); db.close()
for leftover in (path + "-journal", path + "-wal", path + "-shm"):
    if os.path.exists(leftover):
        os.remove(leftover)
os.replace(partial, path)
"""
)
_FRUITS_RUN = ("run", "--rm", "--no-deps", "-T", "--entrypoint", "python", FRUITS, "-c")
FRUITS_BACKUP = [*_FRUITS_RUN, SQLITE_BACKUP]
FRUITS_RESTORE = [*_FRUITS_RUN, SQLITE_RESTORE]

#: One-off containers for the user volumes: no network, the image's file system read-only, root
#: with only the capabilities tar needs. The archive is a file of the backup (made 0600 by
#: whoever runs the backup) bind-mounted into the container: streaming it through `docker run`
#: would cost ten times as long.
_ONE_OFF = [
    "run", "--rm", "--network", "none", "--user", "0:0", "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges", "--read-only",
]  # fmt: skip
_VOLUME_AT, _ARCHIVE_AT = "/volume", "/backup.tar"


def _bind(archive: Path, readonly: bool) -> str:
    if "," in str(archive) or '"' in str(archive):
        raise BackupError(f"{archive}: a backup's path may not contain a comma or a quote.")
    return f"type=bind,source={archive},target={_ARCHIVE_AT}" + (",readonly" if readonly else "")


def tar_create(image: str, volume: str, archive: Path) -> list[str]:
    """tar of the volume (mounted read-only) into ``archive``, an existing file: root may
    read every file of the volume and write that file of the backup (DAC_OVERRIDE)."""
    return [
        docker(), *_ONE_OFF, "--cap-add", "DAC_OVERRIDE",
        "--mount", f"type=volume,source={volume},target={_VOLUME_AT},readonly",
        "--mount", _bind(archive, readonly=False),
        "--entrypoint", "tar", image,
        "--create", f"--file={_ARCHIVE_AT}", "--numeric-owner", f"--directory={_VOLUME_AT}", ".",
    ]  # fmt: skip


def tar_extract(image: str, volume: str, archive: Path) -> list[str]:
    """``archive`` (mounted read-only) into the new, empty volume, with the archive's owners
    and modes (CHOWN, FOWNER, FSETID; DAC_OVERRIDE: reading the backup's file)."""
    return [
        docker(), *_ONE_OFF,
        "--cap-add", "CHOWN", "--cap-add", "DAC_OVERRIDE", "--cap-add", "FOWNER",
        "--cap-add", "FSETID",
        "--mount", f"type=volume,source={volume},target={_VOLUME_AT},volume-nocopy",
        "--mount", _bind(archive, readonly=True),
        "--entrypoint", "tar", image,
        "--extract", f"--file={_ARCHIVE_AT}", "--numeric-owner", "--same-owner",
        "--same-permissions", f"--directory={_VOLUME_AT}",
    ]  # fmt: skip


_CREATE_ROLE = re.compile(r'^CREATE ROLE ((?:"(?:[^"]|"")+")|(?:[A-Za-z_][A-Za-z0-9_$]*));$', re.M)


def idempotent_roles(sql: str) -> str:
    """pg_dumpall's roles, applicable to a server that has some of them already (the entrypoint
    made the superuser, the init script the databases' owners): each ``CREATE ROLE`` is skipped
    when the role exists; the ``ALTER ROLE`` after it then sets its attributes and password as
    they were."""
    return _CREATE_ROLE.sub(
        lambda m: (
            f"DO $do$ BEGIN CREATE ROLE {m.group(1)}; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $do$;"
        ),
        sql,
    )


def what_would_be_lost(
    data_volumes: Iterable[str], user_volumes: Iterable[str], secrets_differ: bool
) -> list[str]:
    """What a restore would replace, for the refusal without ``force`` (empty: nothing)."""
    lost = [f"volume {name}" for name in data_volumes]
    users = sorted(user_volumes)
    if users:
        lost.append(f"{len(users)} user home volume(s) ({', '.join(users)})")
    if secrets_differ:
        lost.append("the current secrets file (other passwords and keys)")
    return lost


# --- Running them ------------------------------------------------------------------------------


def stream(argv: list[str], env: dict[str, str] | None = None) -> Iterator[bytes]:
    """The command's stdout in chunks; DockerError when it fails."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, env=env)
        assert process.stdout is not None
        try:
            while chunk := process.stdout.read(1 << 20):
                yield chunk
        finally:  # also when the reader stops early: the command ends (SIGPIPE), never lingers
            process.stdout.close()
            returncode = process.wait()
        errors.seek(0)
        message = errors.read()
        if returncode != 0:
            raise failure(argv, returncode, message)


def run_tolerating(argv: list[str], ok: Iterable[int]) -> None:
    """Run a command; DockerError unless its exit status is in ``ok`` (a warning if not 0)."""
    result = subprocess.run(argv, capture_output=True, check=False)
    if result.returncode not in tuple(ok):
        raise failure(argv, result.returncode, result.stderr)
    if result.returncode != 0 and result.stderr.strip():
        print(f"  warning: {result.stderr.decode(errors='replace').strip().splitlines()[-1]}")


def feed(argv: list[str], data: bytes | Path, env: dict[str, str] | None = None) -> None:
    """Run the command with ``data`` (or the file's contents) on stdin; DockerError if it fails."""
    if isinstance(data, Path):
        with data.open("rb") as f:
            run(argv, stdin=f, env=env)
    else:
        run(argv, input=data, env=env)


def _env(compose: Compose) -> dict[str, str]:
    return dict(compose.env)


def databases(compose: Compose) -> list[str]:
    return compose.run(*PG_DATABASES, text=True).stdout.split()


def _now() -> str:
    return datetime.now(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_folder() -> Path:
    """A new folder under BACKUP_DIR, named by the time (UTC)."""
    base = conf.get_path("BACKUP_DIR")
    if not base.exists():  # made private; an existing folder's mode is the admin's
        base.mkdir(mode=0o700, parents=True)
    return base / datetime.now(_UTC).strftime("%Y%m%dT%H%M%SZ")


def _images(project: Project) -> dict[str, str | None]:
    return {service: image_id(image) for service, image in sorted(project.images.items())}


def _require_built(
    project: Project, images: dict[str, str | None], services: Iterable[str]
) -> None:
    for service in services:
        if images.get(service) is None:
            raise BackupError(
                f"the stack is not built: image {project.image(service)} is missing. Build it "
                "first (`make up`; on a server: the playbook site.yml), then try again."
            )


def backup(
    compose: Compose, secrets: Path, folder: Path, log: Callable[[str], None] = print
) -> Manifest:
    """Back up the running stack into ``folder`` (new, or empty); its manifest."""
    started = time.monotonic()
    if not secrets.is_file():
        raise BackupError(f"{secrets} is missing: nothing to back up (start the stack: `make up`).")
    check_engine()
    project = compose.project()
    images = _images(project)
    _require_built(project, images, [HUB, FRUITS])
    if POSTGRES not in compose.running_services():
        raise BackupError(
            f"the stack is not running (no {POSTGRES} container of project {project.name}): start "
            "it with `make up`, then back up (the dumps are taken from the running database)."
        )
    template = project.setting(HUB, "USER_VOLUME_NAME")
    env = _env(compose)
    private_folder(folder)
    record = Recorder(folder)
    try:
        log(f"Backing up project {project.name} into {folder}")
        record.write("secrets.env", "secrets", str(secrets), iter([secrets.read_bytes()]))
        log("  postgres: roles")
        globals_ = stream(compose.command(*PG_GLOBALS), env)
        record.write("postgres/globals.sql", "postgres-globals", project.volume(POSTGRES), globals_)
        for database in databases(compose):
            log(f"  postgres: database {database}")
            dump = stream(compose.command(*pg_dump(database)), env)
            record.write(f"postgres/{database}.dump", "postgres-database", database, dump)
        log("  fruit API: SQLite database")
        copy = stream(compose.command(*FRUITS_BACKUP), env)
        record.write("fruits/fruits.sqlite", "sqlite", project.volume(FRUITS), copy)
        for user, volume in user_volume_names(volume_names(), template).items():
            log(f"  home of {user}: volume {volume}")
            archive = f"homes/{volume}.tar"
            with private_file(folder / archive):
                pass  # made here, 0600 and ours; tar in the container fills it
            # tar exits 1 when a file changed while it was read (a server writing): kept, warned.
            run_tolerating(tar_create(project.image(HUB), volume, folder / archive), ok=(0, 1))
            record.add(archive, "user-home", volume, user=user)
        manifest = Manifest(
            created=_now(),
            project=project.name,
            image_tag=project.image_tag(HUB),
            images={service: i for service, i in images.items() if i},
            seconds=round(time.monotonic() - started, 1),
        )
        record.finish(manifest)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # half a backup (with secrets) helps no one
        raise
    return manifest


def _write_secrets(source: Path, target: Path) -> None:
    """Put the backup's secrets file in place (mode 0600, its folder 0700), atomically."""
    secrets_file.private_dir(target.parent)
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".secrets-restoring-")
    with os.fdopen(fd, "wb") as f:
        f.write(source.read_bytes())
    os.chmod(partial, 0o600)
    os.replace(partial, target)


def _wait_for_postgres(compose: Compose) -> None:
    deadline = time.monotonic() + POSTGRES_READY_SECONDS
    while True:
        ready = subprocess.run(compose.command(*PG_READY), env=_env(compose), capture_output=True)
        if ready.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise BackupError(
                f"Postgres did not finish its first start within {POSTGRES_READY_SECONDS} s: see "
                "`make logs`."
            )
        time.sleep(1)


def _replace(
    compose: Compose,
    project: Project,
    manifest: Manifest,
    folder: Path,
    secrets: Path,
    data_volumes: list[str],
    homes: dict[str, str],
    label: str,
    log: Callable[[str], None],
) -> None:
    """The destructive part of a restore: the stack's data replaced by the backup's."""
    env = _env(compose)
    template = project.setting(HUB, "USER_VOLUME_NAME")
    backup_secrets = folder / manifest.of_kind("secrets")[0].path
    log(f"  stopping the stack, removing {len(data_volumes) + len(homes)} volume(s)")
    remove_user_containers(label)
    # Only the volumes the backup replaces: others stay (a server's ACME certificates would be
    # asked for again, against the CA's rate limits; the hub rewrites Traefik's routes anyway).
    compose.run("down", "--remove-orphans")
    if data_volumes or homes:
        run([docker(), "volume", "rm", *data_volumes, *homes.values()])
    _write_secrets(backup_secrets, secrets)
    log("  postgres: a new database volume, roles, databases")
    compose.run("up", "--detach", "--wait", POSTGRES)
    _wait_for_postgres(compose)
    for entry in manifest.of_kind("postgres-globals"):
        roles = idempotent_roles((folder / entry.path).read_text())
        feed(compose.command(*PG_RESTORE_GLOBALS), roles.encode(), env)
    for entry in manifest.of_kind("postgres-database"):
        log(f"  postgres: database {entry.source}")
        feed(compose.command(*PG_RESTORE), folder / entry.path, env)
    for entry in manifest.of_kind("sqlite"):
        log("  fruit API: SQLite database")
        feed(compose.command(*FRUITS_RESTORE), folder / entry.path, env)
    for entry in manifest.of_kind("user-home"):
        volume = user_volume_name(template, entry.user)
        log(f"  home of {entry.user}: volume {volume}")
        run([docker(), "volume", "create", volume])
        try:
            run(tar_extract(project.image(HUB), volume, folder / entry.path))
        except DockerError:
            # Not an empty volume left behind: the user's next server would get it as its
            # home, root's and unwritable, instead of a new one made from the image.
            subprocess.run([docker(), "volume", "rm", volume], capture_output=True, check=False)
            raise


def restore(
    compose: Compose,
    secrets: Path,
    folder: Path,
    *,
    force: bool,
    start: Callable[[], int],
    log: Callable[[str], None] = print,
) -> int:
    """Replace the stack's data with the backup in ``folder``, then start the stack (``start``,
    whose exit status is returned)."""
    started = time.monotonic()
    manifest = verify(folder)  # before anything else: a damaged backup changes nothing
    log(f"{folder}: {len(manifest.entries)} files, {human(manifest.size)}, checksums verified")
    check_engine()
    project = compose.project()
    images = _images(project)
    _require_built(project, images, [HUB, FRUITS])
    changed = sorted(s for s, i in manifest.images.items() if images.get(s) not in (None, i))
    if changed:
        log(
            f"  note: the images of {', '.join(changed)} differ from the backup's (tag "
            f"{manifest.image_tag}); their programs migrate the restored databases when needed."
        )
    template = project.setting(HUB, "USER_VOLUME_NAME")
    label = project.setting(HUB, "DOCKER_API_STACK_LABEL")
    data_volumes = [
        v for v in (project.volume(POSTGRES), project.volume(FRUITS)) if volume_exists(v)
    ]
    homes = user_volume_names(volume_names(), template)
    backup_secrets = folder / manifest.of_kind("secrets")[0].path
    differ = secrets.exists() and secrets.read_bytes() != backup_secrets.read_bytes()
    lost = what_would_be_lost(data_volumes, homes.values(), differ)
    if lost and not force:
        raise BackupError(
            "restoring would replace existing data: "
            + "; ".join(lost)
            + ". Back it up first (`make backup`) if you need it, then restore with --force "
            "(make restore BACKUP=... FORCE=yes)."
        )
    log(f"Restoring {folder} (made {manifest.created}) into project {project.name}")
    try:
        _replace(compose, project, manifest, folder, secrets, data_volumes, homes, label, log)
    except (BackupError, DockerError) as error:
        raise type(error)(
            f"{error} The restore stopped half-way and the stack is down: fix the cause, then "
            "restore again with --force (the backup is unchanged)."
        ) from None
    restored = time.monotonic() - started
    log(f"  data restored in {restored:.0f} s; starting the stack")
    status = start()
    log(
        f"Restored {folder} in {time.monotonic() - started:.0f} s (data {restored:.0f} s, "
        "then the stack's start)."
        if status == 0
        else "The data is restored but the stack did not start: see above, then `make up`."
    )
    return status


# --- Command line for any stack (a server): python -m compose_runtime.backup -------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m compose_runtime.backup backup|restore|verify ... -- docker compose ...``: the
    same backup for a stack `make up` did not start (the Ansible deployment), given its
    `docker compose` command (project, files, env files) after ``--``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    compose_argv: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, compose_argv = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m compose_runtime.backup", description=main.__doc__
    )
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("backup", help="back up the running stack")
    make.add_argument("--to", type=Path, required=True, help="a new (or empty) folder")
    make.add_argument("--secrets-file", type=Path, required=True)
    put = commands.add_parser("restore", help="replace the stack's data with a backup")
    put.add_argument("folder", type=Path)
    put.add_argument("--secrets-file", type=Path, required=True)
    put.add_argument("--force", action="store_true", help="replace existing data")
    check = commands.add_parser("verify", help="check a backup's manifest and checksums")
    check.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "verify":
            manifest = verify(args.folder)
            print(f"{args.folder}: whole ({len(manifest.entries)} files, {human(manifest.size)})")
            return 0
        if not compose_argv:
            parser.error("give the stack's `docker compose ...` command after --")
        compose = Compose(tuple(compose_argv))
        if args.command == "backup":
            report(backup(compose, args.secrets_file, args.to), args.to)
            return 0
        return restore(
            compose,
            args.secrets_file,
            args.folder,
            force=args.force,
            start=lambda: compose.call("up", "--detach", "--wait"),
        )
    except (BackupError, DockerError, conf.SettingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def report(manifest: Manifest, folder: Path) -> None:
    homes = len(manifest.of_kind("user-home"))
    print(
        f"Backed up in {manifest.seconds:.0f} s: {human(manifest.size)} in {folder} "
        f"({len(manifest.of_kind('postgres-database'))} databases, the fruits, {homes} user "
        f"home(s), the secrets file; {MANIFEST} lists them). It holds secrets: keep it private."
    )


if __name__ == "__main__":
    sys.exit(main())
