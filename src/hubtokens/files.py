"""Token files: which ones a server keeps, where, and how one is written.

For tools that read a token from a file and re-read it (a web-identity token file, kubectl's
token file, a database driver's password file): the user's server writes each token file
named by the admin (``token_files:`` of an API in idp/apis.yml, which the broker's listing
returns) or by the user (``~/.config/hubtokens/files.toml``), at
``$XDG_RUNTIME_DIR/hubtokens/<name>``, and rewrites it before the token expires
(:mod:`userserver.tokenfiles`). This module is the part both the server and the
``hubtokens files`` command need: the configuration, the directory, the atomic write.

The user's file, one table per token file (its name), e.g.::

    [fruit-writer]
    audience = "fruit-api"
    scopes = ["fruits:read", "fruits:write"]

A user's entry replaces the admin's of the same name.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokencontract.files import FILE_NAME

#: Filesystems that live in memory only: a token file is never written anywhere else.
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
#: Where the admin's entries come from (shown by ``hubtokens files``).
ADMIN_SOURCE = "idp/apis.yml"
USER_KEYS = {"audience", "scopes"}


class TokenFilesError(ValueError):
    """A token-file setting or directory that cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class TokenFile:
    """One token file: its name in the directory, the token it holds, who asked for it."""

    name: str
    audience: str
    scopes: tuple[str, ...]
    source: str

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)


def admin_files(listing: Mapping[str, Any]) -> list[TokenFile]:
    """The admin's token files, from the broker's listing (``TokenClient.available()``)."""
    files = []
    for audience, api in (listing.get("audiences") or {}).items():
        for name, scopes in ((api or {}).get("token_files") or {}).items():
            files.append(TokenFile(str(name), str(audience), tuple(scopes), ADMIN_SOURCE))
    return files


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """The user's hubtokens folder: ``$XDG_CONFIG_HOME/hubtokens`` (``~/.config`` by default)."""
    env = os.environ if env is None else env
    config_home = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or "~") / ".config")
    return Path(config_home).expanduser() / "hubtokens"


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    """The user's token files: ``files.toml`` in :func:`config_dir`."""
    return config_dir(env) / "files.toml"


def user_files(path: Path) -> list[TokenFile]:
    """The user's token files from ``path`` (none when it does not exist).

    Raises :class:`TokenFilesError` naming the file, the entry and the fix.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise TokenFilesError(f"{path}: not a readable TOML file ({e}).") from None
    files = []
    for name, entry in data.items():
        where = f"{path}, [{name}]"
        if not FILE_NAME.fullmatch(name):
            raise TokenFilesError(
                f"{where}: a token file's name may use letters, digits, . _ - only."
            )
        if not isinstance(entry, dict):
            raise TokenFilesError(f'{where}: expected a table, e.g. audience = "fruit-api".')
        unknown = sorted(set(entry) - USER_KEYS)
        if unknown:
            raise TokenFilesError(f"{where}: unknown key {unknown[0]!r} (known: audience, scopes).")
        audience, scopes = entry.get("audience"), entry.get("scopes", [])
        if not isinstance(audience, str) or not audience.strip():
            raise TokenFilesError(f'{where}: audience is required, e.g. audience = "fruit-api".')
        if not isinstance(scopes, list) or not all(isinstance(s, str) and s for s in scopes):
            raise TokenFilesError(
                f'{where}: scopes must be a list of scope names, e.g. scopes = ["fruits:read"].'
            )
        files.append(TokenFile(name, audience.strip(), tuple(scopes), str(path)))
    return files


def merged(admin: list[TokenFile], user: list[TokenFile]) -> list[TokenFile]:
    """The admin's files, each replaced by the user's of the same name; then the user's own."""
    by_name = {f.name: f for f in admin}
    by_name.update({f.name: f for f in user})
    return sorted(by_name.values(), key=lambda f: f.name)


def files_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_RUNTIME_DIR/hubtokens``; raises :class:`TokenFilesError` without the variable."""
    env = os.environ if env is None else env
    runtime = env.get("XDG_RUNTIME_DIR", "").strip()
    if not runtime:
        raise TokenFilesError(
            "XDG_RUNTIME_DIR is not set: token files are written only in a per-user directory "
            "in memory (a tmpfs), which the hub gives each server. Ask your hub admin."
        )
    return Path(runtime) / "hubtokens"


def filesystem_of(path: Path, mountinfo: str | None = None) -> str:
    """The type of the filesystem ``path`` is on (Linux: the longest mount point above it in
    /proc/self/mountinfo); "" when unknown."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return ""
    target = os.path.realpath(path)
    best, kind = "", ""
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        mount_point = fields[4].replace("\\040", " ")
        after = line.split(" - ", 1)[1].split()
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if after and inside and len(mount_point) >= len(best):
            best, kind = mount_point, after[0]
    return kind


def ensure_dir(directory: Path) -> Path:
    """Create ``directory`` (mode 0700) and check that it is in memory; returns it.

    Raises :class:`TokenFilesError` when it is on a disk: a token must never reach one.
    """
    kind = filesystem_of(directory.parent)
    if kind not in MEMORY_FILESYSTEMS:
        raise TokenFilesError(
            f"{directory.parent} is on {kind or 'an unknown filesystem'}, not a tmpfs: token "
            "files are never written to disk. Ask your hub admin (the hub mounts a tmpfs at "
            "XDG_RUNTIME_DIR in each server)."
        )
    directory.mkdir(mode=0o700, exist_ok=True)
    directory.chmod(0o700)
    return directory


def write_atomically(directory: Path, name: str, value: str) -> Path:
    """Write ``value`` to ``directory/name``, mode 0600: readers see the old file or the new
    one, never a part (a temporary file in the same directory, then a rename)."""
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(value)
        os.replace(temporary, directory / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return directory / name
