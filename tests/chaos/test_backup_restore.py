"""`make backup`, the volumes destroyed, `make restore`: everything is back (issue 10).

Only a backup can bring back what this test makes: a Keycloak user created at run time (idp/
does not define it: `make up` would not re-create it), a JupyterHub API token of that user
(only the hub's database holds it), a fruit (only the fruit API's database) and a file in the
demo user reader's home volume. The test backs up while the stack runs, checks that a restore
over live data is refused without FORCE=yes, destroys the volumes (`docker compose down
--volumes` and the reader's home volume), restores, and then logs in as before and finds
each of them. It prints how long the backup and the restore took and the backup's size.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from compose_runtime.engine import Compose, user_volume_name
from stackconf.settings import StackSettings
from tests.compose.conftest import compose_stack  # noqa: F401 (fixture)
from tests.support.keycloak_admin import StackAdmin, new_password
from tests.support.login_flows import create_api_token, hub_login, whoami
from tests.support.servers import container_of, start_server
from tests.support.stack import REPO, Stack
from tests.support.token_exchange import curator_token

HOME_USER = "reader"  # a demo user: its server runs, its home volume gets a file


def make(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(["make", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return done, time.monotonic() - started


def output(done: subprocess.CompletedProcess) -> str:
    return f"{done.stdout[-3000:]}\n{done.stderr[-2000:]}"


def docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


def volume_created(name: str) -> str | None:
    inspect = docker("volume", "inspect", "--format", "{{.CreatedAt}}", name)
    return inspect.stdout.strip() if inspect.returncode == 0 else None


def in_home(user: str, name: str) -> str:
    """A file in the user's home as their running server sees it."""
    read = docker("exec", container_of(user), "cat", f"/home/jovyan/{name}")
    assert read.returncode == 0, f"{name} not in {user}'s home: {read.stderr}"
    return read.stdout


