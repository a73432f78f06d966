"""hubtokens.files: the token files' configuration (the admin's listing, the user's TOML), the
in-memory check, the atomic write."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from hubtokens.files import (
    ADMIN_SOURCE,
    TokenFile,
    TokenFilesError,
    admin_files,
    ensure_dir,
    files_dir,
    filesystem_of,
    merged,
    user_config_path,
    user_files,
    write_atomically,
)

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:26 / /run rw,nosuid - tmpfs tmpfs rw,size=100k
31 30 0:27 / /run/user/1000 rw,nosuid,nodev - tmpfs tmpfs rw,size=1024k,mode=700
32 22 0:28 / /home/jovyan rw - ext4 /dev/sdb1 rw
33 22 0:29 / /with\\040space rw - tmpfs tmpfs rw
"""


def test_admin_files_come_from_the_listing():
    listing = {
        "audiences": {
            "fruit-api": {"scopes": {}, "token_files": {"fruit-api": ["fruits:read"]}},
            "research-api": {"scopes": {}},
        }
    }
    assert admin_files(listing) == [
        TokenFile("fruit-api", "fruit-api", ("fruits:read",), ADMIN_SOURCE)
    ]
    assert admin_files({}) == []


def test_user_files_parse_and_replace_the_admins(tmp_path):
    config = tmp_path / "files.toml"
    config.write_text(
        '[fruit-api]\naudience = "fruit-api"\nscopes = ["fruits:read", "fruits:exotic"]\n\n'
        '[samples]\naudience = "research-api"\n'
    )
    user = user_files(config)
    assert user == [
        TokenFile("fruit-api", "fruit-api", ("fruits:read", "fruits:exotic"), str(config)),
        TokenFile("samples", "research-api", (), str(config)),
    ]
    admin = [TokenFile("fruit-api", "fruit-api", ("fruits:read",), ADMIN_SOURCE)]
    assert [f.scopes for f in merged(admin, user)] == [("fruits:read", "fruits:exotic"), ()]


def test_no_user_file_is_no_user_entries(tmp_path):
    assert user_files(tmp_path / "absent.toml") == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[fruit-api\n", "not a readable TOML file"),
        ('[".hidden"]\naudience = "fruit-api"\n', "letters, digits, . _ - only"),
        ('["../x"]\naudience = "fruit-api"\n', "letters, digits, . _ - only"),
        ('fruit-api = "fruits:read"\n', "expected a table"),
        ("[fruit-api]\nscopes = []\n", "audience is required"),
        ('[fruit-api]\naudience = "fruit-api"\nscopes = "fruits:read"\n', "scopes must be a list"),
        ('[fruit-api]\naudience = "fruit-api"\nscope = ["x"]\n', "unknown key 'scope'"),
    ],
)
def test_a_wrong_user_file_names_the_file_the_entry_and_the_fix(tmp_path, text, says):
    config = tmp_path / "files.toml"
    config.write_text(text)
    with pytest.raises(TokenFilesError) as error:
        user_files(config)
    assert str(config) in str(error.value) and says in str(error.value)


def test_paths_follow_xdg():
    assert files_dir({"XDG_RUNTIME_DIR": "/run/user/1000"}) == Path("/run/user/1000/hubtokens")
    with pytest.raises(TokenFilesError, match="XDG_RUNTIME_DIR is not set"):
        files_dir({})
    assert user_config_path({"HOME": "/home/ann"}) == Path("/home/ann/.config/hubtokens/files.toml")
    assert user_config_path({"XDG_CONFIG_HOME": "/c"}) == Path("/c/hubtokens/files.toml")


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/run/user/1000/hubtokens", "tmpfs"),
        ("/run/user/1000", "tmpfs"),
        ("/run/user/10000", "tmpfs"),  # /run's, not /run/user/1000's
        ("/home/jovyan/.tokens", "ext4"),
        ("/tmp", "ext4"),
        ("/with space/x", "tmpfs"),
    ],
)
def test_filesystem_of_takes_the_longest_mount_point(path, kind):
    assert filesystem_of(Path(path), MOUNTINFO) == kind


def test_ensure_dir_refuses_a_disk(tmp_path, monkeypatch):
    monkeypatch.setattr("hubtokens.files.filesystem_of", lambda path: "ext4")
    with pytest.raises(TokenFilesError, match="is on ext4, not a tmpfs"):
        ensure_dir(tmp_path / "hubtokens")
    assert not (tmp_path / "hubtokens").exists()


def test_ensure_dir_makes_a_private_directory_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr("hubtokens.files.filesystem_of", lambda path: "tmpfs")
    directory = ensure_dir(tmp_path / "hubtokens")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_write_atomically_mode_0600_and_readers_never_see_a_part(tmp_path):
    old, new = "a" * 200_000, "b" * 200_000
    write_atomically(tmp_path, "fruit-api", old)
    seen: set[str] = set()
    stop = threading.Event()

    def read():
        while not stop.is_set():
            seen.add((tmp_path / "fruit-api").read_text())

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(50):
        write_atomically(tmp_path, "fruit-api", new)
        write_atomically(tmp_path, "fruit-api", old)
    stop.set()
    reader.join()
    assert seen <= {old, new}
    assert stat.S_IMODE(os.stat(tmp_path / "fruit-api").st_mode) == 0o600
    assert os.listdir(tmp_path) == ["fruit-api"]  # no temporary file left