def test_backup_destroy_restore(
    compose_stack: Stack,  # noqa: F811 (fixture)
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    stack = compose_stack
    compose = Compose.of(StackSettings.from_env())
    project = compose.project()
    postgres_volume = project.volume("postgres")
    home_volume = user_volume_name(project.setting("hub", "USER_VOLUME_NAME"), HOME_USER)
    username, password = f"bk{uuid.uuid4().hex[:8]}", new_password()
    user_stack = dataclasses.replace(
        stack, secrets={**stack.secrets, f"DEMO_PASSWORD_{username.upper()}": password}
    )
    fruit = f"quince{uuid.uuid4().hex[:6]}"
    note, content = f"backup-test-{uuid.uuid4().hex[:8]}.txt", secrets.token_hex(16)
    api = f"{stack.public_url}/fruit-api/fruits/exotic"
    backups = tmp_path / "backups"
    admin = StackAdmin(stack)
    admin.create_user("demo", username, password, ["hub-users"])
    try:
        # What only a backup can bring back.
        token = create_api_token(
            user_stack, hub_login(user_stack, username), username, ["read:users!user"], note="bk"
        )
        assert whoami(stack, token).json()["name"] == username
        curator = {"Authorization": f"Bearer {curator_token(stack)}"}
        assert httpx.post(api, json={"name": fruit}, headers=curator).status_code == 201
        start_server(stack, HOME_USER)
        home_file = stack.user_file(HOME_USER, note)
        home_file.write_text(content)
        os.chown(home_file, 1000, 1000)  # the server's user (jovyan), as if it wrote the file
        assert in_home(HOME_USER, note) == content

        # Back up, while everything runs.
        done, backup_seconds = make("backup", f"BACKUP_DIR={backups}")
        assert done.returncode == 0, f"make backup:\n{output(done)}"
        (folder,) = backups.iterdir()
        manifest = json.loads((folder / "manifest.json").read_text())
        files = {entry["path"]: entry for entry in manifest["entries"]}
        for part in (
            "secrets.env",
            "postgres/globals.sql",
            "postgres/keycloak.dump",
            "postgres/jupyterhub.dump",
            "fruits/fruits.sqlite",
            f"homes/{home_volume}.tar",
        ):
            assert part in files, f"{part} missing from the backup: {sorted(files)}"
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        modes = {stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*") if p.is_file()}
        assert modes == {0o600}
        size = sum(entry["size"] for entry in files.values())

        # Over the live data, a restore without FORCE=yes is refused and changes nothing.
        refused, _ = make("restore", f"BACKUP={folder}")
        assert refused.returncode != 0, f"make restore without FORCE:\n{output(refused)}"
        assert "restoring would replace existing data" in refused.stderr
        assert "FORCE=yes" in refused.stderr
        assert whoami(stack, token).status_code == 200

        # Destroy: the stack's volumes and the reader's home.
        created = volume_created(postgres_volume)
        docker("rm", "--force", container_of(HOME_USER))
        assert compose.call("down", "--volumes") == 0
        gone = docker("volume", "rm", home_volume)
        assert gone.returncode == 0, gone.stderr
        assert volume_created(postgres_volume) is None and volume_created(home_volume) is None

        # Restore.
        done, restore_seconds = make("restore", f"BACKUP={folder}", "FORCE=yes")
        assert done.returncode == 0, f"make restore:\n{output(done)}"
        assert volume_created(postgres_volume) not in (None, created)  # a new volume

        assert whoami(stack, "not-a-token").status_code == 403  # the check can fail
        # The token made before answers for its user: the hub's database is back. Asked first,
        # before any new login could touch the hub's state.
        me = whoami(stack, token)
        assert me.status_code == 200, me.text
        assert me.json()["name"] == username
        # The run-time user logs in as before: Keycloak's database is back.
        hub_login(user_stack, username)
        # The fruit is listed: the fruit API's database is back.
        curator = {"Authorization": f"Bearer {curator_token(stack)}"}
        assert fruit in httpx.get(api, headers=curator).json()["fruits"]
        # The reader's file is in the home volume, and in the server the reader starts.
        assert stack.user_file(HOME_USER, note).read_text() == content
        start_server(stack, HOME_USER)
        assert in_home(HOME_USER, note) == content
        data = re.search(r"\(data (\d+) s, then the stack's start\)", done.stdout)
        with capsys.disabled():
            print(
                f"\nbackup/restore: backup {backup_seconds:.1f} s, {size / 1e6:.1f} MB "
                f"({len(files)} files); restore {restore_seconds:.1f} s (the data "
                f"{data.group(1) if data else '?'} s, then the stack's start)"
            )
    finally:
        _clean_up(stack, username, fruit, note, backups)


def _clean_up(stack: Stack, username: str, fruit: str, note: str, backups: Path) -> None:
    """What the test made; and a running stack for the next tests, whatever happened."""
    shutil.rmtree(backups, ignore_errors=True)  # it holds the secrets file
    try:
        httpx.get(f"{stack.public_url}/hub/health", timeout=5).raise_for_status()
    except httpx.HTTPError:
        done, _ = make("up", "RUNTIME=compose")
        assert done.returncode == 0, f"make up after a failed restore:\n{output(done)}"
    curator = {"Authorization": f"Bearer {curator_token(stack)}"}
    httpx.delete(f"{stack.public_url}/fruit-api/fruits/exotic/{fruit}", headers=curator)
    admin = StackAdmin(stack)
    for user_id in admin.user_ids("demo", username):
        admin.delete_user("demo", user_id)
    admin.close()
    admin = hub_login(stack, "hubadmin")
    admin.request(
        "DELETE",
        f"{stack.public_url}/hub/api/users/{username}",
        headers={"X-XSRFToken": admin.cookies["_xsrf"]},
    )
    try:
        stack.user_file(HOME_USER, note).unlink(missing_ok=True)
    except subprocess.CalledProcessError:
        pass  # no home volume: nothing to remove
